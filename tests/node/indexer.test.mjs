// A prebuilt index from the native indexer (`colbert-wasm index`, built by the test command's
// `cargo test`) is what the wasm package's importIndex loads: same format, same model, same hits.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Retriever } from "colbert-wasm";
import { bundleDir, readBundle, repoRoot } from "./helpers.mjs";

const INDEXER = process.env.COLBERT_INDEXER ?? `${repoRoot}target/native-test/colbert-wasm`;

test("the native indexer's file loads with importIndex in wasm and searches", async () => {
  assert.ok(existsSync(INDEXER), `no indexer at ${INDEXER} (cargo test --profile native-test builds it)`);
  const vault = mkdtempSync(join(tmpdir(), "colbert-vault-"));
  try {
    mkdirSync(join(vault, "kitchen"));
    writeFileSync(join(vault, "kitchen", "bread.md"), "Feed the sourdough starter with flour and water every morning.");
    writeFileSync(join(vault, "bike.txt"), "Replace the bicycle chain once it stretches past half a percent.");
    writeFileSync(join(vault, "taxes.md"), "File the quarterly tax return before the end of April.");
    const out = join(vault, "notes.cwix");
    const printed = execFileSync(INDEXER, ["index", vault, "--bundle", bundleDir, "-o", out], { encoding: "utf8" });
    assert.match(printed, /3 files: 3 encoded/);
    const retriever = await Retriever.fromBytes(readBundle(), { worker: false });
    await retriever.importIndex(new Uint8Array(readFileSync(out)));
    assert.equal(retriever.size, 3);
    assert.equal((await retriever.search("sourdough starter", 1))[0].id, "kitchen/bread.md");
    assert.equal((await retriever.search("tax deadline", 1))[0].id, "taxes.md");
    retriever.free();
  } finally {
    rmSync(vault, { recursive: true });
  }
});
