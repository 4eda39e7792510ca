// Persistence in real Chromium, one IndexedDB record per document: an index survives reloads with
// identical results, loads around a damaged record (named with an IndexError), migrates an older
// whole-index record, keeps its last state when the quota refuses a write or the tab closes mid-batch,
// merges two tabs' writes, and the model bundle loads from the offline cache with the network blocked.
import { test } from "node:test";
import assert from "node:assert/strict";
import { serveAndLaunch } from "./browser.mjs";

const session = serveAndLaunch();

const NOTES = [
  ["bread", "Sourdough needs a starter fed with flour and water every day.", { folder: "home", tags: ["food"] }],
  ["bike", "Replace the bicycle chain when it stretches past 0.5 percent.", { folder: "home", tags: ["bike"] }],
  ["tax", "File the quarterly tax return before the end of April.", { folder: "work", tags: ["money"] }],
];

async function openPage(context) {
  const page = await context.newPage();
  await page.goto(session.url("/www/demo/blank.html"));
  return page;
}

/** Runs `fn(Retriever, arg)` in the page with the package imported. */
function inPage(page, fn, arg) {
  return page.evaluate(
    async ([source, arg]) => {
      const { Retriever } = await import("/www/lib/index.js");
      return new Function(`return (${source})`)()(Retriever, arg);
    },
    [fn.toString(), arg],
  );
}

test("a persisted index reopens after a reload with identical results and filters", async () => {
  const context = await session.browser().newContext();
  const page = await openPage(context);
  const before = await inPage(page, async (Retriever, notes) => {
    const r = await Retriever.load("/models/default/", { persist: "notes" });
    const report = await r.add(notes.map(([id, text, metadata]) => ({ id, text, metadata })));
    const again = await r.add([{ id: "bread", text: notes[0][1], metadata: { folder: "kitchen" } }]);
    return { report, again, hits: await r.search("sourdough starter", 3), persisted: r.persisted };
  }, NOTES);
  assert.deepEqual(before.report, { encoded: 3, unchanged: 0 });
  assert.deepEqual(before.again, { encoded: 0, unchanged: 1 });
  await page.reload();
  const after = await inPage(page, async (Retriever) => {
    const r = await Retriever.load("/models/default/", { persist: "notes" });
    const work = await r.search("deadline", 3, { filter: { folder: "work" } });
    return { size: r.size, hits: await r.search("sourdough starter", 3), work: work.map((h) => h.id), persisted: r.persisted };
  });
  assert.equal(after.size, 3);
  assert.deepEqual(after.hits, before.hits, "identical ids, scores, passages and metadata after reload");
  assert.deepEqual(after.hits[0].metadata, { folder: "kitchen" });
  assert.deepEqual(after.work, ["tax"]);
  assert.deepEqual(after.persisted, before.persisted);
  await context.close();
});

test("a damaged record is reported by id and the rest loads; a damaged layout-1 index is refused with a way out", async () => {
  const context = await session.browser().newContext();
  const page = await openPage(context);
  const result = await inPage(page, async (Retriever) => {
    const r = await Retriever.load("/models/default/", { persist: "damaged" });
    await r.add([{ id: "a", text: "a note about sourdough" }, { id: "b", text: "a note about bicycles" }]);
    // Opened once the package has created the database in its current layout.
    const db = await new Promise((res) => (indexedDB.open("colbert-wasm").onsuccess = (e) => res(e.target.result)));
    const get = (store, key) => new Promise((res) => (db.transaction(store).objectStore(store).get(key).onsuccess = (e) => res(e.target.result)));
    const put = (store, value, key) => new Promise((res) => (db.transaction(store, "readwrite").objectStore(store).put(value, key).onsuccess = res));
    const legacyBytes = await r.exportIndex();
    r.free();
    const record = await get("documents", ["damaged", "b"]);
    record.bytes[record.bytes.length - 40] ^= 0xff;
    await put("documents", record, ["damaged", "b"]);
    const partial = await Retriever.load("/models/default/", { persist: "damaged" });
    const out = { size: partial.size, damaged: partial.damaged, top: (await partial.search("sourdough", 1))[0]?.id };
    partial.free();
    // A layout-1 record (an older version's whole-index record) that is damaged cannot be split.
    legacyBytes[legacyBytes.length - 40] ^= 0xff;
    await put("indexes", { version: 3, bytes: legacyBytes }, "old-damaged");
    try {
      await Retriever.load("/models/default/", { persist: "old-damaged" });
    } catch (err) {
      out.error = { name: err.name, message: err.message };
    }
    await Retriever.deleteIndex("old-damaged");
    out.freshSize = (await Retriever.load("/models/default/", { persist: "old-damaged" })).size;
    return out;
  });
  assert.equal(result.size, 1, "the undamaged document loads");
  assert.equal(result.top, "a");
  assert.deepEqual(result.damaged.map((d) => [d.name, d.id]), [["IndexError", "b"]]);
  assert.match(result.damaged[0].message, /'b'.*damaged.*checksum/);
  assert.equal(result.error?.name, "IndexError");
  assert.match(result.error.message, /checksum/);
  assert.match(result.error.message, /deleteIndex\('old-damaged'\)/);
  assert.equal(result.freshSize, 0);
  await context.close();
});

