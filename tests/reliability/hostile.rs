//! No input panics: a property test drives the `Retriever` API with arbitrary strings, ids, token
//! ids, k, filters, metadata and index bytes (valid exports, flipped, truncated, random) and
//! requires every call to return (Ok or a typed error), with the retriever usable afterwards.
//! Runs on a tiny BERT export fixture (fast) with the default bundle's tokenizer; PROPTEST_CASES
//! scales it (the executions per run are printed).

use crate::common::tiny_retriever;
use colbert_wasm::retriever::{MetadataFilter, NewDocument};
use colbert_wasm::Retriever;
use proptest::prelude::*;

/// Text with the characters that break naive code: multi-byte, combining, controls, surrogates'
/// replacements, long runs, blank.
fn hostile_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[ \\t\\n\\r]{0,8}",
        "(\\PC|[\\u{0}-\\u{1f}]|\u{301}|\u{fe0f}|\u{200d}|👨‍👩‍👧|東京|[.,!?]){0,300}",
        ("[a-z]{1,12}", 1usize..400).prop_map(|(w, n)| format!("{w} ").repeat(n)),
    ]
}

fn hostile_json() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        Just("null".to_owned()),
        Just("[]".to_owned()),
        Just("{\"a\": [1, {\"b\": null}], \"folder\": \"x\"}".to_owned()),
        "\\{\"[a-z]{0,3}\": (\"[a-z]{0,3}\"|[0-9]{1,3}|true|null|\\[\\])\\}",
        Just("{\"deep\": ".repeat(200) + &"}".repeat(200)),
    ]
}

#[derive(Debug, Clone)]
enum Call {
    Add(Vec<(String, String, Option<String>)>),
    Search(String, usize, Option<String>),
    Explain(String, String, Option<usize>),
    EncodeIds(Vec<u32>),
    Remove(String),
    ImportExported(Vec<(usize, u8)>, Option<usize>),
    ImportRandom(Vec<u8>),
}

fn call() -> impl Strategy<Value = Call> {
    let doc = (
        prop_oneof!["[a-z0-9]{0,4}", any::<String>()],
        hostile_text(),
        proptest::option::of(hostile_json()),
    );
    prop_oneof![
        proptest::collection::vec(doc, 0..4).prop_map(Call::Add),
        (
            hostile_text(),
            prop_oneof![0usize..20, Just(usize::MAX), any::<usize>()],
            proptest::option::of(hostile_json())
        )
            .prop_map(|(q, k, f)| Call::Search(q, k, f)),
        (
            hostile_text(),
            hostile_text(),
            proptest::option::of(any::<usize>())
        )
            .prop_map(|(q, t, s)| Call::Explain(q, t, s)),
        proptest::collection::vec(prop_oneof![0u32..30522, any::<u32>()], 0..300)
            .prop_map(Call::EncodeIds),
        prop_oneof!["[a-z0-9]{0,4}", any::<String>()].prop_map(Call::Remove),
        (
            proptest::collection::vec((any::<usize>(), any::<u8>()), 0..4),
            proptest::option::of(any::<usize>())
        )
            .prop_map(|(flips, cut)| Call::ImportExported(flips, cut)),
        proptest::collection::vec(any::<u8>(), 0..200).prop_map(Call::ImportRandom),
    ]
}

fn run(retriever: &mut Retriever, call: &Call) {
    // Each arm may fail with a typed error; none may panic.
    match call {
        Call::Add(docs) => {
            let docs: Vec<NewDocument> = docs
                .iter()
                .map(|(id, text, metadata)| NewDocument {
                    id,
                    text,
                    metadata: metadata.clone(),
                })
                .collect();
            let _ = retriever.add_documents_with(&docs);
        }
        Call::Search(query, k, filter) => {
            let filter = filter.as_deref().map(MetadataFilter::from_json).transpose();
            if let Ok(filter) = filter {
                // Each mode in turn (by the query's length), so the cases cost what they did.
                let mode = ["hybrid", "late", "lexical"][query.len() % 3]
                    .parse()
                    .expect("a mode");
                if let Ok(results) = retriever.search_with(query, *k, filter, mode) {
                    assert!(results.hits.len() <= (*k).min(retriever.len()));
                    assert!(results.hits.iter().all(|h| h.score.is_finite()));
                }
            }
        }
        Call::Explain(query, text, start) => {
            let _ = retriever.explain_words(query, text, *start);
            let _ = retriever.explain(query, text, *start);
        }
        Call::EncodeIds(ids) => {
            let _ = retriever.encode_ids(ids);
        }
        Call::Remove(id) => {
            retriever.remove(id);
        }
        Call::ImportExported(flips, cut) => {
            let mut bytes = retriever.export_index();
            let before = bytes.clone();
            for (at, xor) in flips {
                if !bytes.is_empty() {
                    let i = at % bytes.len();
                    bytes[i] ^= xor;
                }
            }
            if let Some(cut) = cut {
                bytes.truncate(cut % (bytes.len() + 1));
            }
            let (len, result) = (retriever.len(), retriever.import_index(&bytes));
            if result.is_err() {
                assert_eq!(retriever.len(), len, "a refused import keeps the index");
                assert_eq!(retriever.export_index(), before);
            }
        }
        Call::ImportRandom(bytes) => {
            let len = retriever.len();
            if retriever.import_index(bytes).is_err() {
                assert_eq!(retriever.len(), len);
            }
        }
    }
}

// 1000 random sequences in all (PROPTEST_CASES sets each half's count), in two halves on their own
// retrievers so the test harness runs them on two cores.
#[test]
fn no_sequence_of_calls_panics() {
    no_sequence_of_calls_panics_in(500);
}

#[test]
fn no_sequence_of_calls_panics_second_half() {
    no_sequence_of_calls_panics_in(500);
}

fn no_sequence_of_calls_panics_in(default_cases: u32) {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(default_cases);
    let config = ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    let mut runner = proptest::test_runner::TestRunner::new(config);
    let retriever = std::cell::RefCell::new(tiny_retriever());
    let executions = std::cell::Cell::new(0usize);
    let started = std::time::Instant::now();
    runner
        .run(&proptest::collection::vec(call(), 1..12), |calls| {
            let mut r = retriever.borrow_mut();
            for c in &calls {
                run(&mut r, c);
                executions.set(executions.get() + 1);
            }
            // Still usable: a normal add and search work after whatever came before.
            let canary = NewDocument {
                id: "canary",
                text: "the canary note",
                metadata: None,
            };
            r.add_documents_with(&[canary]).unwrap();
            prop_assert!(!r.search("canary", 1).unwrap().hits.is_empty());
            Ok(())
        })
        .unwrap();
    eprintln!(
        "{cases} sequences, {} hostile calls, none panicked ({:.1} s)",
        executions.get(),
        started.elapsed().as_secs_f32()
    );
}
