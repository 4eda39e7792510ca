#!/usr/bin/env python3
"""The two baselines the product's quality table stands beside, on the same BEIR split as
`npm run eval`: BM25 (bm25s, Lucene's formula, k1 1.2, b 0.75, English stop words, Snowball/Porter
stemming) and the default encoder used as a plain bi-encoder (all-MiniLM-L6-v2 mean-pooled over its
attention mask, one vector per text, cosine; texts cut at 256 tokens as sentence-transformers does).

Every judged query is scored against the whole corpus (document text = title + " " + text).
Prints one JSON object {method: {"ndcg@10": x, "recall@100": y}} on stdout; results are cached in
--cache keyed by the data files' and the bundle's sha256, since they do not change between runs.

usage: baselines.py --beir DIR [--split test] [--bundle models/default] [--cache .cache/eval]
"""
import argparse
import hashlib
import json
import os
import sys

import numpy as np

from beir import doc_text, mean_figures, read_jsonl, read_qrels
from features import encoder_without_head

DEPTH = 100
MAX_TOKENS = 256
BATCH = 32


def bm25_rankings(corpus, queries):
    import bm25s
    import Stemmer

    stemmer = Stemmer.Stemmer("english")
    index = bm25s.BM25(k1=1.2, b=0.75, method="lucene")
    index.index(bm25s.tokenize([doc_text(d) for d in corpus], stopwords="en", stemmer=stemmer, show_progress=False),
                show_progress=False)
    tokens = bm25s.tokenize([q["text"] for q in queries], stopwords="en", stemmer=stemmer, show_progress=False)
    docs, _ = index.retrieve(tokens, k=DEPTH, show_progress=False)
    return {q["_id"]: [corpus[i]["_id"] for i in row] for q, row in zip(queries, docs)}


def mean_pooled(session, tokenizer, texts):
    """One L2-normalised mean-pooled vector per text, in batches sorted by length."""
    encodings = tokenizer.encode_batch(texts)
    order = np.argsort([len(e.ids) for e in encodings], kind="stable")
    out = np.zeros((len(texts), 384), np.float32)
    for b in range(0, len(order), BATCH):
        rows = order[b : b + BATCH]
        width = max(len(encodings[i].ids) for i in rows)
        ids = np.zeros((len(rows), width), np.int64)
        mask = np.zeros_like(ids)
        for r, i in enumerate(rows):
            ids[r, : len(encodings[i].ids)], mask[r, : len(encodings[i].ids)] = encodings[i].ids, 1
        (hidden,) = session.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)})
        pooled = (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
        out[rows] = pooled / np.linalg.norm(pooled, axis=1, keepdims=True)
    return out


def bi_encoder_rankings(bundle, corpus, queries):
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(os.path.join(bundle, "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(MAX_TOKENS)
    session = encoder_without_head(os.path.join(bundle, "model.fp32.onnx"))
    doc_vectors = mean_pooled(session, tokenizer, [doc_text(d) for d in corpus])
    query_vectors = mean_pooled(session, tokenizer, [q["text"] for q in queries])
    scores = query_vectors @ doc_vectors.T
    top = np.argsort(-scores, axis=1, kind="stable")[:, :DEPTH]
    return {q["_id"]: [corpus[i]["_id"] for i in row] for q, row in zip(queries, top)}


def cache_key(paths):
    digest = hashlib.sha256()
    for path in paths + [__file__]:
        with open(path, "rb") as f:
            digest.update(hashlib.sha256(f.read()).digest())
    return digest.hexdigest()[:16]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--beir", required=True)
    parser.add_argument("--split", default="test")
    parser.add_argument("--bundle", default="models/default")
    parser.add_argument("--cache", default=".cache/eval")
    args = parser.parse_args()
    files = {name: os.path.join(args.beir, name) for name in ("corpus.jsonl", "queries.jsonl")}
    qrels_path = os.path.join(args.beir, "qrels", f"{args.split}.tsv")
    model = os.path.join(args.bundle, "model.fp32.onnx")
    cached = os.path.join(args.cache, f"baselines-{cache_key([*files.values(), qrels_path, model])}.json")
    if os.path.exists(cached):
        print(open(cached).read().strip())
        return

    qrels = read_qrels(qrels_path)
    corpus = read_jsonl(files["corpus.jsonl"])
    queries = [q for q in read_jsonl(files["queries.jsonl"]) if q["_id"] in qrels]
    print(f"baselines: {len(queries)} queries, {len(corpus)} documents", file=sys.stderr)
    results = {}
    for name, rank in (("BM25 (k1 1.2, b 0.75, stemmed, stop words)", lambda: bm25_rankings(corpus, queries)),
                       ("same encoder as a bi-encoder (mean-pooled, 384-d)",
                        lambda: bi_encoder_rankings(args.bundle, corpus, queries))):
        ndcg, recall = mean_figures(rank(), qrels)
        results[name] = {"ndcg@10": round(ndcg, 4), "recall@100": round(recall, 4)}
        print(f"{name}: nDCG@10 {ndcg:.4f}, Recall@100 {recall:.4f}", file=sys.stderr)
    os.makedirs(args.cache, exist_ok=True)
    with open(cached, "w") as f:
        json.dump(results, f)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
