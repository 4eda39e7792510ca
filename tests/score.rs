//! The MaxSim conformance suite: every backend, in every storage precision, against a brute-force
//! reference (full similarity matrix in f64 over the vectors as stored, full sort), plus top-k.

mod common;

use std::sync::OnceLock;

use colbert_wasm::index::{whole_text_passage, PackedTokens, Precision, TokenStore};
use colbert_wasm::model::TokenVectors;
use colbert_wasm::score::{registry, top_k, GpuMaxSim, MaxSim, QueryTokens, ScalarMaxSim};
use proptest::prelude::*;

fn vectors(dim: usize, data: Vec<f32>) -> TokenVectors {
    let n = data.len() / dim;
    TokenVectors {
        dim,
        data,
        offsets: vec![None; n],
    }
}

fn store_of(precision: Precision, dim: usize, docs: &[TokenVectors]) -> TokenStore {
    let mut store = TokenStore::new(precision, dim);
    for (i, d) in docs.iter().enumerate() {
        store.upsert(&format!("d{i}"), vec![whole_text_passage("", d.clone())]);
    }
    store
}

/// One device for the whole suite (opening one per proptest case would dominate its time).
fn shared_gpu() -> Option<&'static GpuMaxSim> {
    static GPU: OnceLock<Option<GpuMaxSim>> = OnceLock::new();
    GPU.get_or_init(|| common::open_gpu(None)).as_ref()
}

/// Every backend this machine can run: the CPU ones always, the GPU where an adapter exists.
fn all_backends() -> Vec<&'static dyn MaxSim> {
    registry(shared_gpu())
}

/// Reference similarity of query token `qi` and stored token `t`, in f64: int8 as the exact integer
/// dot product times both scales, binary as the dot product of the query's signs (±1, 0 counted as
/// positive) with the decoded ±1 token, f32/f16 as the float dot product with the decoded token.
fn reference_similarity(q: &QueryTokens, qi: usize, tokens: &PackedTokens, t: usize) -> f64 {
    let dim = q.dim;
    if let PackedTokens::Binary { .. } = tokens {
        let sign = |v: f32| if v >= 0.0 { 1.0 } else { -1.0 };
        return q
            .row(qi)
            .iter()
            .zip(tokens.decode(dim, t))
            .map(|(a, b)| sign(*a) * f64::from(b))
            .sum();
    }
    if let PackedTokens::Int8(doc) = tokens {
        let dot: i64 = q
            .int8_row(qi)
            .iter()
            .zip(&doc.codes[t * dim..(t + 1) * dim])
            .map(|(a, b)| i64::from(*a) * i64::from(*b))
            .sum();
        return dot as f64 * f64::from(q.int8.scales[qi]) * f64::from(doc.scales[t]);
    }
    q.row(qi)
        .iter()
        .zip(tokens.decode(dim, t))
        .map(|(a, b)| f64::from(*a) * f64::from(b))
        .sum()
}

/// Reference: materialise every query-token x doc-token similarity, then max per query token.
fn brute_force(q: &QueryTokens, store: &TokenStore) -> Vec<f64> {
    store
        .passages()
        .iter()
        .map(|p| {
            if p.tokens.is_empty() {
                return 0.0;
            }
            let sims: Vec<Vec<f64>> = (0..q.n_tokens())
                .map(|qi| {
                    p.tokens
                        .clone()
                        .map(|t| reference_similarity(q, qi, store.tokens(), t))
                        .collect()
                })
                .collect();
            sims.iter()
                .map(|row| row.iter().cloned().fold(f64::NEG_INFINITY, f64::max))
                .sum()
        })
        .collect()
}

