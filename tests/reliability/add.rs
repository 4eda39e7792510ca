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
