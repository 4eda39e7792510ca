//! The saved-index format: exact round trips in every precision, and a decoder that turns every
//! altered, truncated or foreign file into an `Index` error (fuzzed with proptest), never a panic.

use colbert_wasm::index::{
    whole_text_passage, DocInfo, PassageTerms, Precision, TokenStore, FORMAT_VERSION,
};
use colbert_wasm::model::sha256_digest;
use colbert_wasm::score::bench::synthetic_vectors;
use colbert_wasm::score::{registry, QueryTokens};
use colbert_wasm::Error;
use proptest::prelude::*;

const MODEL: &str = "model-sha";

fn sample_store(precision: Precision) -> TokenStore {
    let mut seed = 3;
    let mut store = TokenStore::new(precision, 12);
    for (i, n) in [5usize, 0, 1, 17].into_iter().enumerate() {
        let info = DocInfo::new(format!("h{i}"), Some(format!("{{\"n\":{i}}}")));
        let passage = |n: usize, seed: &mut u64| colbert_wasm::index::NewPassage {
            range: 0..n,
            range_utf16: 0..n,
            vectors: synthetic_vectors(n, 12, seed),
            terms: Some(PassageTerms::of(&format!("invoice {n} of note {i}, notes"))),
            // Some passages with a sentence vector, some without: both must round-trip.
            sentence: (n % 2 == 1).then(|| synthetic_vectors(1, 6, seed).data),
        };
        store.upsert_with(
            &format!("doc-{i}"),
            info,
            vec![passage(n, &mut seed), passage(3, &mut seed)],
        );
    }
    store
}

fn is_index_error<T>(result: Result<T, Error>) -> bool {
    matches!(result, Err(Error::Index(_)))
}

#[test]
fn every_precision_round_trips_exactly() {
    let query = QueryTokens::new(&synthetic_vectors(4, 12, &mut 11));
    for precision in Precision::ALL {
        let store = sample_store(precision);
        let back = TokenStore::from_bytes(&store.to_bytes(MODEL), MODEL).unwrap();
        assert_eq!(back.precision(), precision);
        assert_eq!(back.passages(), store.passages());
        assert_eq!(back.tokens(), store.tokens());
        assert_eq!(back.doc_info("doc-3"), store.doc_info("doc-3"));
        assert_eq!(back.lexicon().statistics(), store.lexicon().statistics());
        assert!(back.passages().iter().any(|p| p.sentence.is_some()));
        for (a, b) in back.passages().iter().zip(store.passages()) {
            assert_eq!(back.terms_of(a), store.terms_of(b));
            assert!(back.terms_of(a).is_some());
        }
        let scorer = registry(None)[1];
        assert_eq!(
            scorer.score_all(&query, &back),
            scorer.score_all(&query, &store)
        );
    }
}

#[test]
fn another_model_or_format_version_is_refused_with_a_reason() {
    let bytes = sample_store(Precision::Int8).to_bytes(MODEL);
    match TokenStore::from_bytes(&bytes, "other-model") {
        Err(Error::Index(why)) => assert!(why.contains("re-index"), "{why}"),
        other => panic!("{:?}", other.map(|_| ())),
    }
    // A well-formed file of a future version (valid checksum): refused by version, not as garbage.
    let mut future = bytes[..bytes.len() - 32].to_vec();
    future[4..8].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
    let checksum = sha256_digest(&future);
    future.extend_from_slice(&checksum);
    match TokenStore::from_bytes(&future, MODEL) {
        Err(Error::Index(why)) => assert!(why.contains("version"), "{why}"),
        other => panic!("{:?}", other.map(|_| ())),
    }
}

#[test]
fn a_consistent_checksum_over_inconsistent_counts_is_still_refused() {
    let bytes = sample_store(Precision::F32).to_bytes(MODEL);
    let body = &bytes[..bytes.len() - 32];
    let header_len = u32::from_le_bytes(body[8..12].try_into().unwrap()) as usize;
    let header = String::from_utf8(body[12..12 + header_len].to_vec()).unwrap();
    for (from, to) in [
        ("\"dim\":12", "\"dim\":13"),
        ("\"tokens\":35", "\"tokens\":34"),
        ("\"doc-1\"", "\"doc-0\""),
        ("\"f32\"", "\"int4\""),
    ] {
        assert!(header.contains(from), "{from} in {header}");
        let edited = header.replacen(from, to, 1);
        let mut forged = body[..8].to_vec();
        forged.extend_from_slice(&(edited.len() as u32).to_le_bytes());
        forged.extend_from_slice(edited.as_bytes());
        forged.extend_from_slice(&body[12 + header_len..]);
        let checksum = sha256_digest(&forged);
        forged.extend_from_slice(&checksum);
        assert!(
            is_index_error(TokenStore::from_bytes(&forged, MODEL)),
            "{from} -> {to} accepted"
        );
    }
}

/// `bytes` (a version-2 file) as version 1 wrote it: no words in the header.
fn as_version_1(bytes: &[u8]) -> Vec<u8> {
    let body = &bytes[..bytes.len() - 32];
    let header_len = u32::from_le_bytes(body[8..12].try_into().unwrap()) as usize;
    let mut header: serde_json::Value = serde_json::from_slice(&body[12..12 + header_len]).unwrap();
    for doc in header["docs"].as_array_mut().unwrap() {
        doc.as_object_mut().unwrap().remove("words");
    }
    let header = serde_json::to_vec(&header).unwrap();
    let mut v1 = b"CWIX".to_vec();
    v1.extend_from_slice(&1u32.to_le_bytes());
    v1.extend_from_slice(&(header.len() as u32).to_le_bytes());
    v1.extend_from_slice(&header);
    v1.extend_from_slice(&body[12 + header_len..]);
    let checksum = sha256_digest(&v1);
    v1.extend_from_slice(&checksum);
    v1
}

