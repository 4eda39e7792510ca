// The commit protocol (persistence.js) without wasm: a plain-JS index behind the port it declares, over
// every storage backend. Two writers of one name ("two tabs") keep each other's documents, a refused
// write puts exactly the touched documents back, a damaged record is left out and named, and each
// change writes only what it touched. (The same protocol with the real index: storage.test.mjs.)
import "fake-indexeddb/auto";
import { test } from "node:test";
import assert from "node:assert/strict";
import { Persistence } from "../../www/lib/persistence.js";
import { IndexedDbStorage, MemoryStorage } from "../../www/lib/storage.js";

/** The index port over a Map of id -> bytes; a record whose first byte is 255 is damaged. */
class FakeIndex {
  docs = new Map();
  modelSha256 = "cd".repeat(32);
  precision = "int8";
  exportDocuments(ids) {
    return ids.map((id) => (this.docs.has(id) ? this.docs.get(id).slice() : null));
  }
  applyDocuments(ids, records) {
    const damaged = [];
    ids.forEach((id, i) => (records[i][0] === 255 ? damaged.push({ id, message: "checksum" }) : this.docs.set(id, records[i].slice())));
    return damaged;
  }
  remove(id) {
    return this.docs.delete(id);
  }
  clear() {
    this.docs.clear();
  }
  documentIds() {
    return [...this.docs.keys()];
  }
  importIndex() {}
  restoreWords() {
    return [];
  }
}

const bytes = (n) => new Uint8Array([n, n, n]);
/** A change that puts documents into `index` (a Map of id -> byte value). */
const put = (index, entries) => async () => {
  for (const [id, n] of Object.entries(entries)) index.docs.set(id, bytes(n));
};

/** Records a storage backend writes, by wrapping its `write`; `refuse` makes the next write fail. */
function watched(storage) {
  const log = { written: [], refuse: false };
  const write = storage.write.bind(storage);
  storage.write = async (version, change) => {
    if (log.refuse) {
      log.refuse = false;
      const err = new Error("quota");
      err.name = "QuotaError";
      throw err;
    }
    log.written.push({ version, put: change.put.map((r) => r.id), remove: change.remove ?? [] });
    return write(version, change);
  };
  return log;
}

let unique = 0;
for (const [backend, Storage] of [["MemoryStorage", MemoryStorage], ["IndexedDbStorage", IndexedDbStorage]]) {
  const opened = async (name) => {
    const index = new FakeIndex();
    const storage = new Storage(name);
    const log = watched(storage);
    const persistence = new Persistence(index, { storage, name, storeText: true });
    await persistence.attach();
    return { index, persistence, log };
  };

  test(`${backend}: two writers keep each other's documents and a reopened one has all`, async () => {
    const name = `tabs-${unique++}`;
    const [a, b] = [await opened(name), await opened(name)];
    await a.persistence.commit(["x"], put(a.index, { x: 1 }));
    await b.persistence.commit(["y"], put(b.index, { y: 2 }));
    assert.deepEqual(b.index.documentIds().sort(), ["x", "y"], "b caught up with a before writing");
    await a.persistence.commit(["z"], put(a.index, { z: 3 }));
    assert.deepEqual(a.index.documentIds().sort(), ["x", "y", "z"]);
    const reopened = await opened(name);
    assert.deepEqual(reopened.index.documentIds().sort(), ["x", "y", "z"]);
    assert.deepEqual(reopened.persistence.stats().persisted, { name, version: 3 });
  });

  test(`${backend}: each change writes only the documents it touched`, async () => {
    const { index, persistence, log } = await opened(`touched-${unique++}`);
    await persistence.commit(["a", "b", "c"], put(index, { a: 1, b: 2, c: 3 }));
    await persistence.commit(["b"], put(index, { b: 9 }));
    await persistence.commit(["c"], async () => index.remove("c"));
    assert.deepEqual(log.written, [
      { version: 1, put: ["a", "b", "c"], remove: [] },
      { version: 2, put: ["b"], remove: [] },
      { version: 3, put: [], remove: ["c"] },
    ]);
  });

  test(`${backend}: a refused write puts the touched documents back and keeps the rest`, async () => {
    const { index, persistence, log } = await opened(`refused-${unique++}`);
    await persistence.commit(["a", "b"], put(index, { a: 1, b: 2 }));
    persistence.texts.keep([{ id: "a", text: "kept" }]);
    log.refuse = true;
    const change = async () => {
      index.docs.set("a", bytes(7));
      index.docs.delete("b");
      index.docs.set("c", bytes(8));
      persistence.texts.keep([{ id: "a", text: "changed" }]);
    };
    await assert.rejects(persistence.commit(["a", "b", "c"], change), { name: "QuotaError" });
    assert.deepEqual(Object.fromEntries([...index.docs].map(([id, b]) => [id, b[0]])), { a: 1, b: 2 });
    assert.equal(persistence.texts.get("a"), "kept");
    assert.deepEqual(persistence.stats().persisted.version, 1, "no version was written");
    await persistence.commit(["c"], put(index, { c: 3 }));
    assert.deepEqual(persistence.stats().persisted.version, 2, "the next change goes on");
  });

  test(`${backend}: a damaged record is left out at load and named; the others load`, async () => {
    const name = `damaged-${unique++}`;
    const storage = new Storage(name);
    await storage.write(1, { put: [{ id: "good", bytes: bytes(1) }, { id: "torn", bytes: new Uint8Array([255, 0]) }], model: { modelSha256: "cd".repeat(32), precision: "int8" } });
    const { index, persistence } = await opened(name);
    assert.deepEqual(index.documentIds(), ["good"]);
    assert.deepEqual(persistence.stats().damaged.map((d) => [d.name, d.id]), [["IndexError", "torn"]]);
  });

  test(`${backend}: another model's stored index is refused whole`, async () => {
    const name = `model-${unique++}`;
    await new Storage(name).write(1, { put: [{ id: "a", bytes: bytes(1) }], model: { modelSha256: "00".repeat(32), precision: "int8" } });
    await assert.rejects(opened(name), (err) => err.name === "IndexError" && /another model/.test(err.message) && err.message.includes("deleteIndex"));
  });
}

test("without storage, changes still run one at a time", async () => {
  const index = new FakeIndex();
  const persistence = new Persistence(index);
  const order = [];
  const slow = persistence.commit(["a"], async () => {
    await new Promise((resolve) => setTimeout(resolve, 20));
    order.push("first");
  });
  const fast = persistence.commit(["b"], async () => order.push("second"));
  await Promise.all([slow, fast]);
  assert.deepEqual(order, ["first", "second"]);
  assert.equal(persistence.stats().persisted, null);
});
