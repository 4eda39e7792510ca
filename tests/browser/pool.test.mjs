// In Chromium: the encoder pool is the default (one Web Worker per core here, each with its own wasm
// instance), builds the same index as one encoder, survives a worker that dies mid-chunk; and an index
// file from the native indexer imports and searches like the index built in the page.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { serveAndLaunch } from "./browser.mjs";
import { bundleDir, repoRoot } from "../node/helpers.mjs";

const session = serveAndLaunch();
const INDEXER = process.env.COLBERT_INDEXER ?? `${repoRoot}target/native-test/colbert-wasm`;
const subjects = [
  "Feed the sourdough starter with rye flour every morning", "Replace the bicycle chain when it stretches",
  "File the quarterly tax return before the end of April", "Water the fern twice a week",
  "Book the car in for winter tyres and an oil change", "Notes from the sprint retrospective on deployment",
  "Birthday present ideas: a kite, a puzzle and a scarf", "Renew the passport six months before the trip",
  "The boiler pressure drops below one bar every week", "Recipe: lentil soup with cumin and lemon",
  "Call the dentist about the cracked molar", "Plant tulip bulbs in October, pointed end up",
  "The router firmware update broke the guest network", "Read chapter four of the statistics book",
  "Grandmother's phone number and her new address", "Cancel the gym membership before renewal",
  "Ideas for the garden shed: shelves and a workbench", "The cat's vaccination is due in March",
  "Compare mortgage offers from three banks", "Packing list for the camping weekend",
  "Meeting notes: budget approval for the new laptop", "Learn the chord progression of the song",
  "The kitchen tap drips: buy a new washer", "Train times to the coast on Saturday",
];
const notes = subjects.map((text, i) => ({ id: `n${i}.md`, text }));
const queries = ["passport renewal", "sourdough flour", "tax deadline", "leaking tap"];

test("the default pool matches one encoder, survives a dying worker, and agrees with the native indexer", async () => {
  assert.ok(existsSync(INDEXER), `no indexer at ${INDEXER} (cargo test --profile native-test builds it)`);
  const vault = mkdtempSync(join(tmpdir(), "colbert-pool-vault-"));
  let prebuilt;
  try {
    for (const n of notes) writeFileSync(join(vault, n.id), n.text);
    const out = join(vault, "notes.cwix");
    execFileSync(INDEXER, ["index", vault, "--bundle", bundleDir, "-o", out]);
    prebuilt = [...readFileSync(out)];
  } finally {
    rmSync(vault, { recursive: true });
  }
  const page = await session.browser().newPage();
  await page.goto(session.url("/www/demo/blank.html"));
  const result = await page.evaluate(async ({ notes, queries, prebuilt }) => {
    const { Retriever } = await import("/www/lib/index.js");
    const kill = Symbol.for("colbert-wasm.killEncoderForTesting");
    const pooled = await Retriever.load("/models/default/");
    const single = await Retriever.load("/models/default/", { encoders: 1 });
    let killed = false;
    await pooled.add(notes, {
      onProgress: (done, total, passages) => {
        if (!killed && passages?.done > 2) killed = pooled[kill]();
      },
    });
    await single.add(notes);
    const [a, b] = [await pooled.exportIndex(), await single.exportIndex()];
    const imported = await Retriever.load("/models/default/", { encoders: 1 });
    await imported.importIndex(new Uint8Array(prebuilt));
    // MaxSim alone: the scores compared below are the two encoders' (hybrid's are normalised mixes).
    const hits = async (r) => Promise.all(queries.map(async (q) => (await r.search(q, 24, { mode: "late" })).map((h) => [h.id, h.score])));
    const out = {
      killed,
      sameIndex: a.length === b.length && a.every((x, i) => x === b[i]),
      size: pooled.size,
      inPage: await hits(single),
      prebuilt: await hits(imported),
    };
    for (const r of [pooled, single, imported]) r.free();
    return out;
  }, { notes, queries, prebuilt });
  assert.ok(result.killed, "a busy encoder of the default pool was stopped (so the default is a pool)");
  assert.ok(result.sameIndex, "the pool's index is byte-identical to one encoder's");
  assert.equal(result.size, notes.length);
  // The native encoder and wasm's round differently: in Chromium the relaxed-SIMD build's int8
  // matmuls take 7-bit activations (i32x4.relaxed_dot_i8x16_i7x16), so scores differ by a few percent
  // and near-ties may swap; the best note must agree and every score within 5% of the query's best
  // score (the scale: unrelated notes score near zero, where a relative difference means nothing).
  let worst = 0;
  for (const [i, q] of queries.entries()) {
    const page = new Map(result.inPage[i]);
    const native = result.prebuilt[i];
    const scale = Math.abs(result.inPage[i][0][1]);
    assert.equal(native.length, notes.length);
    assert.equal(native[0][0], result.inPage[i][0][0], `same best note for "${q}"`);
    for (const [id, score] of native) {
      worst = Math.max(worst, Math.abs(score - page.get(id)) / scale);
      assert.ok(Math.abs(score - page.get(id)) < 0.05 * scale, `"${q}" ${id}: ${score} vs ${page.get(id)} (best ${scale})`);
    }
  }
  console.log(`# native-indexer vs in-page scores: largest difference ${(100 * worst).toFixed(1)}% of the best score`);
});
