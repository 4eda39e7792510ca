#!/usr/bin/env python3
"""Frozen MiniLM token vectors for head training, computed once.

Input: the JSON lines `examples/dump_encodings.rs` writes (the exact ids the retriever encodes).
Output (in --out): `tokens.npy` (float16, every kept token's 384-d vector, L2-normalised: the head
is followed by normalisation, so only the direction matters), `spans.json` (per query and per passage:
id, first row, row count). The encoder is the bundle's fp32 graph cut before its projection.

usage: features.py --encodings FILE --model model.fp32.onnx --out DIR
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import onnx
import onnxruntime as ort

BATCH_TOKENS = 8192


def encoder_without_head(model_path):
    """The graph's output moved from the projection's result to its input (the 384-d hidden states)."""
    model = onnx.load(model_path)
    graph = model.graph
    head = next(n for n in graph.node if n.op_type == "MatMul" and any(i.startswith("colbert_linear") for i in n.input))
    hidden = head.input[0]
    del graph.output[:]
    graph.output.append(onnx.helper.make_tensor_value_info(hidden, onnx.TensorProto.FLOAT, ["batch", "sequence", 384]))
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def batches_by_length(items):
    """Indices grouped so each padded batch holds about BATCH_TOKENS tokens (sorted: little padding)."""
    order = sorted(range(len(items)), key=lambda i: len(items[i]["ids"]))
    batch = []
    for i in order:
        if batch and (len(batch) + 1) * len(items[i]["ids"]) > BATCH_TOKENS:
            yield batch
            batch = []
        batch.append(i)
    if batch:
        yield batch


def encode(session, items):
    vectors = [None] * len(items)
    started, done = time.time(), 0
    for batch in batches_by_length(items):
        width = max(len(items[i]["ids"]) for i in batch)
        ids = np.zeros((len(batch), width), np.int64)
        mask = np.zeros_like(ids)
        for row, i in enumerate(batch):
            n = len(items[i]["ids"])
            ids[row, :n], mask[row, :n] = items[i]["ids"], 1
        (hidden,) = session.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)})
        for row, i in enumerate(batch):
            kept = hidden[row, : len(items[i]["ids"])][np.asarray(items[i]["keep"], bool)]
            vectors[i] = (kept / np.linalg.norm(kept, axis=1, keepdims=True)).astype(np.float16)
        done += len(batch)
        print(f"\r{done}/{len(items)} texts, {time.time() - started:.0f} s", end="", file=sys.stderr)
    print(file=sys.stderr)
    return vectors


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--encodings", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    items = [json.loads(line) for line in open(args.encodings)]
    vectors = encode(encoder_without_head(args.model), items)
    spans, start = [], 0
    for item, v in zip(items, vectors):
        spans.append({"kind": item["kind"], "id": item["id"], "start": start, "count": len(v)})
        start += len(v)
    os.makedirs(args.out, exist_ok=True)
    np.save(os.path.join(args.out, "tokens.npy"), np.concatenate(vectors))
    json.dump(spans, open(os.path.join(args.out, "spans.json"), "w"))


if __name__ == "__main__":
    main()