test("a layout-1 stored index is migrated to per-document records on first open, without encoding", async () => {
  const context = await session.browser().newContext();
  const page = await openPage(context);
  const result = await inPage(page, async (Retriever, notes) => {
    const source = await Retriever.load("/models/default/", { worker: false });
    await source.add(notes.map(([id, text, metadata]) => ({ id, text, metadata })));
    (await Retriever.load("/models/default/", { persist: "create-the-database", worker: false })).free();
    const db = await new Promise((res) => (indexedDB.open("colbert-wasm").onsuccess = (e) => res(e.target.result)));
    const bytes = await source.exportIndex();
    await new Promise((res) => (db.transaction("indexes", "readwrite").objectStore("indexes").put({ version: 5, bytes }, "legacy").onsuccess = res));
    const migrated = await Retriever.load("/models/default/", { persist: "legacy" });
    const count = (store) => new Promise((res) => (db.transaction(store).objectStore(store).count(IDBKeyRange.bound(["legacy"], ["legacy", []])).onsuccess = (e) => res(e.target.result)));
    const legacyLeft = await new Promise((res) => (db.transaction("indexes").objectStore("indexes").get("legacy").onsuccess = (e) => res(e.target.result)));
    return {
      size: migrated.size,
      persisted: migrated.persisted,
      same: JSON.stringify(await migrated.search("sourdough", 3)) === JSON.stringify(await source.search("sourdough", 3)),
      records: await count("documents"),
      legacyLeft: legacyLeft ?? null,
    };
  }, NOTES);
  assert.deepEqual(result, { size: 3, persisted: { name: "legacy", version: 6 }, same: true, records: 3, legacyLeft: null });
  await context.close();
});

test("a write refused for quota is a QuotaError and the last stored state stays", async () => {
  const context = await session.browser().newContext();
  const page = await openPage(context);
  const result = await inPage(page, async (Retriever) => {
    // In-thread, so this page's IndexedDB can be made to refuse writes as a full disk would.
    const r = await Retriever.load("/models/default/", { persist: "quota", worker: false });
    await r.add([{ id: "kept", text: "Sourdough needs a starter." }]);
    const put = IDBObjectStore.prototype.put;
    IDBObjectStore.prototype.put = function () {
      throw new DOMException("simulated: the quota is exhausted", "QuotaExceededError");
    };
    let error;
    try {
      await r.add([{ id: "lost", text: "This note does not fit." }]);
    } catch (err) {
      error = err.name;
    }
    IDBObjectStore.prototype.put = put;
    const sizeAfterFailure = r.size;
    const reopened = await Retriever.load("/models/default/", { persist: "quota", worker: false });
    return { error, sizeAfterFailure, reopenedSize: reopened.size, top: (await reopened.search("sourdough", 1))[0]?.id };
  });
  assert.deepEqual(result, { error: "QuotaError", sizeAfterFailure: 1, reopenedSize: 1, top: "kept" });
  await context.close();
});