/// Checks every backend in every precision against the reference; returns the scores per
/// (backend, precision) for further checks.
fn assert_conformance(
    query: &TokenVectors,
    docs: &[TokenVectors],
) -> Vec<(String, Precision, Vec<f32>)> {
    let q = QueryTokens::new(query);
    let mut all = Vec::new();
    for precision in Precision::ALL {
        let store = store_of(precision, query.dim, docs);
        let reference = brute_force(&q, &store);
        for backend in all_backends() {
            let scores = backend.score_all(&q, &store);
            assert_eq!(scores.len(), reference.len());
            for (got, want) in scores.iter().zip(&reference) {
                let tolerance = 1e-4 * (1.0 + want.abs()) + 1e-6 * query.dim as f64;
                assert!(
                    (f64::from(*got) - want).abs() < tolerance,
                    "{} {}: dim {}: {got} vs {want}",
                    backend.name(),
                    precision.name(),
                    query.dim
                );
            }
            all.push((backend.name().to_owned(), precision, scores));
        }
    }
    all
}

fn token_matrix(dim: usize, max_tokens: usize) -> impl Strategy<Value = TokenVectors> {
    (0..=max_tokens).prop_flat_map(move |n| {
        prop::collection::vec(-1.0f32..1.0, n * dim).prop_map(move |data| vectors(dim, data))
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn maxsim_matches_brute_force(
        (q, docs) in (1usize..19).prop_flat_map(|dim| (
            token_matrix(dim, 8).prop_filter("query needs a token", |q| q.n_tokens() > 0),
            prop::collection::vec(token_matrix(dim, 40), 1..6),
        ))
    ) {
        assert_conformance(&q, &docs);
    }

    #[test]
    fn top_k_matches_a_full_sort(scores in prop::collection::vec(-50i32..50, 0..200), k in 0usize..250) {
        // Integer-valued scores make ties common, which is where orderings go wrong.
        let scores: Vec<f32> = scores.into_iter().map(|s| s as f32 / 4.0).collect();
        let mut expected: Vec<(usize, f32)> = scores.iter().copied().enumerate().collect();
        expected.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        expected.truncate(k);
        prop_assert_eq!(top_k(&scores, k), expected);
    }
}

/// Adversarial shapes every backend must survive: empty and 1-token documents, a 4,097-token document,
/// widths that are not a multiple of 4, 8 or 16 up to the widest the GPU takes, a query that ends
/// part-way through the GPU's 16-token tile, and identical documents (ties keep store order).
#[test]
fn every_backend_agrees_with_the_reference_on_adversarial_shapes() {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut random = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    };
    for dim in [1, 3, 7, 13, 17, 128, 131, 256] {
        let mut doc = |n: usize| vectors(dim, (0..n * dim).map(|_| random()).collect());
        let query = doc(37);
        let docs = [doc(0), doc(1), doc(4097), doc(5), doc(5)];
        let twin = docs[3].clone();
        let docs: Vec<TokenVectors> = docs.into_iter().chain([twin]).collect();
        for (backend, precision, scores) in assert_conformance(&query, &docs) {
            let order: Vec<usize> = top_k(&scores, 6).iter().map(|h| h.0).collect();
            let twin_slots: Vec<usize> = order
                .iter()
                .copied()
                .filter(|&i| i == 3 || i == 5)
                .collect();
            assert_eq!(
                twin_slots,
                vec![3, 5],
                "{backend} {}: tied documents keep store order",
                precision.name()
            );
        }
    }
}

/// Unit-length vectors, as the encoder emits: the compressed precisions stay close to f32.
#[test]
fn compressed_precisions_stay_close_to_f32_on_normalised_vectors() {
    let mut seed = 99u64;
    let mut unit_rows = |n: usize, dim: usize| {
        let mut data: Vec<f32> = (0..n * dim)
            .map(|_| {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5
            })
            .collect();
        for row in data.chunks_mut(dim) {
            let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt();
            row.iter_mut().for_each(|v| *v /= norm);
        }
        vectors(dim, data)
    };
    let query = unit_rows(32, 128);
    let docs: Vec<TokenVectors> = (0..20).map(|_| unit_rows(60, 128)).collect();
    let q = QueryTokens::new(&query);
    let f32_scores = brute_force(&q, &store_of(Precision::F32, 128, &docs));
    for (precision, per_query_token) in [(Precision::F16, 1e-3), (Precision::Int8, 1e-2)] {
        let scores = brute_force(&q, &store_of(precision, 128, &docs));
        for (got, want) in scores.iter().zip(&f32_scores) {
            assert!(
                (got - want).abs() < per_query_token * 32.0,
                "{}: {got} vs {want}",
                precision.name()
            );
        }
    }
}

#[test]
fn empty_document_scores_zero_and_single_token_document_is_its_dot_product() {
    let q = QueryTokens::new(&vectors(3, vec![1.0, 0.0, 0.0, 0.0, 1.0, 0.0]));
    let store = store_of(
        Precision::F32,
        3,
        &[vectors(3, vec![]), vectors(3, vec![0.5, 0.25, 9.0])],
    );
    for backend in all_backends() {
        assert_eq!(
            backend.score_all(&q, &store),
            vec![0.0, 0.75],
            "{}",
            backend.name()
        );
    }
}

#[test]
fn nan_scores_rank_last() {
    assert_eq!(
        top_k(&[f32::NAN, 1.0, 2.0], 3)
            .iter()
            .map(|h| h.0)
            .collect::<Vec<_>>(),
        vec![2, 1, 0]
    );
}

#[test]
fn upsert_replaces_every_passage_of_a_document() {
    let mut store = TokenStore::new(Precision::Int8, 2);
    let passage = |data: Vec<f32>| whole_text_passage("text", vectors(2, data));
    store.upsert("a", vec![passage(vec![1.0, 0.0]), passage(vec![0.0, 1.0])]);
    store.upsert("b", vec![passage(vec![0.0, 1.0])]);
    store.upsert("a", vec![passage(vec![0.0, 1.0, 1.0, 0.0])]);
    assert_eq!(store.len(), 2);
    assert_eq!(store.passages().len(), 2);
    assert_eq!(store.token_count(), 3);
    assert!(store.contains("a") && !store.contains("c"));
}

/// `n` tokens of `dim` values from a seeded LCG (not normalised: the kernels must not care).
fn seeded_doc(seed: &mut u64, n: usize, dim: usize) -> TokenVectors {
    let data = (0..n * dim)
        .map(|_| {
            *seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (*seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        })
        .collect();
    vectors(dim, data)
}

fn assert_close(got: &[f32], want: &[f32], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() < 1e-4 * (1.0 + w.abs()), "{what}: {g} vs {w}");
    }
}

