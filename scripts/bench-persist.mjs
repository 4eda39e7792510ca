// npm run bench:persist — what persistence costs in Chromium (IndexedDB) at 1k, 10k and 50k stored
// documents (synthetic int8 vectors made without encoding): ms and bytes written to
// add 8 documents and to remove 1, and ms to reopen (TOKENS per document, default 16); next to the
// whole-snapshot layout (one record
// holding the exported index, rewritten per change, as layout 1 did) measured in the same run.
// "add 8" includes encoding the 8 documents; "of which storing" subtracts the same add without
// `persist`. Speed claims need an idle machine.
import { startServer } from "./serve.mjs";
import { launchChromium } from "../tests/browser/browser.mjs";

const sizes = (process.env.SIZES ?? "1000,10000,50000").split(",").map(Number);
/** Tokens per synthetic document: a short note's passage after pooling. */
const TOKENS = Number(process.env.TOKENS ?? 16);

const server = await startServer(0, "127.0.0.1", []);
const browser = await launchChromium();
try {
  const page = await browser.newPage();
  await page.goto(`http://127.0.0.1:${server.address().port}/www/demo/blank.html`);
  const rows = await page.evaluate(async ([sizes, TOKENS]) => {
    const { Retriever } = await import("/www/lib/index.js");
    const { initWasm } = await import("/www/lib/wasm.js");
    const { syntheticIndex } = await import("/www/pkg/colbert_wasm.js");
    await initWasm();
    // Bytes of every record written: IndexedDB puts, counted as they happen.
    let written = 0;
    const put = IDBObjectStore.prototype.put;
    IDBObjectStore.prototype.put = function (value, key) {
      written += value?.bytes?.length ?? 0;
      return put.call(this, value, key);
    };
    const timed = async (fn) => {
      const [bytes, started] = [written, performance.now()];
      await fn();
      return { ms: performance.now() - started, bytes: written - bytes };
    };
    const notes = (tag) => Array.from({ length: 8 }, (_, i) => ({ id: `${tag}-${i}`, text: `Note ${i} (${tag}) about the garden shed and the bicycle.` }));
    const options = { worker: false, encoders: 1 };
    (await Retriever.load("/models/default/", options)).free(); // the bundle into the offline cache
    const modelLoad = await timed(async () => (await Retriever.load("/models/default/", options)).free());
    const unpersisted = await Retriever.load("/models/default/", options);
    const out = [];
    for (const docs of sizes) {
      const name = `bench-persist-${docs}`;
      await Retriever.deleteIndex(name);
      const r = await Retriever.load("/models/default/", { ...options, persist: name });
      await r.importIndex(syntheticIndex(docs, TOKENS, 128, r.modelSha256));
      const add = await timed(() => r.add(notes(`add-${docs}`)));
      const encodeOnly = await timed(() => unpersisted.add(notes(`plain-${docs}`)));
      const remove = await timed(() => r.remove("7"));
      // Layout 1: the whole index exported and written as one record, per change.
      const db = await new Promise((res) => (indexedDB.open("colbert-wasm").onsuccess = (e) => res(e.target.result)));
      const snapshot = await timed(async () => {
        const bytes = await r.exportIndex();
        await new Promise((res, rej) => {
          const tx = db.transaction("indexes", "readwrite", { durability: "strict" });
          tx.objectStore("indexes").put({ version: 1, bytes }, `${name}-snapshot`);
          tx.oncomplete = res;
          tx.onerror = () => rej(tx.error);
        });
      });
      r.free();
      const reopen = await timed(async () => (await Retriever.load("/models/default/", { ...options, persist: name })).free());
      out.push({ docs, add, storing: add.ms - encodeOnly.ms, remove, snapshot, reopen, modelLoad: modelLoad.ms });
      await Retriever.deleteIndex(name);
    }
    unpersisted.free();
    return out;
  }, [sizes, TOKENS]);
  console.log(`Chromium, IndexedDB, synthetic int8 documents of ${TOKENS} tokens (${(TOKENS * 132 / 1024).toFixed(1)} KB of vectors each)`);
  console.log("| stored docs | add 8: ms (of which storing) | add 8: KB written | remove 1: ms, KB | whole-snapshot write per change: ms, KB | reopen ms (model alone) |");
  console.log("|---|---|---|---|---|---|");
  const kb = (b) => (b / 1024).toFixed(0);
  for (const r of rows) {
    console.log(`| ${r.docs} | ${r.add.ms.toFixed(0)} (${r.storing.toFixed(0)}) | ${kb(r.add.bytes)} | ${r.remove.ms.toFixed(0)}, ${kb(r.remove.bytes)} | ${r.snapshot.ms.toFixed(0)}, ${kb(r.snapshot.bytes)} | ${r.reopen.ms.toFixed(0)} (${r.modelLoad.toFixed(0)}) |`);
  }
  const [first, last] = [rows[0], rows.at(-1)];
  console.log(`adding 8 documents at ${last.docs} vs ${first.docs} stored: ${(last.add.ms / first.add.ms).toFixed(2)}x the time (goal <= 2), ${(last.add.bytes / first.add.bytes).toFixed(2)}x the bytes`);
} finally {
  await browser.close();
  server.close();
}
