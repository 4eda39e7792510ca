// The wasm build tokenises exactly as Python `tokenizers` does (fixture: scripts/gen_fixtures.py).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { Retriever } from "colbert-wasm";
import { readBundle, repoRoot } from "./helpers.mjs";

test("token ids match Python tokenizers on 300+ hard strings", async () => {
  const cases = JSON.parse(readFileSync(`${repoRoot}tests/fixtures/tokenizer_ids.json`, "utf8"));
  assert.ok(cases.length >= 300);
  const retriever = await Retriever.fromBytes(readBundle());
  const mismatches = [];
  for (const { text, ids } of cases) {
    const got = Array.from(await retriever.tokenize(text));
    if (got.length !== ids.length || got.some((id, i) => id !== ids[i])) mismatches.push(JSON.stringify(text).slice(0, 80));
  }
  assert.deepEqual(mismatches, []);
});
