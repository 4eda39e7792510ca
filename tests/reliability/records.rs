//! Per-document records, what persistence stores: each document's own index file round-trips into
//! another retriever to the same results; a damaged record is left out and named, the rest stored.

use crate::common::tiny_retriever;
use colbert_wasm::retriever::NewDocument;

fn docs() -> Vec<NewDocument<'static>> {
    [
        (
            "bread",
            "Sourdough needs a starter fed with flour and water.",
        ),
        ("bike", "Replace the bicycle chain when it stretches."),
        ("tax", "File the quarterly tax return before April."),
    ]
    .into_iter()
    .map(|(id, text)| NewDocument {
        id,
        text,
        metadata: Some(format!(r#"{{"id":"{id}"}}"#)),
    })
    .collect()
}

#[test]
fn records_round_trip_and_a_damaged_one_is_named_while_the_rest_are_stored() {
    let mut source = tiny_retriever();
    source.add_documents_with(&docs()).unwrap();
    let ids = ["bread", "bike", "tax", "missing"];
    let records = source.export_documents(&ids);
    assert!(records[3].is_none(), "no record for an id not stored");
    let records: Vec<(&str, Vec<u8>)> = ids
        .iter()
        .zip(records)
        .filter_map(|(id, r)| Some((*id, r?)))
        .collect();

    let mut copy = tiny_retriever();

    assert!(copy.apply_documents(&as_refs(&records)).unwrap().is_empty());
    assert_eq!(
        copy.export_index(),
        source.export_index(),
        "the records rebuild the same index"
    );

    let mut damaged = records.clone();
    let middle = damaged[1].1.len() / 2;
    damaged[1].1[middle] ^= 1;
    damaged[2].0 = "filed-elsewhere";
    let mut partial = tiny_retriever();
    let problems = partial.apply_documents(&as_refs(&damaged)).unwrap();
    let named: Vec<(&str, &str)> = problems
        .iter()
        .map(|d| (d.id.as_str(), d.error.kind()))
        .collect();
    assert_eq!(
        named,
        [("bike", "IndexError"), ("filed-elsewhere", "IndexError")]
    );
    assert_eq!(partial.len(), 1, "the undamaged record is stored");
    let hits = partial.search("sourdough", 1).unwrap().hits;
    assert_eq!(hits[0].id, "bread");
    partial.clear();
    assert!(partial.is_empty());
}

fn as_refs<'a>(records: &'a [(&'a str, Vec<u8>)]) -> Vec<(&'a str, &'a [u8])> {
    records.iter().map(|(id, b)| (*id, b.as_slice())).collect()
}
