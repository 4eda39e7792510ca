#!/usr/bin/env python3
"""Write the reference fixtures the Rust and Node tests compare against.

- tests/fixtures/tokenizer_ids.json: ids Python `tokenizers` gives (no special tokens) for the default
  bundle's tokenizer.json.
- tests/fixtures/reference_vectors.json: per-token vectors onnxruntime gives for the default bundle's
  model.onnx, for `[CLS] text [SEP]` (before normalisation).

usage: gen_fixtures.py BUNDLE_DIR   (needs: tokenizers onnxruntime numpy)
"""
import json
import os
import sys

import numpy as np

TEXTS = [
    "",
    "hello world",
    "Hello, World!",
    "ColBERT scores with MaxSim over token vectors.",
    "Café naïve façade — déjà vu",
    "東京は日本の首都です",
    "emoji 🙂 and 🚀 rockets",
    "https://example.com/path?q=1&r=two#frag",
    "fn main() { println!(\"hi\"); }",
    "# Title\n\n- item *one*\n- item **two**",
    "tabs\tand\nnewlines\r\nand\u0000control\u0007chars",
    "0.5 mg/kg of IL-6 increased TNF-α by 23%",
    "   leading and trailing spaces   ",
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
    "The quick brown fox jumps over the lazy dog. " * 20,
]

VECTOR_TEXTS = TEXTS[1:6]


def main():
    bundle = sys.argv[1]
    out_dir = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures")
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(os.path.join(bundle, "tokenizer.json"))
    tok.no_padding()
    tok.no_truncation()
    cases = [{"text": t, "ids": tok.encode(t, add_special_tokens=False).ids} for t in TEXTS]
    with open(os.path.join(out_dir, "tokenizer_ids.json"), "w") as f:
        json.dump(cases, f, ensure_ascii=False, indent=1)

    import onnxruntime as ort

    session = ort.InferenceSession(os.path.join(bundle, "model.onnx"))
    manifest = json.load(open(os.path.join(bundle, "manifest.json")))
    cls, sep = tok.token_to_id(manifest["cls_token"]), tok.token_to_id(manifest["sep_token"])
    vectors = []
    for text in VECTOR_TEXTS:
        ids = np.array([[cls] + tok.encode(text, add_special_tokens=False).ids + [sep]], dtype=np.int64)
        out = session.run(None, {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)})[0]
        vectors.append({"text": text, "ids": ids[0].tolist(), "vectors": np.round(out[0], 6).tolist()})
    with open(os.path.join(out_dir, "reference_vectors.json"), "w") as f:
        json.dump({"model_sha256": manifest["files"]["model"]["sha256"], "cases": vectors}, f, ensure_ascii=False)


if __name__ == "__main__":
    main()
