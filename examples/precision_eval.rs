//! SciFact (or any BEIR folder) nDCG@10 of each storage precision over the same encoded corpus:
//! `cargo run --profile native-test --example precision_eval -- ../shared/data/scifact [max_docs]`.
//! The corpus is encoded once in f32 (two threads, one retriever each), then converted to every
//! precision; each query's top 10 is merged across the two shards. Prints one line per precision and
//! the loss against f32, then int8 with token pooling (PyLate's hierarchical pooling) at pool factors
//! 2 and 3, pooled from the same f32 vectors: nDCG@10 and stored bytes per document.

use std::collections::HashMap;
use std::path::Path;

use colbert_wasm::index::Precision;
use colbert_wasm::model::Bundle;
use colbert_wasm::Retriever;

fn jsonl(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn field(v: &serde_json::Value, name: &str) -> String {
    v[name].as_str().unwrap_or_default().to_owned()
}

fn load_f32_retriever() -> Retriever {
    // COLBERT_BUNDLE_DIR: another bundle (e.g. a quantisation being compared).
    let dir = std::env::var_os("COLBERT_BUNDLE_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("models/default"),
        std::path::PathBuf::from,
    );
    let read = |name: &str| std::fs::read(dir.join(name)).unwrap();
    let bundle = Bundle::from_parts(
        &read("manifest.json"),
        read("model.onnx"),
        read("tokenizer.json"),
    )
    .unwrap();
    Retriever::with_precision(bundle, Precision::F32).unwrap()
}

fn ndcg_at_10(ranked: &[String], relevant: &HashMap<String, f64>) -> f64 {
    let dcg: f64 = ranked
        .iter()
        .take(10)
        .enumerate()
        .map(|(i, id)| relevant.get(id).copied().unwrap_or(0.0) / (i as f64 + 2.0).log2())
        .sum();
    let mut gains: Vec<f64> = relevant.values().copied().collect();
    gains.sort_by(|a, b| b.total_cmp(a));
    let ideal: f64 = gains
        .iter()
        .take(10)
        .enumerate()
        .map(|(i, g)| g / (i as f64 + 2.0).log2())
        .sum();
    if ideal > 0.0 {
        dcg / ideal
    } else {
        0.0
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = Path::new(
        args.get(1)
            .expect("usage: precision_eval <beir-dir> [max_docs]"),
    );
    let max_docs: usize = args.get(2).map_or(usize::MAX, |n| n.parse().unwrap());
    let corpus: Vec<(String, String)> = jsonl(&dir.join("corpus.jsonl"))
        .iter()
        .take(max_docs)
        .map(|d| {
            (
                field(d, "_id"),
                format!("{} {}", field(d, "title"), field(d, "text")),
            )
        })
        .collect();
    let mut qrels: HashMap<String, HashMap<String, f64>> = HashMap::new();
    let in_corpus: std::collections::HashSet<&str> = corpus.iter().map(|d| d.0.as_str()).collect();
    for line in std::fs::read_to_string(dir.join("qrels/test.tsv"))
        .unwrap()
        .lines()
        .skip(1)
    {
        let cols: Vec<&str> = line.split('\t').collect();
        if cols.len() >= 3 && in_corpus.contains(cols[1]) {
            qrels
                .entry(cols[0].into())
                .or_default()
                .insert(cols[1].into(), cols[2].parse().unwrap());
        }
    }
    let queries: Vec<(String, String)> = jsonl(&dir.join("queries.jsonl"))
        .iter()
        .map(|q| (field(q, "_id"), field(q, "text")))
        .filter(|(id, _)| qrels.contains_key(id))
        .collect();

    let started = std::time::Instant::now();
    let half = corpus.len() / 2;
    let mut shards: Vec<Retriever> = std::thread::scope(|s| {
        let handles: Vec<_> = [&corpus[..half], &corpus[half..]]
            .into_iter()
            .map(|docs| {
                s.spawn(move || {
                    let mut r = load_f32_retriever();
                    for chunk in docs.chunks(64) {
                        r.add_documents(chunk).unwrap();
                    }
                    r
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    eprintln!(
        "encoded {} docs in {:.0} s",
        corpus.len(),
        started.elapsed().as_secs_f64()
    );

    let f32_indexes: Vec<Vec<u8>> = shards.iter().map(|r| r.export_index()).collect();
    let mut f32_ndcg = None;
    for precision in Precision::ALL {
        for shard in &mut shards {
            shard.set_precision(precision);
        }
        let ndcg = evaluate(&shards, &queries, &qrels);
        let base = *f32_ndcg.get_or_insert(ndcg);
        println!(
            "{:<7} ndcg@10={ndcg:.4}  loss vs f32={:+.4}  bytes/token scanned={} total={}  queries={} docs={}",
            precision.name(),
            base - ndcg,
            precision.scanned_bytes_per_token(128),
            precision.total_bytes_per_token(128),
            queries.len(),
            corpus.len()
        );
    }
    let mut unpooled = None;
    for factor in [1, 2, 3] {
        for (shard, bytes) in shards.iter_mut().zip(&f32_indexes) {
            shard.import_index(bytes).unwrap();
            shard.pool_stored(factor);
            shard.set_precision(Precision::Int8);
        }
        let ndcg = evaluate(&shards, &queries, &qrels);
        let base = *unpooled.get_or_insert(ndcg);
        let tokens: usize = shards.iter().map(|r| r.token_count()).sum();
        let bytes_per_doc =
            (tokens * Precision::Int8.total_bytes_per_token(128)) as f64 / corpus.len() as f64;
        println!(
            "int8 pool_factor={factor} ndcg@10={ndcg:.4}  loss vs unpooled={:+.4}  tokens/doc={:.1}  bytes/doc={bytes_per_doc:.0}",
            base - ndcg,
            tokens as f64 / corpus.len() as f64,
        );
    }
}

/// Mean nDCG@10 over `queries`, each query's top 10 merged across the shards (two threads).
fn evaluate(
    shards: &[Retriever],
    queries: &[(String, String)],
    qrels: &HashMap<String, HashMap<String, f64>>,
) -> f64 {
    std::thread::scope(|s| {
        let handles: Vec<_> = queries
            .chunks(queries.len().div_ceil(2))
            .map(|qs| {
                s.spawn(move || {
                    qs.iter()
                        .map(|(id, text)| {
                            let mut hits: Vec<_> = shards
                                .iter()
                                .flat_map(|r| r.search(text, 10).unwrap().hits)
                                .collect();
                            hits.sort_by(|a, b| b.score.total_cmp(&a.score));
                            let ranked: Vec<String> =
                                hits.into_iter().take(10).map(|h| h.id).collect();
                            ndcg_at_10(&ranked, &qrels[id])
                        })
                        .sum::<f64>()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum::<f64>()
    }) / queries.len() as f64
}
