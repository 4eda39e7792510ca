#!/usr/bin/env python3
"""How close are a bundle's int8 graphs to its fp32 graph? Token cosine (onnxruntime, CPU) over the first
60 SciFact abstracts cut to 180 tokens, for model.onnx and, when present, model.ort-int8.onnx.

usage: .cache/venv/bin/python scripts/quantisation_check.py [BUNDLE_DIR] [BEIR_DIR]
"""
import json
import os
import sys

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

bundle = sys.argv[1] if len(sys.argv) > 1 else "models/default"
beir = sys.argv[2] if len(sys.argv) > 2 else "../shared/data/scifact"


def run(session, ids):
    a = np.array([ids], dtype=np.int64)
    feeds = {"input_ids": a, "attention_mask": np.ones_like(a), "token_type_ids": np.zeros_like(a)}
    return session.run(None, feeds)[0][0]


def token_cosines(a, b):
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return (a * b).sum(1)


def main():
    tokenizer = Tokenizer.from_file(os.path.join(bundle, "tokenizer.json"))
    with open(os.path.join(beir, "corpus.jsonl")) as f:
        docs = [json.loads(line) for line, _ in zip(f, range(60))]
    ids = [tokenizer.encode(f"{d['title']} {d['text']}").ids[:180] for d in docs]
    reference = ort.InferenceSession(os.path.join(bundle, "model.fp32.onnx"))
    for name in ("model.onnx", "model.ort-int8.onnx"):
        path = os.path.join(bundle, name)
        if not os.path.exists(path):
            continue
        session = ort.InferenceSession(path)
        c = np.concatenate([token_cosines(run(reference, x), run(session, x)) for x in ids])
        print(f"{name}: token cosine to fp32, {c.size} tokens: mean {c.mean():.4f}, 1st percentile "
              f"{np.percentile(c, 1):.4f}, worst {c.min():.4f}")


if __name__ == "__main__":
    main()
