//! Adding in steps: a long document is encoded a few passages at a time (progress per passage), an
//! abandoned job changes nothing, and a commit after another change to the index is refused.

use crate::common::tiny_retriever;
use colbert_wasm::retriever::NewDocument;

fn doc<'a>(id: &'a str, text: &'a str) -> NewDocument<'a> {
    NewDocument {
        id,
        text,
        metadata: None,
    }
}

#[test]
fn a_long_document_is_encoded_passage_by_passage_and_committed_whole() {
    let mut r = tiny_retriever();
    let long = "A sentence about sourdough starters and flour. ".repeat(200);
    let mut job = r
        .begin_add(&[doc("long", &long), doc("short", "bike chain")])
        .unwrap();
    let total = job.passages_total();
    assert!(total > 20, "{total} passages");
    let mut steps = 0;
    while !job.is_encoded() {
        let before = job.passages_done();
        assert_eq!(r.encode_step(&mut job, 3).unwrap(), 3.min(total - before));
        steps += 1;
        assert!(r.is_empty(), "nothing is stored before the commit");
    }
    assert_eq!(steps, total.div_ceil(3));
    let report = r.commit_add(job).unwrap();
    assert_eq!((report.encoded, r.len(), r.passage_count()), (2, 2, total));
}

#[test]
fn an_abandoned_job_changes_nothing_and_a_stale_commit_is_refused() {
    let mut r = tiny_retriever();
    r.add_documents_with(&[doc("a", "first note")]).unwrap();
    let before = r.export_index();
    let mut job = r.begin_add(&[doc("b", &"words ".repeat(300))]).unwrap();
    r.encode_step(&mut job, 2).unwrap();
    drop(job);
    assert_eq!(r.export_index(), before);

    let stale = r.begin_add(&[doc("c", "third note")]).unwrap();
    r.remove("a");
    let err = r.commit_add(stale).unwrap_err();
    assert_eq!(err.kind(), "InvalidInputError");
    assert!(!r.export_index().is_empty() && r.is_empty());
}

/// A pool's path: documents encoded by another retriever of the same model are committed whole into
/// this one, with unchanged documents' metadata, and the result equals adding them here.
#[test]
fn documents_encoded_elsewhere_commit_whole_and_equal_a_local_add() {
    let texts = [
        ("a", "Sourdough needs a starter fed with flour and water."),
        ("b", "Replace the bicycle chain when it stretches."),
        ("c", "File the quarterly tax return before April."),
    ];
    let docs: Vec<NewDocument> = texts.iter().map(|(id, t)| doc(id, t)).collect();
    let mut local = tiny_retriever();
    local.add_documents_with(&docs).unwrap();

    let mut primary = tiny_retriever();
    primary.add_documents_with(&docs[..1]).unwrap();
    let with_meta = NewDocument {
        metadata: Some(r#"{"tag":"bread"}"#.into()),
        ..doc("a", texts[0].1)
    };
    let batch = [with_meta, doc("b", texts[1].1), doc("c", texts[2].1)];
    assert_eq!(primary.unchanged(&batch), [true, false, false]);
    let mut encoder = tiny_retriever();
    encoder.add_documents_with(&batch[1..]).unwrap();
    let encoded = encoder.export_index();

    let before = primary.export_index();
    let mut damaged = encoded.clone();
    let middle = damaged.len() / 2;
    damaged[middle] ^= 1;
    let err = primary.commit_encoded(&damaged, &batch[..1]).unwrap_err();
    assert_eq!(err.kind(), "IndexError");
    let stale = [doc("a", "a text that is not stored")];
    let err = primary.commit_encoded(&encoded, &stale).unwrap_err();
    assert_eq!(err.kind(), "InvalidInputError");
    assert_eq!(
        primary.export_index(),
        before,
        "refused commits change nothing"
    );

    let report = primary.commit_encoded(&encoded, &batch[..1]).unwrap();
    assert_eq!((report.encoded, report.unchanged), (2, 1));
    let ranked = |r: &colbert_wasm::Retriever, query: &str| -> Vec<(String, f32)> {
        let hits = r.search(query, 3).unwrap().hits;
        hits.into_iter().map(|h| (h.id, h.score)).collect()
    };
    for query in ["bread starter", "bicycle chain", "tax return"] {
        assert_eq!(ranked(&primary, query), ranked(&local, query));
    }
    let hits = primary.search("bread starter", 3).unwrap().hits;
    let a = hits.iter().find(|h| h.id == "a").unwrap();
    assert_eq!(a.metadata, Some(serde_json::json!({"tag": "bread"})));
}
