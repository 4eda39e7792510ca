// The commit protocol over the storage interface, in Node (MemoryStorage, the same protocol browsers
// run over IndexedDB): two retrievers writing one persisted index ("two tabs") never lose each
// other's documents, a reopened one sees everything committed, and a write refused for quota rejects
// with a QuotaError while the in-memory index returns to the stored state.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Retriever } from "colbert-wasm";
import { MemoryStorage } from "../../www/lib/storage.js";
import { readBundle } from "./helpers.mjs";

const open = (persist) => Retriever.fromBytes(readBundle(), { worker: false, persist });

test("two writers of one persisted index keep each other's documents; a reopened index has all", async () => {
  const [a, b] = [await open("shared"), await open("shared")];
  await a.add([{ id: "bread", text: "Feed the sourdough starter every morning." }]);
  await b.add([{ id: "bike", text: "Replace the bicycle chain when it stretches." }]);
  await a.add([{ id: "tax", text: "File the tax return before April." }]);
  assert.equal(a.size, 3, "a caught up with b's document before writing");
  const reopened = await open("shared");
  assert.equal(reopened.size, 3);
  assert.equal((await reopened.search("bicycle chain", 1))[0].id, "bike");
  assert.deepEqual(reopened.persisted, { name: "shared", version: 3 });
  for (const r of [a, b, reopened]) r.free();
  await Retriever.deleteIndex("shared");
  const fresh = await open("shared");
  assert.equal(fresh.size, 0, "deleteIndex starts over");
  fresh.free();
});

test("a write refused for quota rejects with a QuotaError and the index returns to the stored state", async () => {
  const r = await open("quota");
  try {
    await r.add([{ id: "a", text: "a short note" }]);
    const stored = await r.exportIndex();
    MemoryStorage.quotaBytes = stored.length + 10;
    await assert.rejects(r.add([{ id: "b", text: "a longer note that will not fit in the quota ".repeat(20) }]), { name: "QuotaError" });
    assert.equal(r.size, 1, "the refused document is not in memory either");
    assert.deepEqual(await r.exportIndex(), stored);
  } finally {
    MemoryStorage.quotaBytes = Infinity;
    r.free();
  }
});

test("a change writes only the documents it touched, whatever the index's size", async () => {
  const r = await open("sized");
  try {
    const note = (i) => ({ id: `n${i}`, text: `Note ${i} about the garden shed, the bicycle and the tax return.` });
    const cost = async (fn) => {
      const before = MemoryStorage.bytesWritten;
      await fn();
      return MemoryStorage.bytesWritten - before;
    };
    const small = await cost(() => r.add([note(0)]));
    await r.add(Array.from({ length: 40 }, (_, i) => note(i + 1)));
    const big = await cost(() => r.add([note(100)]));
    assert.ok(big < 1.2 * small, `adding one note to 41 wrote ${big} bytes; to an empty index ${small}`);
    assert.equal(await cost(() => r.remove("n3")), 0, "a removal writes no record");
    const reopened = await open("sized");
    assert.equal(reopened.size, 41);
    assert.deepEqual(await reopened.exportIndex(), await r.exportIndex(), "the records rebuild the same index");
    reopened.free();
  } finally {
    r.free();
  }
});

test("a damaged record is reported by id with an IndexError and the rest of the index works", async () => {
  const r = await open("torn");
  await r.add([
    { id: "bread", text: "Feed the sourdough starter every morning." },
    { id: "bike", text: "Replace the bicycle chain when it stretches." },
  ]);
  r.free();
  const record = MemoryStorage.recordOf("torn", "bike");
  record.bytes[Math.floor(record.bytes.length / 2)] ^= 0xff;
  const reopened = await open("torn");
  assert.equal(reopened.size, 1);
  assert.equal((await reopened.search("sourdough", 1))[0].id, "bread");
  assert.deepEqual(reopened.damaged.map((d) => [d.name, d.id]), [["IndexError", "bike"]]);
  assert.match(reopened.damaged[0].message, /bike.*damaged.*checksum/);
  await reopened.add([{ id: "bike", text: "Replace the bicycle chain when it stretches." }]);
  const healed = await open("torn");
  assert.deepEqual([healed.size, healed.damaged], [2, []], "adding it again replaces the record");
  reopened.free();
  healed.free();
});

test("a layout-1 stored index is migrated to records on first open, without encoding", async () => {
  const source = await open(undefined);
  await source.add([
    { id: "bread", text: "Feed the sourdough starter every morning.", metadata: { folder: "home" } },
    { id: "tax", text: "File the tax return before April." },
  ]);
  MemoryStorage.storeLegacy("old", 7, await source.exportIndex());
  const migrated = await open("old");
  assert.equal(migrated.size, 2);
  assert.deepEqual(migrated.persisted, { name: "old", version: 8 });
  assert.deepEqual(await migrated.exportIndex(), await source.exportIndex());
  const storage = new MemoryStorage("old");
  assert.equal(await storage.readLegacy(), undefined, "the layout-1 record is gone");
  const again = await open("old");
  assert.deepEqual(again.persisted, { name: "old", version: 8 });
  for (const r of [source, migrated, again]) r.free();
});

test("storeText keeps each text with its record: hits and getDocument return it, after a reopen too", async () => {
  const withText = (persist) => Retriever.fromBytes(readBundle(), { worker: false, persist, storeText: true });
  const r = await withText("texts");
  const text = "Feed the sourdough starter every morning.";
  await r.add([{ id: "bread", text, metadata: { folder: "home" } }, { id: "tax", text: "File the tax return." }]);
  assert.equal((await r.search("sourdough", 1))[0].text, text);
  assert.deepEqual(await r.getDocument("bread"), { id: "bread", text, metadata: { folder: "home" } });
  const reopened = await withText("texts");
  assert.equal((await reopened.getDocument("bread")).text, text);
  await reopened.remove("bread");
  assert.equal(await reopened.getDocument("bread"), null);
  await r.add([{ id: "bike", text: "Replace the chain." }]); // r catches up with the removal first
  assert.equal(await r.getDocument("bread"), null);
  assert.deepEqual((await withText("texts")).size, 2);
  for (const x of [r, reopened]) x.free();
});

test("a stored index whose header names another model is refused whole with an IndexError and a way out", async () => {
  const r = await open("other-model");
  await r.add([{ id: "a", text: "a note" }]);
  r.free();
  MemoryStorage.headerOf("other-model").modelSha256 = "0".repeat(64);
  await assert.rejects(open("other-model"), (err) => err.name === "IndexError" && /another model/.test(err.message) && /deleteIndex\('other-model'\)/.test(err.message));
  await Retriever.deleteIndex("other-model");
  const fresh = await open("other-model");
  assert.equal(fresh.size, 0);
  fresh.free();
});
