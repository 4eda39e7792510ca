// One contract, every storage backend (as tantivy runs one Directory suite per implementation): what
// storage.js promises persistence.js, run against MemoryStorage and against IndexedDbStorage on
// fake-indexeddb (an in-memory IndexedDB; the real one is exercised in Chromium by
// tests/browser/persist.test.mjs). A new backend joins by adding a line to BACKENDS.
import "fake-indexeddb/auto";
import { test } from "node:test";
import assert from "node:assert/strict";
import { IndexedDbStorage, MemoryStorage } from "../../www/lib/storage.js";

const BACKENDS = [
  ["MemoryStorage", (name) => new MemoryStorage(name)],
  ["IndexedDbStorage", (name) => new IndexedDbStorage(name)],
];

const MODEL = { modelSha256: "ab".repeat(32), precision: "int8" };
const record = (id, byte, text) => ({ id, bytes: new Uint8Array([byte, byte + 1, byte + 2]), ...(text === undefined ? {} : { text }) });

async function readAll(storage) {
  const batches = [];
  await storage.readDocuments(async (batch) => batches.push(batch));
  return { batches, records: batches.flat() };
}

const plain = ({ id, bytes, text }) => ({ id, bytes: [...bytes], ...(text === undefined ? {} : { text }) });

let unique = 0;
for (const [backend, open] of BACKENDS) {
  const fresh = () => open(`${backend}-contract-${unique++}`);

  test(`${backend}: a name never written has nothing`, async () => {
    const storage = fresh();
    assert.equal(await storage.readHeader(), undefined);
    assert.equal(await storage.readLegacy(), undefined);
    assert.deepEqual((await readAll(storage)).records, []);
    assert.equal(await storage.changesSince(0), null);
    assert.deepEqual(await storage.readDocumentsById(["a"]), [{ id: "a", record: undefined }]);
  });

  test(`${backend}: a write stores its records, header and log entry, and reads back as written`, async () => {
    const storage = fresh();
    const put = [record("a", 1, "first note"), record("b", 4)];
    await storage.write(1, { put, model: MODEL });
    put[0].bytes[0] = 99; // the caller's array changes later: the stored copy must not
    assert.deepEqual(await storage.readHeader(), { format: 2, version: 1, ...MODEL });
    const { records } = await readAll(storage);
    assert.deepEqual(records.map(plain).sort((x, y) => x.id.localeCompare(y.id)), [
      { id: "a", bytes: [1, 2, 3], text: "first note" },
      { id: "b", bytes: [4, 5, 6] },
    ]);
    const [a, missing] = await storage.readDocumentsById(["a", "zz"]);
    assert.deepEqual([...a.record.bytes], [1, 2, 3]);
    assert.equal(missing.record, undefined);
    assert.deepEqual(await storage.changesSince(0), { version: 1, ids: ["a", "b"] });
  });

  test(`${backend}: removals and replacements are logged per version; a caught-up reader gets only what changed`, async () => {
    const storage = fresh();
    await storage.write(1, { put: [record("a", 1), record("b", 4), record("c", 7)], model: MODEL });
    await storage.write(2, { put: [record("b", 10)], remove: ["c"], model: MODEL });
    await storage.write(3, { put: [record("d", 13)], model: MODEL });
    assert.deepEqual(await storage.changesSince(3), { version: 3, ids: [] });
    assert.deepEqual(await storage.changesSince(2), { version: 3, ids: ["d"] });
    const since1 = await storage.changesSince(1);
    assert.deepEqual([since1.version, since1.ids.sort()], [3, ["b", "c", "d"]]);
    const byId = Object.fromEntries((await readAll(storage)).records.map((r) => [r.id, [...r.bytes]]));
    assert.deepEqual(byId, { a: [1, 2, 3], b: [10, 11, 12], d: [13, 14, 15] });
  });

  test(`${backend}: a clearing write starts the index and its log again`, async () => {
    const storage = fresh();
    await storage.write(1, { put: [record("a", 1)], model: MODEL });
    await storage.write(2, { put: [record("z", 20)], clear: true, model: MODEL });
    assert.deepEqual((await readAll(storage)).records.map((r) => r.id), ["z"]);
    assert.equal(await storage.changesSince(0), null, "versions before the clear cannot be caught up record by record");
    assert.deepEqual(await storage.changesSince(1), { version: 2, ids: ["z"] });
  });

  test(`${backend}: a large index is read in batches, every record once`, async () => {
    const storage = fresh();
    const put = Array.from({ length: 600 }, (_, i) => record(`doc-${String(i).padStart(4, "0")}`, i % 200));
    await storage.write(1, { put, model: MODEL });
    const { batches, records } = await readAll(storage);
    assert.ok(batches.length >= 3 && batches.every((b) => b.length <= 256), `batches of ${batches.map((b) => b.length)}`);
    assert.deepEqual(records.map((r) => r.id).sort(), put.map((r) => r.id));
  });

  test(`${backend}: the log reaches back a bounded number of versions`, async () => {
    const storage = fresh();
    for (let v = 1; v <= 520; v++) await storage.write(v, { put: [record(`v${v}`, v % 200)], model: MODEL });
    assert.equal(await storage.changesSince(0), null, "too far behind: a full read instead");
    assert.deepEqual(await storage.changesSince(515), { version: 520, ids: ["v516", "v517", "v518", "v519", "v520"] });
  });

  test(`${backend}: remove() deletes the index; other names are untouched`, async () => {
    const [one, other] = [fresh(), fresh()];
    await one.write(1, { put: [record("a", 1)], model: MODEL });
    await other.write(1, { put: [record("b", 2)], model: MODEL });
    await one.remove();
    assert.equal(await one.readHeader(), undefined);
    assert.deepEqual((await readAll(one)).records, []);
    assert.deepEqual((await readAll(other)).records.map((r) => r.id), ["b"]);
  });

  test(`${backend}: lock runs the function and passes its result and failure through`, async () => {
    const storage = fresh();
    assert.equal(await storage.lock(async () => 7), 7);
    await assert.rejects(storage.lock(async () => {
      throw new Error("inside");
    }), /inside/);
    assert.equal(await storage.lock(async () => "after"), "after", "a failed holder releases the lock");
  });
}
