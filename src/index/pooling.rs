//! Which token vectors does a passage keep? With a pool factor above 1, PyLate's hierarchical token
//! pooling: the passage's token vectors (after the first, kept as it is) are clustered by Ward
//! linkage on Euclidean distances (for unit vectors, monotone in cosine distance) and cut into
//! `max(n / pool_factor, 1)` clusters, each stored as its mean. Fewer tokens to store, write and scan;
//! what it costs in quality is measured (README, Quality).

use super::{next_generation, StoredPassage, TokenStore};
use crate::model::TokenVectors;

/// The pool factor retrievers start with: off. Measured on SciFact test (`precision_eval`, int8):
/// factor 2 keeps 50% of the tokens at nDCG@10 0.7245 against 0.7222 unpooled, factor 3 keeps 34% at
/// 0.7045; but pooled, near-identical notes that differ in one rare token ("Note 42" / "Note 427")
/// stop ranking exactly (the distinguishing token is averaged into a neighbour's cluster), which the
/// browser tests caught. Pooling stays an option until that is measured on a collection of notes.
pub const DEFAULT_POOL_FACTOR: usize = 1;

/// Tokens never pooled at the start of a passage (PyLate's `protected_tokens`: the [CLS] position).
const PROTECTED: usize = 1;

/// `vectors` pooled by `pool_factor` (1 or less: unchanged). Cluster means keep the order of their
/// first token; token offsets are dropped (explanations re-encode the passage).
pub fn pool_tokens(vectors: TokenVectors, pool_factor: usize) -> TokenVectors {
    let n = vectors.n_tokens();
    if pool_factor <= 1 || n <= PROTECTED + 1 {
        return vectors;
    }
    let dim = vectors.dim;
    let pooled_rows = n - PROTECTED;
    let clusters = (pooled_rows / pool_factor).max(1);
    let labels = ward_clusters(&vectors.data[PROTECTED * dim..], dim, clusters);
    let mut data = vectors.data[..PROTECTED * dim].to_vec();
    let mut order: Vec<usize> = Vec::new(); // cluster labels by first appearance
    let mut sums: Vec<(Vec<f32>, usize)> = Vec::new();
    for (row, label) in labels.iter().enumerate() {
        let slot = match order.iter().position(|l| l == label) {
            Some(slot) => slot,
            None => {
                order.push(*label);
                sums.push((vec![0.0; dim], 0));
                sums.len() - 1
            }
        };
        let values = &vectors.data[(PROTECTED + row) * dim..(PROTECTED + row + 1) * dim];
        sums[slot]
            .0
            .iter_mut()
            .zip(values)
            .for_each(|(s, v)| *s += v);
        sums[slot].1 += 1;
    }
    for (sum, count) in sums {
        data.extend(sum.iter().map(|s| s / count as f32));
    }
    let tokens = data.len() / dim;
    TokenVectors {
        dim,
        data,
        offsets: vec![None; tokens],
    }
}

/// A cluster label per row of `rows` (`dim` wide): Ward linkage cut into `clusters` clusters.
fn ward_clusters(rows: &[f32], dim: usize, clusters: usize) -> Vec<usize> {
    let n = rows.len() / dim;
    let row = |i: usize| &rows[i * dim..(i + 1) * dim];
    let mut condensed = Vec::with_capacity(n * (n - 1) / 2);
    for i in 0..n {
        for j in i + 1..n {
            let squared: f32 = row(i)
                .iter()
                .zip(row(j))
                .map(|(a, b)| (a - b) * (a - b))
                .sum();
            condensed.push(squared.sqrt());
        }
    }
    let dendrogram = kodama::linkage(&mut condensed, n, kodama::Method::Ward);
    // Steps come cheapest first and name a merged cluster n + step, as SciPy does: apply the first
    // n - clusters merges with a union-find over every label.
    let mut parent: Vec<usize> = (0..2 * n).collect();
    let root = |parent: &mut Vec<usize>, mut x: usize| {
        while parent[x] != x {
            parent[x] = parent[parent[x]];
            x = parent[x];
        }
        x
    };
    for (i, step) in dendrogram
        .steps()
        .iter()
        .take(n.saturating_sub(clusters))
        .enumerate()
    {
        let (a, b) = (
            root(&mut parent, step.cluster1),
            root(&mut parent, step.cluster2),
        );
        parent[a] = n + i;
        parent[b] = n + i;
    }
    (0..n).map(|i| root(&mut parent, i)).collect()
}

impl TokenStore {
    /// The same store with every passage's tokens pooled by `factor` (see `pooling`).
    pub fn pooled(&self, factor: usize) -> TokenStore {
        let mut out = TokenStore::new(self.precision(), self.dim);
        for p in &self.passages {
            let data: Vec<f32> = p
                .tokens
                .clone()
                .flat_map(|t| self.tokens.decode(self.dim, t))
                .collect();
            let vectors = crate::model::TokenVectors {
                dim: self.dim,
                offsets: vec![None; p.tokens.len()],
                data,
            };
            let pooled = pool_tokens(vectors, factor);
            let start = out.token_count();
            out.tokens.push(&pooled.data, self.dim);
            out.passages.push(StoredPassage {
                tokens: start..start + pooled.n_tokens(),
                ..p.clone()
            });
            out.passage_ids.push(next_generation()); // other vectors: a new passage to copies
        }
        out.docs = self.docs.clone();
        out.lexicon = self.lexicon.clone();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(data: Vec<f32>, dim: usize) -> TokenVectors {
        let n = data.len() / dim;
        TokenVectors {
            dim,
            data,
            offsets: vec![None; n],
        }
    }

    #[test]
    fn pooling_merges_the_nearest_tokens_and_keeps_the_first() {
        // First token protected; then two tight pairs far apart.
        let v = rows(vec![9.0, 9.0, 1.0, 0.0, 0.9, 0.1, 0.0, 1.0, 0.1, 0.9], 2);
        let pooled = pool_tokens(v, 2);
        assert_eq!(pooled.n_tokens(), 3);
        assert_eq!(&pooled.data[..2], &[9.0, 9.0]);
        let close = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-6);
        assert!(
            close(&pooled.data[2..4], &[0.95, 0.05]),
            "{:?}",
            pooled.data
        );
        assert!(
            close(&pooled.data[4..6], &[0.05, 0.95]),
            "{:?}",
            pooled.data
        );
    }

    #[test]
    fn factor_one_and_tiny_passages_are_unchanged() {
        let v = rows(vec![1.0, 0.0, 0.0, 1.0, 0.5, 0.5], 2);
        assert_eq!(pool_tokens(v.clone(), 1).data, v.data);
        let two = rows(vec![1.0, 0.0, 0.0, 1.0], 2);
        assert_eq!(pool_tokens(two.clone(), 3).data, two.data);
        let pooled = pool_tokens(v, 3);
        assert_eq!(
            pooled.n_tokens(),
            2,
            "at least one cluster after the protected token"
        );
    }
}
