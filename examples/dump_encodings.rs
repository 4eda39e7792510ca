//! The token ids the retriever would encode for a BEIR folder, written as JSON lines for
//! `training/train_head.py`, so the head is trained on exactly the inputs the product sees
//! (queries cut at `query_length`, documents split into passages, skiplist tokens marked):
//! `cargo run --profile native-test --example dump_encodings -- <beir-dir> <bundle-dir> <out.jsonl>`.
//! One line per query `{"kind":"query","id","ids","keep"}`, per document title encoded as a query
//! `{"kind":"title","id"(document),…}` (self-supervised pairs: a title finds its document) and per
//! passage `{"kind":"passage","id"(document),…}`; document text = title + " " + text.

use std::io::{BufWriter, Write};
use std::path::Path;

use colbert_wasm::model::{ColbertTokenizer, Encoding, Manifest, TextKind};
use serde_json::{json, Value};

fn jsonl(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn text_of(v: &Value, name: &str) -> String {
    v[name].as_str().unwrap_or_default().to_owned()
}

fn line(kind: &str, id: &str, encoding: &Encoding) -> Value {
    json!({ "kind": kind, "id": id, "ids": encoding.ids, "keep": encoding.keep })
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [beir, bundle, out] = args.as_slice() else {
        eprintln!("usage: dump_encodings <beir-dir> <bundle-dir> <out.jsonl>");
        std::process::exit(2);
    };
    let (beir, bundle) = (Path::new(beir), Path::new(bundle));
    let manifest =
        Manifest::from_json(&std::fs::read(bundle.join("manifest.json")).unwrap()).unwrap();
    let tokenizer_json = std::fs::read(bundle.join("tokenizer.json")).unwrap();
    let tokenizer = ColbertTokenizer::new(&tokenizer_json, &manifest).unwrap();

    let mut writer = BufWriter::new(std::fs::File::create(out).unwrap());
    let mut write = |value: Value| writeln!(writer, "{value}").unwrap();
    for query in jsonl(&beir.join("queries.jsonl")) {
        let encoding = tokenizer
            .encode(&text_of(&query, "text"), TextKind::Query)
            .unwrap();
        write(line("query", &text_of(&query, "_id"), &encoding));
    }
    let corpus = jsonl(&beir.join("corpus.jsonl"));
    for doc in &corpus {
        let encoding = tokenizer
            .encode(&text_of(doc, "title"), TextKind::Query)
            .unwrap();
        write(line("title", &text_of(doc, "_id"), &encoding));
    }
    for doc in &corpus {
        let text = format!("{} {}", text_of(doc, "title"), text_of(doc, "text"));
        for (encoding, _) in tokenizer.document_passages(text.trim()).unwrap() {
            write(line("passage", &text_of(doc, "_id"), &encoding));
        }
    }
}
