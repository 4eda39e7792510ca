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
