#!/usr/bin/env python3
"""How should hybrid search mix its signals? A probe outside the product, in numpy, on any BEIR folder:
each judged query against every document (title + " " + text, cut at 256 tokens, one passage), with

  L  MaxSim over the bundle's 128-d head (the shipped head, and the untrained seeded one for comparison),
  B  BM25 (bm25s, Lucene's formula, k1 1.2, b 0.75, stemmed, Lucene's stop words),
  M  the encoder's mean-pooled 384-d sentence vector (cosine),

then every single signal and every mix of two or three by reciprocal rank (k = 60), min-max
normalised scores and z-scores, equal weights. Prints nDCG@10 per row. The product's own figures come
from `npm run eval`; this probe chose the rule (min-max, all three) and shows each signal's share.

usage: fusion_probe.py --beir DIR [--split test] [--query-length 128] [--bundle models/default]
"""
import argparse
import os
import sys

import numpy as np

from beir import doc_text, ndcg_at_10, read_jsonl, read_qrels
from features import encoder_without_head
from train_head import seeded_head


def hidden_states(session, tokenizer, texts, max_length):
    """384-d token states per text (all tokens, [CLS] and [SEP] included), batched by length."""
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length)
    encodings = tokenizer.encode_batch(texts)
    order = np.argsort([len(e.ids) for e in encodings], kind="stable")
    out = [None] * len(texts)
    for b in range(0, len(order), 32):
        rows = order[b : b + 32]
        width = max(len(encodings[i].ids) for i in rows)
        ids = np.zeros((len(rows), width), np.int64)
        mask = np.zeros_like(ids)
        for r, i in enumerate(rows):
            n = len(encodings[i].ids)
            ids[r, :n], mask[r, :n] = encodings[i].ids, 1
        (hidden,) = session.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)})
        for r, i in enumerate(rows):
            out[i] = hidden[r, : len(encodings[i].ids)].astype(np.float32)
    return out


def normalised(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def signals(args, corpus, queries):
    from tokenizers import Tokenizer
    import bm25s
    import Stemmer

    session = encoder_without_head(os.path.join(args.bundle, "model.fp32.onnx"))
    tokenizer = Tokenizer.from_file(os.path.join(args.bundle, "tokenizer.json"))
    docs = hidden_states(session, tokenizer, [doc_text(d) for d in corpus], 256)
    query_states = hidden_states(session, tokenizer, [q["text"] for q in queries], args.query_length)
    lengths = np.array([len(d) for d in docs])
    starts = np.concatenate([[0], np.cumsum(lengths)])[:-1]
    flat = np.concatenate(docs)
    out = {"M": normalised(np.stack([q.mean(0) for q in query_states])) @ normalised(np.add.reduceat(flat, starts) / lengths[:, None]).T}
    for name, head in (("L", np.load(os.path.join(os.path.dirname(os.path.abspath(__file__)), "colbert_head.npy"))), ("L untrained", seeded_head(128))):
        tokens = normalised(flat @ head)
        late = np.zeros((len(queries), len(docs)), np.float32)
        for i, q in enumerate(query_states):
            late[i] = np.maximum.reduceat(normalised(q @ head) @ tokens.T, starts, axis=1).sum(0)
        out[name] = late
    stemmer = Stemmer.Stemmer("english")
    index = bm25s.BM25(k1=1.2, b=0.75, method="lucene")
    index.index(bm25s.tokenize([doc_text(d) for d in corpus], stopwords="en", stemmer=stemmer, show_progress=False), show_progress=False)
    query_tokens = bm25s.tokenize([q["text"] for q in queries], stopwords="en", stemmer=stemmer, show_progress=False, return_ids=False)
    out["B"] = np.stack([index.get_scores(t) if t else np.zeros(len(docs)) for t in query_tokens]).astype(np.float32)
    return out


def ranks(scores):
    order = np.argsort(-scores, axis=1, kind="stable")
    r = np.empty_like(order)
    r[np.arange(len(scores))[:, None], order] = np.arange(scores.shape[1])[None, :] + 1
    return r


MIXES = {
    "reciprocal rank": lambda parts: sum(np.where(ranks(p) <= 1000, 1.0 / (60 + ranks(p)), 0.0) for p in parts),
    "min-max": lambda parts: sum((p - p.min(1, keepdims=True)) / np.maximum(np.ptp(p, axis=1, keepdims=True), 1e-9) for p in parts),
    "z-score": lambda parts: sum((p - p.mean(1, keepdims=True)) / (p.std(1, keepdims=True) + 1e-9) for p in parts),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--beir", required=True)
    parser.add_argument("--split", default="test")
    parser.add_argument("--query-length", type=int, default=128)
    parser.add_argument("--bundle", default="models/default")
    args = parser.parse_args()
    qrels = read_qrels(os.path.join(args.beir, "qrels", f"{args.split}.tsv"))
    corpus = read_jsonl(os.path.join(args.beir, "corpus.jsonl"))
    queries = [q for q in read_jsonl(os.path.join(args.beir, "queries.jsonl")) if q["_id"] in qrels]
    print(f"{len(queries)} queries, {len(corpus)} documents, queries cut at {args.query_length} tokens", file=sys.stderr)
    s = signals(args, corpus, queries)
    ids = np.array([d["_id"] for d in corpus])

    def ndcg(scores):
        return np.mean([ndcg_at_10(list(ids[np.argsort(-row, kind="stable")[:10]]), qrels[q["_id"]]) for q, row in zip(queries, scores)])

    for late in ("L", "L untrained"):
        print(f"\n{late} (MaxSim head), B (BM25), M (sentence vector):")
        named = {"L": s[late], "B": s["B"], "M": s["M"]}
        for name in ("L", "B", "M"):
            print(f"  {name:6s} {ndcg(named[name]):.4f}")
        for combo in ("L+B", "L+M", "B+M", "L+B+M"):
            parts = [named[p] for p in combo.split("+")]
            print(f"  {combo:6s} " + "  ".join(f"{mix} {ndcg(f(parts)):.4f}" for mix, f in MIXES.items()))


if __name__ == "__main__":
    main()
