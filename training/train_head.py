#!/usr/bin/env python3
"""Train the default bundle's 384->d ColBERT projection on frozen all-MiniLM-L6-v2 token vectors.

Loss: MaxSim contrastive (softmax cross-entropy over the positive document, hard negatives mined
with the untrained seeded head, and every other query's documents in the batch). A document's score
is its best passage's MaxSim, as the retriever ranks. Data: SciFact's train queries and qrels only;
a seeded fifth of those queries ("dev", sharing no relevant document with the rest) is held out for every choice; SciFact test is read only with
--report-test, after the choice is made.

Reproduce (numpy + autograd, no torch; ~10 min on 2 cores after features.py):
  cargo run --profile native-test --example dump_encodings -- ../shared/data/scifact models/default .cache/train/encodings.jsonl
  python training/features.py --encodings .cache/train/encodings.jsonl --model models/default/model.fp32.onnx --out .cache/train
  python training/train_head.py --beir ../shared/data/scifact --features .cache/train --out training/colbert_head.npy
"""
import argparse
import json
import os
import sys
import time
from collections import defaultdict

import autograd.numpy as anp
import numpy as np
from autograd import value_and_grad

from beir import mean_figures, paired_interval, per_query_ndcg, read_qrels

SEED = 20261126
DEV_FRACTION = 0.2


# ---------------------------------------------------------------- data

class Features:
    """Token vectors by query id and by passage, passages grouped by document (contiguous)."""

    def __init__(self, folder):
        self.tokens = np.load(os.path.join(folder, "tokens.npy")).astype(np.float32)
        spans = json.load(open(os.path.join(folder, "spans.json")))
        self.query = {s["id"]: (s["start"], s["count"]) for s in spans if s["kind"] == "query"}
        self.title = {s["id"]: (s["start"], s["count"]) for s in spans if s["kind"] == "title"}
        passages = [s for s in spans if s["kind"] == "passage"]
        self.passage_start = np.array([p["start"] for p in passages])
        self.passage_count = np.array([p["count"] for p in passages])
        self.doc_ids, self.doc_first_passage, self.doc_passages = [], [], defaultdict(list)
        for i, p in enumerate(passages):
            if not self.doc_ids or self.doc_ids[-1] != p["id"]:
                self.doc_ids.append(p["id"])
                self.doc_first_passage.append(i)
            self.doc_passages[p["id"]].append(i)
        self.doc_index = {d: i for i, d in enumerate(self.doc_ids)}
        self.passage_to_doc = [self.doc_index[p["id"]] for p in passages]
        first = self.passage_start[0]
        self.doc_tokens = self.tokens[first : self.passage_start[-1] + self.passage_count[-1]]
        self.passage_offsets = self.passage_start - first  # into doc_tokens

    def query_tokens(self, qid):
        start, count = self.query[qid]
        return self.tokens[start : start + count]

    def title_tokens(self, doc_id):
        start, count = self.title[doc_id]
        return self.tokens[start : start + count]


def split_train(qrels):
    """(train, dev) query ids with no relevant document in common: 57% of a random fifth of SciFact's
    train queries share a cited abstract with the rest, which would let dev reward remembering
    documents rather than matching better. Queries linked through shared documents stay together;
    seeded groups fill dev up to DEV_FRACTION."""
    parent = {q: q for q in qrels}

    def root(q):
        while parent[q] != q:
            parent[q] = parent[parent[q]]
            q = parent[q]
        return q

    first_query_of = {}
    for q in sorted(qrels):
        for d in qrels[q]:
            parent[root(q)] = root(first_query_of.setdefault(d, q))
    groups = defaultdict(list)
    for q in sorted(qrels):
        groups[root(q)].append(q)
    order = sorted(groups)
    np.random.default_rng(SEED).shuffle(order)
    dev = []
    for g in order:
        if len(dev) >= DEV_FRACTION * len(qrels):
            break
        dev.extend(groups[g])
    return sorted(set(qrels) - set(dev)), sorted(dev)


