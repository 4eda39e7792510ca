// What the Qdrant hand-off's tests share: running the native indexer (asynchronously, so the fake
// server answers in this process), a vault of notes, a fake Qdrant checked against the OpenAPI.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { startFakeQdrant } from "./fake-qdrant.mjs";
import { bundleDir, repoRoot } from "./helpers.mjs";

export const INDEXER = process.env.COLBERT_INDEXER ?? `${repoRoot}target/native-test/colbert-wasm`;

/** Runs `colbert-wasm index <vault> --bundle <default> ...args`: { code, stdout, stderr }. */
export async function index(vault, ...args) {
  try {
    const { stdout, stderr } = await promisify(execFile)(INDEXER, ["index", vault, "--bundle", bundleDir, ...args]);
    return { code: 0, stdout, stderr };
  } catch (e) {
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** A temporary folder holding `notes` ({ file name: text }). */
export function vaultOf(notes) {
  const vault = mkdtempSync(join(tmpdir(), "colbert-qdrant-"));
  for (const [name, text] of Object.entries(notes)) writeFileSync(join(vault, name), text);
  return vault;
}

/** Runs `run(qdrant)` with a fake server; then every request it got must have been valid. */
export async function withQdrant(run) {
  assert.ok(existsSync(INDEXER), `no indexer at ${INDEXER} (cargo test --profile native-test builds it)`);
  const qdrant = await startFakeQdrant();
  try {
    await run(qdrant);
    assert.deepEqual(qdrant.violations, [], "every request valid against Qdrant's OpenAPI document");
  } finally {
    await qdrant.close();
  }
}