#[test]
fn a_version_1_file_reads_without_words_and_its_texts_restore_them() {
    let texts = ["the invoice INV-0042 is paid", "sourdough starter feeding"];
    let mut store = TokenStore::new(Precision::Int8, 12);
    for (i, text) in texts.iter().enumerate() {
        let vectors = synthetic_vectors(4, 12, &mut (i as u64 + 1));
        store.upsert(&format!("d{i}"), vec![whole_text_passage(text, vectors)]);
    }
    let mut old = TokenStore::from_bytes(&as_version_1(&store.to_bytes(MODEL)), MODEL).unwrap();
    assert_eq!(
        old.tokens(),
        store.tokens(),
        "the vectors read as they were"
    );
    assert_eq!(old.documents_without_words(), ["d0", "d1"]);
    assert_eq!(old.lexicon().statistics().passages, 0);
    // A version-2 file of it keeps saying which passages have no words.
    let again = TokenStore::from_bytes(&old.to_bytes(MODEL), MODEL).unwrap();
    assert_eq!(again.documents_without_words(), ["d0", "d1"]);
    let ids: Vec<String> = (0..texts.len()).map(|i| format!("d{i}")).collect();
    let by_id = ids
        .iter()
        .map(String::as_str)
        .zip(texts.iter().copied())
        .collect();
    old.set_words_from_texts(&by_id);
    assert!(old.documents_without_words().is_empty());
    assert_eq!(old.lexicon().statistics(), store.lexicon().statistics());
    // A version-1 file whose header claims words is refused, not half-read.
    let mut forged = store.to_bytes(MODEL);
    forged[4..8].copy_from_slice(&1u32.to_le_bytes());
    let n = forged.len() - 32;
    let checksum = sha256_digest(&forged[..n]);
    forged[n..].copy_from_slice(&checksum);
    assert!(is_index_error(TokenStore::from_bytes(&forged, MODEL)));
}

/// Texts from a small vocabulary, so documents share terms and replacements change frequencies.
fn note_text(words: &[u8]) -> String {
    const VOCABULARY: [&str; 8] = [
        "invoice", "paid", "the", "Running", "runs", "bread", "42", "tax",
    ];
    let picked: Vec<&str> = words.iter().map(|w| VOCABULARY[*w as usize % 8]).collect();
    picked.join(" ")
}

proptest! {
    // 3 x 1,000 executions per run of the test command.
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn any_flipped_byte_is_an_index_error(at in any::<prop::sample::Index>(), bit in 0u8..8, p in 0usize..4) {
        let mut bytes = sample_store(Precision::ALL[p]).to_bytes(MODEL);
        let i = at.index(bytes.len());
        bytes[i] ^= 1 << bit;
        prop_assert!(is_index_error(TokenStore::from_bytes(&bytes, MODEL)));
    }

    #[test]
    fn any_truncation_is_an_index_error(at in any::<prop::sample::Index>(), p in 0usize..4) {
        let bytes = sample_store(Precision::ALL[p]).to_bytes(MODEL);
        let cut = at.index(bytes.len());
        prop_assert!(is_index_error(TokenStore::from_bytes(&bytes[..cut], MODEL)));
    }

    #[test]
    fn arbitrary_bytes_are_an_index_error(mut bytes in prop::collection::vec(any::<u8>(), 0..400), magic in any::<bool>()) {
        if magic && bytes.len() >= 4 {
            bytes[..4].copy_from_slice(b"CWIX");
        }
        prop_assert!(is_index_error(TokenStore::from_bytes(&bytes, MODEL)));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// BM25's statistics after any sequence of adds, replacements and removals equal those of a
    /// store built from scratch with the surviving documents, and so do the scores.
    #[test]
    fn lexical_statistics_after_any_changes_equal_a_rebuild(
        changes in prop::collection::vec((0u8..6, prop::option::of(prop::collection::vec(any::<u8>(), 0..12))), 1..30)
    ) {
        let mut store = TokenStore::new(Precision::Int8, 12);
        let mut seed = 5;
        for (id, text) in &changes {
            let id = format!("d{id}");
            match text {
                Some(words) => {
                    let text = note_text(words);
                    let vectors = synthetic_vectors(2, 12, &mut seed);
                    store.upsert(&id, vec![whole_text_passage(&text, vectors)]);
                }
                None => { store.remove(&id); }
            }
        }
        let mut rebuilt = TokenStore::new(Precision::Int8, 12);
        for p in store.passages() {
            let terms = store.terms_of(p).unwrap();
            let vectors = synthetic_vectors(2, 12, &mut seed);
            let mut passage = whole_text_passage("", vectors);
            passage.terms = Some(terms);
            rebuilt.upsert(&p.doc_id, vec![passage]);
        }
        prop_assert_eq!(store.lexicon().statistics(), rebuilt.lexicon().statistics());
        for query in ["invoice 42", "running tax", "the"] {
            let (a, b) = (store.lexicon(), rebuilt.lexicon());
            let (qa, qb) = (a.query_terms(query), b.query_terms(query));
            for (p, r) in store.passages().iter().zip(rebuilt.passages()) {
                let score = |l: &colbert_wasm::index::Lexicon, q, p: &colbert_wasm::index::StoredPassage| l.score(q, p.words.as_ref().unwrap());
                prop_assert_eq!(score(a, &qa, p), score(b, &qb, r));
            }
        }
    }
}
