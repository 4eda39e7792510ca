//! MaxSim and top-k against a brute-force reference (full similarity matrix in f64, full sort).

use colbert_wasm::index::{whole_text_passage, TokenStore};
use colbert_wasm::model::TokenVectors;
use colbert_wasm::score::{cpu_backends, maxsim, top_k};
use proptest::prelude::*;

fn vectors(dim: usize, data: Vec<f32>) -> TokenVectors {
    let n = data.len() / dim;
    TokenVectors {
        dim,
        data,
        offsets: vec![None; n],
    }
}

/// Reference: materialise every query-token x doc-token similarity, then max per query token.
fn brute_force(q: &TokenVectors, d: &TokenVectors) -> f64 {
    if d.n_tokens() == 0 {
        return 0.0;
    }
    let sims: Vec<Vec<f64>> = (0..q.n_tokens())
        .map(|i| {
            (0..d.n_tokens())
                .map(|j| {
                    q.row(i)
                        .iter()
                        .zip(d.row(j))
                        .map(|(a, b)| f64::from(*a) * f64::from(*b))
                        .sum()
                })
                .collect()
        })
        .collect();
    sims.iter()
        .map(|row| row.iter().cloned().fold(f64::NEG_INFINITY, f64::max))
        .sum()
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
        let mut store = TokenStore::new();
        for (i, d) in docs.iter().enumerate() {
            store.upsert(&format!("d{i}"), vec![whole_text_passage(&format!("d{i}"), "", d.clone())]);
        }
        for backend in cpu_backends() {
            let scores = backend.score_all(&q, &store);
            for (d, score) in docs.iter().zip(&scores) {
                let expected = brute_force(&q, d);
                prop_assert!(
                    (f64::from(*score) - expected).abs() < 1e-4 * (1.0 + expected.abs()),
                    "{}: {score} vs {expected}", backend.name()
                );
            }
        }
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
/// widths that are not a multiple of 4, 8 or 16, and identical documents (ties keep store order).
#[test]
fn every_backend_agrees_with_the_reference_on_adversarial_shapes() {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut random = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    };
    for dim in [1, 3, 7, 13, 17, 128, 131] {
        let mut doc = |n: usize| vectors(dim, (0..n * dim).map(|_| random()).collect());
        let query = doc(32);
        let docs = [doc(0), doc(1), doc(4097), doc(5), doc(5)];
        let twin = docs[3].clone();
        let mut store = TokenStore::new();
        for (i, d) in docs.iter().chain([&twin]).enumerate() {
            store.upsert(
                &format!("d{i}"),
                vec![whole_text_passage("", "", d.clone())],
            );
        }
        let reference: Vec<f64> = store
            .passages()
            .iter()
            .map(|p| brute_force(&query, &p.vectors))
            .collect();
        for backend in cpu_backends() {
            let scores = backend.score_all(&query, &store);
            for (got, want) in scores.iter().zip(&reference) {
                let tolerance = 1e-4 * (1.0 + want.abs()) + 1e-6 * dim as f64;
                assert!(
                    (f64::from(*got) - want).abs() < tolerance,
                    "{} dim {dim}: {got} vs {want}",
                    backend.name()
                );
            }
            let order: Vec<usize> = top_k(&scores, 6).iter().map(|h| h.0).collect();
            let twin_slots: Vec<usize> = order
                .iter()
                .copied()
                .filter(|&i| i == 3 || i == 5)
                .collect();
            assert_eq!(
                twin_slots,
                vec![3, 5],
                "{}: tied documents keep store order",
                backend.name()
            );
        }
    }
}

#[test]
fn empty_document_scores_zero_and_single_token_document_is_its_dot_product() {
    let q = vectors(3, vec![1.0, 0.0, 0.0, 0.0, 1.0, 0.0]);
    assert_eq!(maxsim(&q, &vectors(3, vec![])), 0.0);
    assert_eq!(maxsim(&q, &vectors(3, vec![0.5, 0.25, 9.0])), 0.75);
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
    let mut store = TokenStore::new();
    let passage = |id: &str, data: Vec<f32>| whole_text_passage(id, "text", vectors(2, data));
    store.upsert(
        "a",
        vec![passage("a", vec![1.0, 0.0]), passage("a", vec![0.0, 1.0])],
    );
    store.upsert("b", vec![passage("b", vec![0.0, 1.0])]);
    store.upsert("a", vec![passage("a", vec![0.0, 1.0, 1.0, 0.0])]);
    assert_eq!(store.len(), 2);
    assert_eq!(store.passages().len(), 2);
    assert_eq!(store.token_count(), 3);
    assert!(store.contains("a") && !store.contains("c"));
}