/// The resident copy follows the store by uploading only what changed: added documents go into
/// spare room (or new chunks), removed ones are only marked dead, metadata costs nothing, and a
/// copy with more than a quarter dead is uploaded afresh. Scores match the CPU after every change.
#[test]
fn gpu_uploads_only_what_changed() {
    // A small binding limit, so appends also fill chunks and open new ones.
    let Some(gpu) = common::open_gpu(Some(40_000)) else {
        return;
    };
    let mut seed = 11u64;
    let dim = 16;
    let query = QueryTokens::new(&seeded_doc(&mut seed, 8, dim));
    for precision in Precision::ALL {
        let what = precision.name();
        let mut store = TokenStore::new(precision, dim);
        let add = |store: &mut TokenStore, id: &str, seed: &mut u64, n: usize| {
            store.upsert(id, vec![whole_text_passage("", seeded_doc(seed, n, dim))]);
        };
        for i in 0..60 {
            add(&mut store, &format!("d{i}"), &mut seed, 5 + i % 23);
        }
        let check = |store: &TokenStore, step: &str| {
            let before = gpu.uploaded_bytes();
            let got = gpu.score_all(&query, store);
            assert_close(
                &got,
                &ScalarMaxSim.score_all(&query, store),
                &format!("{what} {step}"),
            );
            gpu.uploaded_bytes() - before
        };
        let full = check(&store, "first upload");
        assert!(full > 0);
        add(&mut store, "new-1", &mut seed, 12);
        add(&mut store, "new-2", &mut seed, 30);
        let added = check(&store, "two added");
        assert!(
            added > 0 && added < full / 10,
            "{what}: two documents cost {added} of {full} bytes"
        );
        assert!(store.remove("d7"));
        assert_eq!(
            check(&store, "one removed"),
            0,
            "{what}: a removal uploads nothing"
        );
        add(&mut store, "d3", &mut seed, 9);
        assert!(check(&store, "one replaced") < full / 10);
        assert!(store.set_metadata("d4", Some("{}".into())));
        assert_eq!(
            check(&store, "metadata"),
            0,
            "{what}: metadata is not on the GPU"
        );
        for i in 10..40 {
            store.remove(&format!("d{i}"));
        }
        let compacted = check(&store, "half removed");
        assert!(
            compacted > 0,
            "{what}: a mostly dead copy is uploaded afresh"
        );
        // Past one binding even at 4 bytes a token (binary at dim 16).
        for i in 0..1_000 {
            add(&mut store, &format!("more-{i}"), &mut seed, 3 + i % 17);
        }
        check(&store, "many added");
        assert!(gpu.chunk_count() > 1, "{what}: appends opened new chunks");
    }
}

