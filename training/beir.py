"""BEIR-layout reading and the two figures every quality table here reports (as trec_eval computes
them, and as scripts/eval.mjs does for the product itself)."""
import csv
import json
from collections import defaultdict

import numpy as np


def read_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def read_qrels(path):
    qrels = defaultdict(dict)
    with open(path) as f:
        for row in csv.DictReader(f, delimiter="\t"):
            qrels[row["query-id"]][row["corpus-id"]] = float(row["score"])
    return qrels


def doc_text(doc):
    """Document text as the product indexes it (scripts/eval.mjs): title + " " + text."""
    return f"{doc.get('title', '')} {doc.get('text', '')}".strip()


def ndcg_at_10(ranked_ids, relevant):
    dcg = sum(relevant.get(d, 0.0) / np.log2(i + 2) for i, d in enumerate(ranked_ids[:10]))
    ideal = sorted(relevant.values(), reverse=True)[:10]
    idcg = sum(g / np.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def recall_at(ranked_ids, relevant, depth=100):
    judged = [d for d, g in relevant.items() if g > 0]
    top = set(ranked_ids[:depth])
    return sum(d in top for d in judged) / len(judged)


def mean_figures(rankings, qrels):
    """{query id: ranked document ids} -> (mean nDCG@10, mean Recall@100)."""
    recall = [recall_at(r, qrels[q]) for q, r in rankings.items()]
    return float(np.mean(per_query_ndcg(rankings, qrels))), float(np.mean(recall))


def per_query_ndcg(rankings, qrels):
    return np.array([ndcg_at_10(r, qrels[q]) for q, r in rankings.items()])


def paired_interval(a, b, seed=0, rounds=10_000):
    """Mean of b - a over the same queries with a 95% bootstrap interval: is a difference more than noise?"""
    diff = np.asarray(b) - np.asarray(a)
    means = np.random.default_rng(seed).choice(diff, size=(rounds, len(diff))).mean(axis=1)
    return float(diff.mean()), float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))