test("a tab closed mid-batch leaves a whole earlier state; two tabs never lose each other's notes", async () => {
  const context = await session.browser().newContext();
  const writer = await openPage(context);
  // Start a long add (8 notes per committed chunk) and close the tab while it runs.
  await writer.evaluate(async () => {
    const { Retriever } = await import("/www/lib/index.js");
    const r = await Retriever.load("/models/default/", { persist: "closing" });
    // Far more than can be encoded before the close lands, so the stored state must be partial.
    const notes = Array.from({ length: 2000 }, (_, i) => ({ id: `n${i}`, text: `Note ${i} about item ${i * 3}.` }));
    window.adding = r.add(notes, { onProgress: (done) => (window.done = done) });
    await new Promise((resolve) => {
      const poll = () => (window.done >= 16 ? resolve() : setTimeout(poll, 20));
      poll();
    });
  });
  await writer.close();
  const reader = await openPage(context);
  const reopened = await inPage(reader, async (Retriever) => {
    const r = await Retriever.load("/models/default/", { persist: "closing" });
    return { size: r.size, version: r.persisted.version };
  });
  assert.ok(reopened.size >= 16 && reopened.size % 8 === 0, `whole chunks only: ${reopened.size}`);
  assert.ok(reopened.size < 2000, "the close cut the batch: a partial state, not the whole batch");
  assert.equal(reopened.version, reopened.size / 8);

  const [a, b] = [await openPage(context), await openPage(context)];
  const load = (page) => inPage(page, async (Retriever) => {
    window.r = await Retriever.load("/models/default/", { persist: "shared" });
  });
  await Promise.all([load(a), load(b)]);
  const addMany = (page, prefix) => page.evaluate(async (prefix) => {
    for (let i = 0; i < 4; i++) await window.r.add([{ id: `${prefix}${i}`, text: `${prefix} note ${i}` }]);
  }, prefix);
  await Promise.all([addMany(a, "a"), addMany(b, "b")]);
  const third = await openPage(context);
  const merged = await inPage(third, async (Retriever) => (await Retriever.load("/models/default/", { persist: "shared" })).size);
  assert.equal(merged, 8, "both tabs' notes are stored");
  await context.close();
});

test("the model bundle loads from the offline cache with the network blocked, and a damaged cached file is fetched again", async () => {
  const context = await session.browser().newContext();
  const first = await openPage(context);
  await inPage(first, async (Retriever) => {
    (await Retriever.load("/models/default/", { worker: false })).free();
  });
  await first.close();
  const modelRequests = [];
  await context.route("**/models/**", (route) => {
    modelRequests.push(route.request().url());
    return route.abort("internetdisconnected");
  });
  const offline = await openPage(context);
  const hits = await inPage(offline, async (Retriever) => {
    const r = await Retriever.load("/models/default/", { worker: false });
    await r.add([{ id: "a", text: "Sourdough needs a starter." }, { id: "b", text: "Bicycle chain." }]);
    return (await r.search("bread starter", 2)).map((h) => h.id);
  });
  assert.deepEqual(hits, ["a", "b"]);
  assert.ok(modelRequests.length >= 1, "the network was tried and blocked");
  await context.unroute("**/models/**");

  const fetched = [];
  const damaged = await openPage(context);
  damaged.on("request", (req) => req.url().endsWith("model.onnx") && fetched.push(req.url()));
  const size = await inPage(damaged, async (Retriever) => {
    const cache = await caches.open("colbert-wasm-bundles");
    const url = new URL("/models/default/model.onnx", location.href).href;
    await cache.put(url, new Response(new Uint8Array([1, 2, 3])));
    const r = await Retriever.load("/models/default/", { worker: false });
    const recached = new Uint8Array(await (await cache.match(url)).arrayBuffer()).length;
    return { recached, modelSha256: r.modelSha256.length };
  });
  assert.equal(fetched.length, 1, "the damaged cached model was fetched again");
  assert.ok(size.recached > 1_000_000, "and the good copy cached");
  await context.close();
});