/// An index bigger than one storage binding is split into chunks that are dispatched one by one, and
/// more passages than one dispatch dimension holds fold into a second dimension.
#[test]
fn gpu_splits_an_index_across_bindings_and_dispatch_dimensions() {
    let Some(gpu) = common::open_gpu(Some(6000)) else {
        return;
    };
    let gpu: &'static GpuMaxSim = Box::leak(Box::new(gpu));
    let mut seed = 5u64;
    let mut doc = |n: usize, dim: usize| seeded_doc(&mut seed, n, dim);
    let query = QueryTokens::new(&doc(32, 20));
    let docs: Vec<TokenVectors> = (0..60).map(|i| doc(i % 7 * 9, 20)).collect();
    for precision in Precision::ALL {
        let store = store_of(precision, 20, &docs);
        let want = ScalarMaxSim.score_all(&query, &store);
        let got = gpu.score_all(&query, &store);
        assert!(
            gpu.chunk_count() > 1,
            "{}: {} chunk(s)",
            precision.name(),
            gpu.chunk_count()
        );
        for (g, w) in got.iter().zip(&want) {
            assert!(
                (g - w).abs() < 1e-4 * (1.0 + w.abs()),
                "{}: {g} vs {w}",
                precision.name()
            );
        }
    }
    let many: Vec<TokenVectors> = (0..70_000).map(|_| doc(1, 2)).collect();
    let store = store_of(Precision::F32, 2, &many);
    let small_query = QueryTokens::new(&doc(2, 2));
    let got = shared_gpu().unwrap().score_all(&small_query, &store);
    let want = ScalarMaxSim.score_all(&small_query, &store);
    assert_eq!(got.len(), 70_000);
    for (g, w) in got.iter().zip(&want) {
        assert!((g - w).abs() < 1e-5, "{g} vs {w}");
    }
}

#[test]
fn a_destroyed_gpu_device_reports_an_error_instead_of_scores() {
    let Some(gpu) = common::open_gpu(None) else {
        return;
    };
    let store = store_of(Precision::Int8, 4, &[vectors(4, vec![0.5; 8])]);
    let query = QueryTokens::new(&vectors(4, vec![0.25; 4]));
    assert!(gpu.dispatch(&query, &store).and_then(|p| p.wait()).is_ok());
    gpu.destroy_device();
    let after = gpu.dispatch(&query, &store).and_then(|p| p.wait());
    assert!(after.is_err(), "scores from a destroyed device: {after:?}");
}
