// The wasm build tokenises the three families real checkpoints ship (WordPiece, byte-level BPE,
// Unigram; tests/fixtures/tokenizers, made by scripts/gen_tokenizers.py) exactly as Python
// `tokenizers` does. Each is paired with the ModernBERT export fixture, whose 2048-row embedding table
// fits their 2048 ids.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Retriever } from "colbert-wasm";
import { repoRoot } from "./helpers.mjs";
import { fixtureBundle } from "./exports-helpers.mjs";

const SPECIALS = {
  wordpiece: { cls_token: "[CLS]", sep_token: "[SEP]", mask_token: "[MASK]", pad_token: "[PAD]" },
  bpe: { cls_token: "[CLS]", sep_token: "[SEP]", mask_token: "[MASK]", pad_token: "[PAD]" },
  unigram: { cls_token: "<s>", sep_token: "</s>", mask_token: "<mask>", pad_token: "<pad>" },
};

for (const [family, specials] of Object.entries(SPECIALS)) {
  test(`${family}: ids match Python tokenizers`, async () => {
    const dir = join(repoRoot, "tests/fixtures/tokenizers");
    const tokenizer = new Uint8Array(readFileSync(join(dir, `${family}.json`)));
    const cases = JSON.parse(readFileSync(join(dir, `${family}.ids.json`), "utf8"));
    assert.ok(cases.length >= 150);
    const { bundle } = fixtureBundle("modernbert-sdpa-torchscript", "model.onnx");
    const manifest = JSON.parse(bundle.manifest);
    const { createHash } = await import("node:crypto");
    manifest.files.tokenizer.sha256 = createHash("sha256").update(tokenizer).digest("hex");
    Object.assign(manifest, specials, { query_marker: { token: "[Q] " }, document_marker: { token: "[D] " } });
    const retriever = await Retriever.fromBytes({ ...bundle, manifest: JSON.stringify(manifest), tokenizer }, { worker: false });
    try {
      for (const { text, ids } of cases) assert.deepEqual(Array.from(await retriever.tokenize(text)), ids, JSON.stringify(text));
    } finally {
      retriever.free();
    }
  });
}
