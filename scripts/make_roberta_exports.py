"""Tiny random-weight RoBERTa ColBERTs (the family of XLM-R checkpoints such as jina-colbert-v2),
exported the way pylate-onnx-export 0.1.0 does it and as ../shared/fixtures/exports/make_exports.py
makes the BERT and ModernBERT fixtures (same wiring, inputs, dynamic axes, opset 14, dynamic int8
quantisation, onnxruntime reference rows): once with torch's default exporter, once with TorchScript,
sdpa and eager attention. RoBERTa computes its position ids as a cumulative sum over the non-padding
tokens (CumSum over a symbolic length), which is what these graphs exist to load.

Not part of set-up or tests (torch is a 3 GB install); the files it writes are committed under
tests/fixtures/exports/. Needs torch, transformers, onnx, onnxscript and onnxruntime:
  python3 -m venv /tmp/torchenv && /tmp/torchenv/bin/pip install "torch==2.11.*" "transformers==5.17.*" \
      "onnx==1.23.*" onnxscript "onnxruntime==1.30.*"
  /tmp/torchenv/bin/python scripts/make_roberta_exports.py"""
import json, os, time, traceback
from pathlib import Path
import numpy as np
import torch, torch.nn as nn
import onnx, onnxruntime as ort
from onnxruntime.quantization import QuantType, quantize_dynamic
import transformers
from transformers import RobertaConfig, RobertaModel

out = Path(os.environ.get("OUT_DIR", Path(__file__).resolve().parent.parent / "tests/fixtures/exports"))
out.mkdir(parents=True, exist_ok=True)
log = {"torch": torch.__version__, "transformers": transformers.__version__, "onnx": onnx.__version__,
       "onnxruntime": ort.__version__, "models": {}}
# The byte-level BPE of tests/fixtures/tokenizers/bpe.json (RoBERTa's kind of tokenizer) has 2048 ids.
VOCAB, PAD, BOS = 2048, 1, 0


class ColBERTForONNX(nn.Module):  # pylate-onnx-export 0.1.0's wiring; RoBERTa takes no token type ids
    def __init__(self, backbone, dim):
        super().__init__(); self.bert = backbone
        self.linear = nn.Linear(backbone.config.hidden_size, dim, bias=False)

    def forward(self, input_ids, attention_mask):
        h = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return torch.nn.functional.normalize(self.linear(h), p=2, dim=-1)


def make(attn):
    torch.manual_seed(1234)
    cfg = RobertaConfig(vocab_size=VOCAB, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=514, type_vocab_size=1,
                        pad_token_id=PAD, bos_token_id=BOS, eos_token_id=2)
    cfg._attn_implementation = attn
    return ColBERTForONNX(RobertaModel(cfg, add_pooling_layer=False), 16).eval()


rng = np.random.default_rng(7)
CASES = []
for n in (5, 32, 70, 200):
    ids = rng.integers(5, VOCAB - 1, size=n).tolist(); ids[0] = BOS
    CASES.append(ids)

for attn in ("sdpa", "eager"):
    model = make(attn)
    names = ["input_ids", "attention_mask"]
    args = (torch.tensor([CASES[1]]), torch.ones(1, len(CASES[1]), dtype=torch.long))
    axes = {n: {0: "batch_size", 1: "sequence_length"} for n in names}
    axes["output"] = {0: "batch_size", 1: "sequence_length"}
    with torch.no_grad():
        torch_rows = [model(torch.tensor([c]), torch.ones(1, len(c), dtype=torch.long)).numpy()[0] for c in CASES]
    for exporter in ("default", "torchscript"):
        name = f"roberta-{attn}-{exporter}"; d = out / name; d.mkdir(exist_ok=True)
        info = {"architecture": "RobertaModel", "attn": attn, "exporter": exporter, "inputs": names}
        t = time.time()
        try:
            kw = dict(input_names=names, output_names=["output"], dynamic_axes=axes, opset_version=14, do_constant_folding=True)
            if exporter == "torchscript": kw["dynamo"] = False
            with torch.no_grad():
                torch.onnx.export(model, args, str(d / "model.onnx"), **kw)
            m = onnx.load(str(d / "model.onnx"))
            info["opset"] = [(o.domain, o.version) for o in m.opset_import]
            info["ops"] = sorted({n.op_type for n in m.graph.node})
            quantize_dynamic(str(d / "model.onnx"), str(d / "model_int8.onnx"), weight_type=QuantType.QInt8)
            refs = []
            for f in ("model.onnx", "model_int8.onnx"):
                s = ort.InferenceSession(str(d / f), providers=["CPUExecutionProvider"])
                refs.append([s.run(["output"], {"input_ids": np.array([c], dtype=np.int64),
                                                "attention_mask": np.ones((1, len(c)), dtype=np.int64)})[0][0] for c in CASES])
            info["ort_vs_torch_fp32_maxabs"] = float(max(np.abs(a - b).max() for a, b in zip(refs[0], torch_rows)))
            info["int8_vs_fp32_min_token_cos"] = float(min((a * b).sum(-1).min() for a, b in zip(refs[1], refs[0])))
            json.dump({"ids": CASES, "fp32": [r.round(6).tolist() for r in refs[0]], "int8": [r.round(6).tolist() for r in refs[1]]},
                      open(d / "reference.json", "w"))
            info["ok"] = True
        except Exception as e:
            info["ok"] = False; info["error"] = f"{type(e).__name__}: {e}"[:2000]; traceback.print_exc()
        info["seconds"] = round(time.time() - t, 1)
        log["models"][name] = info
        print(name, json.dumps({k: v for k, v in info.items() if k != "ops"}), flush=True)
json.dump(log, open(out / "roberta-exports.json", "w"), indent=1)