# ---------------------------------------------------------------- exhaustive evaluation

def normalise(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def int8_round_trip(vectors):
    """Vectors as the index's default int8 storage holds them (src/index/packed.rs): one scale per
    token, max |value| / 127, values rounded; queries are quantised the same way by the int8 kernel."""
    scale = np.abs(vectors).max(axis=-1, keepdims=True) / 127
    scale[scale == 0] = 1
    return np.clip(np.round(vectors / scale), -127, 127) * scale


def rank_all(features, head, query_ids, depth=100, group=16, chunk_tokens=1 << 18, int8=False):
    """Top `depth` document indices per query: every passage of the corpus scored by MaxSim."""
    store = int8_round_trip if int8 else (lambda v: v)
    docs = store(normalise(features.doc_tokens @ head))
    n_passages = len(features.passage_offsets)
    # Corpus chunks that end on passage boundaries.
    cuts = [0]
    while cuts[-1] < n_passages:
        target = features.passage_offsets[cuts[-1]] + chunk_tokens
        cuts.append(max(cuts[-1] + 1, int(np.searchsorted(features.passage_offsets, target, side="right")) - 1)
                    if target < len(docs) else n_passages)
    ranked = []
    for g in range(0, len(query_ids), group):
        qids = query_ids[g : g + group]
        blocks = [store(normalise(features.query_tokens(q) @ head)) for q in qids]
        query_starts = np.cumsum([0] + [len(b) for b in blocks[:-1]])
        queries = np.concatenate(blocks)
        passage_scores = np.empty((len(qids), n_passages), np.float32)
        for a, b in zip(cuts[:-1], cuts[1:]):
            lo = features.passage_offsets[a]
            hi = features.passage_offsets[b] if b < n_passages else len(docs)
            sims = queries @ docs[lo:hi].T
            best = np.maximum.reduceat(sims, features.passage_offsets[a:b] - lo, axis=1)
            passage_scores[:, a:b] = np.add.reduceat(best, query_starts, axis=0)
        doc_scores = np.maximum.reduceat(passage_scores, features.doc_first_passage, axis=1)
        top = np.argpartition(-doc_scores, depth, axis=1)[:, :depth]
        for row, cand in zip(doc_scores, top):
            ranked.append(cand[np.argsort(-row[cand], kind="stable")])
    return ranked


def rankings(features, head, query_ids, int8=False):
    ranked = rank_all(features, head, query_ids, int8=int8)
    return {q: [features.doc_ids[d] for d in r] for q, r in zip(query_ids, ranked)}


def evaluate(features, head, qrels, query_ids, int8=False):
    return mean_figures(rankings(features, head, query_ids, int8), qrels)


def compare(features, before, after, qrels, query_ids):
    """Paired per-query nDCG@10 difference after - before, with its 95% bootstrap interval."""
    per_query = [per_query_ndcg(rankings(features, h, query_ids), qrels) for h in (before, after)]
    return paired_interval(*per_query)


# ---------------------------------------------------------------- training

def mine_hard_negatives(features, head, qrels, query_ids, depth):
    ranked = rank_all(features, head, query_ids, depth=depth)
    return {q: [d for d in r if features.doc_ids[d] not in qrels[q]] for q, r in zip(query_ids, ranked)}


def padded_batch(features, q_blocks, doc_indices):
    """Query tokens [Q, Lq, 384] + mask, passage tokens [P, Lp, 384] + mask, doc -> passages [D, Pmax]."""
    passages = [p for d in doc_indices for p in features.doc_passages[features.doc_ids[d]]]
    p_blocks = [features.doc_tokens[features.passage_offsets[p] : features.passage_offsets[p] + features.passage_count[p]]
                for p in passages]

    def pad(blocks):
        width = max(len(b) for b in blocks)
        out = np.zeros((len(blocks), width, blocks[0].shape[1]), np.float32)
        mask = np.zeros((len(blocks), width), bool)
        for i, b in enumerate(blocks):
            out[i, : len(b)], mask[i, : len(b)] = b, True
        return out, mask

    queries, q_mask = pad(q_blocks)
    docs, d_mask = pad(p_blocks)
    position = {}
    for i, p in enumerate(passages):
        position.setdefault(features.passage_to_doc[p], []).append(i)
    width = max(len(v) for v in position.values())
    doc_passages = np.full((len(doc_indices), width), -1)
    for row, d in enumerate(doc_indices):
        doc_passages[row, : len(position[d])] = position[d]
    return queries, q_mask, docs, d_mask, doc_passages


def batch_scores(head, queries, q_mask, docs, d_mask, doc_passages):
    """[Q, D] document scores: max over a document's passages of MaxSim."""
    q = queries @ head
    q = q / anp.sqrt(anp.sum(q * q, axis=-1, keepdims=True) + 1e-12)  # padding rows are zero
    d = docs @ head
    d = d / anp.sqrt(anp.sum(d * d, axis=-1, keepdims=True) + 1e-12)
    (nq, lq, k), (nd, ld, _) = q.shape, d.shape
    sims = anp.reshape(anp.dot(anp.reshape(q, (nq * lq, k)), anp.reshape(d, (nd * ld, k)).T), (nq, lq, nd, ld))
    sims = anp.where(d_mask[None, None, :, :], sims, -1e4)
    best = anp.max(sims, axis=3) * q_mask[:, :, None]  # [Q, Lq, P]
    passage_scores = anp.sum(best, axis=1)  # [Q, P]
    gathered = passage_scores[:, np.maximum(doc_passages, 0)]  # [Q, D, Pmax]
    gathered = anp.where((doc_passages >= 0)[None], gathered, -1e4)
    return anp.max(gathered, axis=2)


def logsumexp(x, axis):
    top = anp.max(x, axis=axis, keepdims=True)
    return anp.log(anp.sum(anp.exp(x - top), axis=axis)) + anp.squeeze(top, axis=axis)


def training_examples(features, qrels, train_ids, negatives, title_docs):
    """(query tokens, relevant document indices, hard negative document indices) per training query,
    then one per title in `title_docs` (the title finds its own document; in-batch negatives only)."""
    examples = []
    for q in train_ids:
        relevant = {features.doc_index[d] for d, g in qrels[q].items() if g > 0 and d in features.doc_index}
        examples.append((features.query_tokens(q), relevant, negatives[q]))
    for d in title_docs:
        examples.append((features.title_tokens(d), {features.doc_index[d]}, []))
    return examples


def train(features, examples, dim, options, log):
    rng = np.random.default_rng(SEED)
    params, head_of = options["parametrise"](features, dim)
    moment, velocity = np.zeros_like(params), np.zeros_like(params)
    step = 0

    def loss(params, batch, labels, forbidden):
        scores = batch_scores(head_of(params), *batch) / options["temperature"]
        scores = anp.where(forbidden, -1e4, scores)
        return anp.mean(logsumexp(scores, axis=1) - scores[np.arange(len(labels)), labels])

    grad_fn = value_and_grad(loss)
    for epoch in range(options["epochs"]):
        order = rng.permutation(len(examples))
        losses = []
        for b in range(0, len(order) - options["batch"] + 1, options["batch"]):
            batch = [examples[i] for i in order[b : b + options["batch"]]]
            docs, labels = [], []
            for _, relevant, hard in batch:
                labels.append(len(docs))
                docs.append(int(rng.choice(sorted(relevant))))
                pool = hard[: options["negative_depth"]]
                docs.extend(int(d) for d in rng.choice(pool, size=min(options["hard"], len(pool)), replace=False))
            unique = list(dict.fromkeys(docs))
            labels = [unique.index(docs[l]) for l in labels]
            forbidden = np.array([[d in relevant and j != labels[i] for j, d in enumerate(unique)]
                                  for i, (_, relevant, _) in enumerate(batch)])
            tensors = padded_batch(features, [tokens for tokens, _, _ in batch], unique)
            value, grad = grad_fn(params, tensors, np.array(labels), forbidden)
            step += 1
            moment = 0.9 * moment + 0.1 * grad
            velocity = 0.999 * velocity + 0.001 * grad * grad
            params = params - options["lr"] * (moment / (1 - 0.9**step)) / (np.sqrt(velocity / (1 - 0.999**step)) + 1e-8)
            losses.append(value)
        log(f"  epoch {epoch + 1}: loss {np.mean(losses):.4f}")
        yield epoch + 1, head_of(params)


def principal_axes(features):
    """Eigenvectors of the document tokens' second moment, largest first ([384, 384])."""
    sample = features.doc_tokens[:: max(1, len(features.doc_tokens) // 200_000)]
    _, vectors = np.linalg.eigh(sample.T @ sample)
    return vectors[:, ::-1].copy()


def pca_head(features, dim):
    return principal_axes(features)[:, :dim].copy()


def full_matrix(features, dim):
    """Every entry of the [384, d] head trained, from the seeded projection."""
    return seeded_head(dim), lambda params: params


def spectrum_scaling(features, dim):
    """384 weights, one per principal axis of the token vectors, ahead of the seeded projection:
    head = axes · diag(w) · axesᵀ · seeded (w = 1 is the seeded head). Few parameters, so little room
    to fit the training documents themselves."""
    axes = principal_axes(features)
    mixing = axes.T @ seeded_head(dim)
    return np.ones(384, np.float32), lambda weights: (axes * weights) @ mixing


def seeded_head(dim):
    """The untrained head (scripts/build_model.py's PROJECTION_SEED; equal to it at d = 128)."""
    rng = np.random.default_rng(20240601)
    q, _ = np.linalg.qr(rng.standard_normal((384, dim)))
    return q.astype(np.float32)


# ---------------------------------------------------------------- experiments

BASE = {"epochs": 6, "batch": 32, "hard": 0, "negative_depth": 30, "temperature": 1.0, "lr": 5e-4,
        "titles": True, "parametrise": full_matrix}
VARIANTS = {
    "queries, in-batch negatives, lr 2e-3, d=128": dict(BASE, titles=False, lr=2e-3, epochs=4),
    "queries, in-batch negatives, lr 5e-4, d=128": dict(BASE, titles=False),
    "queries + hard negatives (3 of top 30), lr 5e-4, d=128": dict(BASE, titles=False, hard=3),
    "queries + titles, in-batch negatives, lr 5e-4, d=128": dict(BASE),
    "spectrum weights, queries, in-batch negatives, lr 1e-2, d=128":
        dict(BASE, titles=False, parametrise=spectrum_scaling, lr=1e-2),
    "spectrum weights, queries + titles, in-batch negatives, lr 1e-2, d=128":
        dict(BASE, parametrise=spectrum_scaling, lr=1e-2),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--beir", required=True)
    parser.add_argument("--features", required=True)
    parser.add_argument("--out", help="where the chosen head (float32 [384, d]) is written")
    parser.add_argument("--only", help="train just the variants whose name contains this")
    parser.add_argument("--head", help="evaluate this head (.npy) instead of training")
    parser.add_argument("--report-test", action="store_true", help="after choosing, score SciFact test once")
    args = parser.parse_args()
    if not (args.out or args.head):
        parser.error("give --out (train) or --head (evaluate)")
    started = time.time()
    lines = []

    def log(text):
        lines.append(text)
        print(f"[{time.time() - started:6.0f} s] {text}", file=sys.stderr, flush=True)

    features = Features(args.features)
    qrels = read_qrels(os.path.join(args.beir, "qrels", "train.tsv"))
    train_ids, dev_ids = split_train(qrels)
    log(f"{len(train_ids)} training queries, {len(dev_ids)} dev queries, {len(features.doc_ids)} documents, "
        f"{len(features.passage_offsets)} passages")
    dev = lambda head: evaluate(features, head, qrels, dev_ids)
    results = {}
    references = () if args.only or args.head else (("untrained seeded projection, d=128 (today's default)", seeded_head(128)),
                       ("PCA of document token vectors, d=128", pca_head(features, 128)),
                       ("no projection, d=384", np.eye(384, dtype=np.float32)))
    for name, head in references:
        results[name] = dev(head)
        log(f"{name}: dev nDCG@10 {results[name][0]:.4f}, Recall@100 {results[name][1]:.4f}")

    needs_mining = not args.head and any(o["hard"] for n, o in VARIANTS.items() if not args.only or args.only in n)
    negatives = (mine_hard_negatives(features, seeded_head(128), qrels, train_ids, depth=50) if needs_mining
                 else defaultdict(list))
    # Titles of documents judged for dev or test queries stay out, so neither measures a document
    # the head has been trained to find.
    test = read_qrels(os.path.join(args.beir, "qrels", "test.tsv"))
    judged_elsewhere = {d for q in dev_ids for d in qrels[q]} | {d for q in test for d in test[q]}
    title_docs = [d for d in features.doc_ids if d in features.title and d not in judged_elsewhere]
    log(f"{len(title_docs)} title -> document pairs")
    best = (-1.0, None, None)
    if args.head:
        head = np.load(args.head)
        best = (dev(head)[0], f"given head {args.head}", head)
    for name, options in VARIANTS.items():
        if args.head or args.only and args.only not in name:
            continue
        log(f"{name}: {json.dumps({k: v for k, v in options.items() if not callable(v)})}")
        titles = title_docs if options["titles"] else []
        examples = training_examples(features, qrels, train_ids, negatives, titles)
        for epoch, head in train(features, examples, options.get("dim", 128), options, log):
            ndcg, recall = dev(head)
            log(f"  after {epoch} epochs: dev nDCG@10 {ndcg:.4f}, Recall@100 {recall:.4f}")
            results[f"{name}, {epoch} epochs"] = (ndcg, recall)
            if ndcg > best[0]:
                best = (ndcg, f"{name}, {epoch} epochs", head.copy())
    log(f"chosen on dev: {best[1]} (dev nDCG@10 {best[0]:.4f})")
    log("  dev nDCG@10, chosen - untrained per query: {:+.4f} (95% interval {:+.4f} .. {:+.4f})".format(
        *compare(features, seeded_head(128), best[2], qrels, dev_ids)))
    if not args.head:
        np.save(args.out, best[2].astype(np.float32))
    if args.report_test:
        for name, head in (("today's default", seeded_head(128)), ("chosen", best[2])):
            ndcg, recall = evaluate(features, head, test, sorted(test))
            log(f"SciFact test, {name}: nDCG@10 {ndcg:.4f}, Recall@100 {recall:.4f}")
            ndcg8, recall8 = evaluate(features, head, test, sorted(test), int8=True)
            log(f"  with int8 storage: nDCG@10 {ndcg8:.4f} ({ndcg8 - ndcg:+.4f}), Recall@100 {recall8:.4f}")
        # Half of SciFact's test queries cite an abstract some training query cites too: a gain there
        # can be the head remembering documents, which a new collection would not reward.
        seen = {d for q in train_ids for d in qrels[q]}
        for label, ids in (("citing a training document", [q for q in sorted(test) if seen & set(test[q])]),
                           ("citing none", [q for q in sorted(test) if not seen & set(test[q])])):
            log("SciFact test, {} queries {}: chosen - untrained {:+.4f} (95% interval {:+.4f} .. {:+.4f})".format(
                len(ids), label, *compare(features, seeded_head(128), best[2], test, ids)))
    with open(os.path.splitext(args.head or args.out)[0] + (".eval.log" if args.head else ".log"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
