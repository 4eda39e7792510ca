#!/usr/bin/env python3
"""Write the reference fixtures the Rust and Node tests compare against.

- tests/fixtures/tokenizer_ids.json: ids Python `tokenizers` gives (no special tokens) for the default
  bundle's tokenizer.json.
- tests/fixtures/reference_vectors.json: per-token vectors onnxruntime gives for the default bundle's
  model.onnx, for `[CLS] text [SEP]` (before normalisation).
- tests/fixtures/reference_vectors_fp32.json: the same from model.fp32.onnx, when the bundle keeps it.

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



def generated_texts(count=320, seed=7):
    """Deterministic mix of hard cases: scripts, accents, emoji, URLs, code, markdown, control chars."""
    import random

    rng = random.Random(seed)
    pools = {
        "latin": "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
        "accents": "àáâãäåæçèéêëìíîïñòóôõöøùúûüýÿßœÀÉÎÕÜŒ",
        "cjk": "東京日本語中文字漢한국어ひらがなカタカナ",
        "emoji": "🙂🚀👍🏽🇫🇷👨‍👩‍👧❤️✨🔥",
        "punct": ".,;:!?-_()[]{}<>/\\\"'`~@#$%^&*+=|",
        "space": " \t\n\r\u00a0\u2003\u200b",
        "control": "\u0000\u0001\u0007\u001b\u007f\ufeff\u200d",
        "math": "∑∫√≤≥≠±×÷αβγδλμπσω°",
        "rtl": "שלוםمرحبا",
    }
    words = ["note", "search", "token", "vector", "ColBERT", "MaxSim", "browser", "offline", "IL-6", "p53",
             "https://example.org/a?b=c", "user@example.com", "`code()`", "**bold**", "# heading", "- [ ] todo",
             "<script>alert(1)</script>", "C++", "e.g.", "U.S.A.", "3.14159", "1,000,000", "naïve", "Straße"]
    texts = []
    for i in range(count):
        kind = i % 4
        if kind == 0:  # random characters from one or two pools
            chars = "".join(rng.choice(list(pools.values())) for _ in range(2))
            texts.append("".join(rng.choice(chars) for _ in range(rng.randint(1, 60))))
        elif kind == 1:  # word salad
            texts.append(" ".join(rng.choice(words) for _ in range(rng.randint(1, 25))))
        elif kind == 2:  # words with injected oddities
            parts = [rng.choice(words) + rng.choice(pools[rng.choice(list(pools))]) for _ in range(rng.randint(1, 15))]
            texts.append(rng.choice(["", " ", "\n"]).join(parts))
        else:  # markdown-ish multi-line notes
            lines = [rng.choice(["# ", "## ", "- ", "1. ", "> ", ""]) + " ".join(rng.choice(words) for _ in range(rng.randint(1, 8)))
                     for _ in range(rng.randint(1, 6))]
            texts.append("\n".join(lines))
    texts.append("long " * 2000)  # 10,000 characters
    texts.append("".join(rng.choice(pools["cjk"] + pools["latin"]) for _ in range(10000)))
    return texts


TEXTS = TEXTS + generated_texts()
VECTOR_TEXTS = [t for t in TEXTS[1:60] if t.strip() and len(t) < 200][:20]


def sha256_file(path):
    import hashlib

    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def main():
    bundle = sys.argv[1]
    out_dir = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures")
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(os.path.join(bundle, "tokenizer.json"))
    tok.no_padding()
    tok.no_truncation()
    cases = [{"text": t, "ids": tok.encode(t, add_special_tokens=False).ids} for t in TEXTS]
    with open(os.path.join(out_dir, "tokenizer_ids.json"), "w") as f:
        json.dump(cases, f, ensure_ascii=False)

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

    fp32_path = os.path.join(bundle, "model.fp32.onnx")
    if os.path.exists(fp32_path):
        session = ort.InferenceSession(fp32_path)
        cases = []
        for text in VECTOR_TEXTS:
            ids = np.array([[cls] + tok.encode(text, add_special_tokens=False).ids[:254] + [sep]], dtype=np.int64)
            out = session.run(None, {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)})[0]
            cases.append({"text": text, "ids": ids[0].tolist(), "vectors": np.round(out[0], 6).tolist()})
        with open(os.path.join(out_dir, "reference_vectors_fp32.json"), "w") as f:
            json.dump({"model_sha256": sha256_file(fp32_path), "cases": cases}, f, ensure_ascii=False)


if __name__ == "__main__":
    main()
