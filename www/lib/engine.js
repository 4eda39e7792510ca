// The engine: wraps the wasm `Retriever` with plain-data methods, so the same calls can run in this
// thread or, through worker.js, in a Web Worker. Commits go through the storage interface (storage.js),
// traps through recovery (recovery.js).
import { WasmRetriever, freshWasmRetriever, initWasm, isNode, wasmBuild, wasmShared } from "./wasm.js";
import { fetchBundle } from "./bundle.js";
import { abortError, engineError, isTrap, yieldToEvents } from "./recovery.js";
import { openStorage } from "./storage.js";

export { isNode };

/** A typical query (about 30 tokens): the warm-up runs the kernels a query runs. */
const WARM_UP_TEXT = "does a low dose of aspirin taken daily over twelve weeks reduce inflammation markers in adults with a history of heart disease";

/** Engine methods whose last argument is a progress callback (the worker relays it as messages). */
export const PROGRESS_METHODS = new Set(["open", "add", "encodeBatch"]);

export class LocalEngine {
  #inner;
  /** How this engine was opened: enough to open it again in a fresh wasm instance after a trap. */
  #opened;
  #abortRequested = false;
  #writes = Promise.resolve();
  /** An encoder pool's engine: its index exported while empty, to return to between batches. */
  #emptyIndex = null;

  /** With `persist`: where the index is stored. */
  #storage = null;
  /** With `persist`: the index name and the stored version this engine matches. */
  #saved = null;
  /** With `storeText`: each document's text, stored with its record. */
  #texts = new Map();
  /** With `persist`: stored records found damaged at load, left out of the index. */
  #damaged = [];

  /**
   * source: { url } or { bytes }; options: { precision, gpu, backend, persist, poolFactor, storeText }
   * (see index.d.ts);
   * onProgress(loaded, total): bytes of the bundle's files fetched so far.
   */
  static async open(source, options = {}, onProgress = undefined) {
    await initWasm();
    const engine = new LocalEngine();
    engine.#opened = { source, options };
    engine.#inner = await engine.#retriever(WasmRetriever, onProgress);
    if (options.gpu ?? !isNode) await engine.#openGpu(options.gpu === "allow-fallback");
    if (options.persist) await engine.#attachStorage(String(options.persist));
    return engine;
  }

  /** A wasm Retriever for the bundle this engine was opened with (fetched again through the cache). */
  async #retriever(WasmClass, onProgress) {
    const { source, options } = this.#opened;
    const { manifest, model, tokenizer, modelData = {} } = source.url
      ? await fetchBundle(source.url, onProgress)
      : source.bytes;
    const asBytes = (x) => (typeof x === "string" ? new TextEncoder().encode(x) : x);
    const dataRoles = Object.keys(modelData);
    const inner = WasmClass.fromBundle(asBytes(manifest), model, tokenizer, options.precision,
      dataRoles, dataRoles.map((role) => modelData[role]));
    if (options.backend) inner.setBackend(options.backend);
    if (options.poolFactor) inner.setPoolFactor(options.poolFactor);
    return inner;
  }

  /**
   * Runs `call` on the wasm retriever. A wasm trap (a bug, or memory exhausted inside the model)
   * leaves that instance in an unknown state, so it is replaced: a fresh instance gets the bundle
   * (from the offline cache) and the last committed index (read from the old instance, or the stored
   * copy with `persist`), and the call rejects with an `EngineError`; the next call works.
   */
  async #guarded(call) {
    try {
      return await call(this.#inner);
    } catch (err) {
      if (!isTrap(err)) throw err;
      const recovered = await this.#recover();
      throw engineError(err, recovered);
    }
  }

  async #recover() {
    let bytes = null;
    if (!this.#storage) {
      try {
        bytes = this.#inner.exportIndexForRecovery();
      } catch {
        bytes = null; // the old instance cannot even be read: only a stored copy could help
      }
    }
    const fresh = await this.#retriever(await freshWasmRetriever());
    if (bytes?.length) fresh.importIndex(bytes);
    this.#inner = fresh; // the trapped instance is dropped, not freed: its state is not trusted
    // With `persist`, the stored index (read without the lock, which a trapped commit may hold: what
    // another tab writes meanwhile is applied again by the next catch-up, and applying is idempotent).
    if (this.#storage) await this.#loadStored();
    const { gpu } = this.#opened.options;
    if (gpu ?? !isNode) await this.#openGpu(gpu === "allow-fallback");
    return { indexRestored: bytes !== null || this.#storage !== null };
  }

  async #attachStorage(name) {
    this.#storage = openStorage(name);
    this.#saved = { name, version: 0 };
    try {
      await this.#storage.lock(() => this.#loadStored());
    } catch (err) {
      if (err?.name === "IndexError") {
        err.message += ` (stored index '${name}': call Retriever.deleteIndex('${name}') and add the documents again)`;
      }
      throw err;
    }
  }

  /**
   * Reads the whole stored index: its document records a batch at a time (a damaged record is left
   * out and listed in `damaged`), or a layout-1 record, which is migrated to records.
   */
  async #loadStored() {
    const header = await this.#storage.readHeader();
    this.#inner.clear();
    this.#texts.clear();
    this.#damaged = [];
    if (!header) {
      const legacy = await this.#storage.readLegacy();
      if (legacy) await this.#migrate(legacy);
      return;
    }
    this.#checkHeader(header);
    await this.#storage.readDocuments((records) => this.#applyRecords(records));
    this.#restoreWords();
    this.#saved.version = header.version;
  }

  /** Records of an earlier version hold no words for BM25: rebuilt from the texts kept with
   *  `storeText`; without its text a document is found by late interaction only until re-added. */
  #restoreWords() {
    for (const id of this.#inner.documentsWithoutWords()) {
      const text = this.#texts.get(id);
      try {
        if (text !== undefined) this.#inner.restoreWords(id, text);
      } catch (err) {
        if (err?.name !== "IndexError") throw err; // a kept text that is not the encoded one: skipped
      }
    }
  }

  /** A stored index of another model or format cannot be read record by record: refused whole. */
  #checkHeader(header) {
    const model = this.#model();
    const problem = header.format !== 2
      ? `it has layout ${header.format}, which this version cannot read`
      : header.modelSha256 && header.modelSha256 !== model.modelSha256
        ? `it was made with another model (sha256 ${header.modelSha256}, this one is ${model.modelSha256})`
        : null;
    if (problem) {
      const err = new Error(`the stored index cannot be used: ${problem}`);
      err.name = "IndexError";
      throw err;
    }
  }

  /** What the header records of this engine's index. */
  #model() {
    return { modelSha256: this.#inner.modelSha256, precision: this.#inner.precision };
  }

  /** Layout 1 to 2: the whole-index record becomes one record per document, in one transaction. */
  async #migrate(legacy) {
    this.#inner.importIndex(legacy.bytes); // a damaged one is an IndexError, as before
    const version = legacy.version + 1;
    await this.#storage.write(version, { put: this.#records(this.#inner.documentIds()), clear: true, dropLegacy: true, model: this.#model() });
    this.#saved.version = version;
  }

  /** Stores stored records in the index (and their texts); damaged ones are listed, not stored. */
  #applyRecords(records) {
    const damaged = this.#inner.applyDocuments(records.map((r) => r.id), records.map((r) => r.bytes));
    const left = new Set(damaged.map((d) => d.id));
    for (const r of records) {
      if (r.text !== undefined && !left.has(r.id)) this.#texts.set(r.id, r.text);
    }
    for (const d of damaged) {
      this.#damaged.push({ name: "IndexError", id: d.id, message: `the stored record of document '${d.id}' is damaged and was left out: ${d.message}` });
    }
  }

  /** The records of these documents as they are now (ids not stored are left out). */
  #records(ids) {
    const bytes = this.#inner.exportDocuments(ids);
    return ids.flatMap((id, i) => (bytes[i] ? [{ id, bytes: bytes[i], text: this.#texts.get(id) }] : []));
  }

  /** Applies what another tab (or an earlier visit) stored since this engine last read or wrote. */
  async #catchUp() {
    const header = await this.#storage.readHeader();
    if (!header || header.version === this.#saved.version) return;
    const changes = await this.#storage.changesSince(this.#saved.version);
    if (!changes) return this.#loadStored(); // too far behind for the log: read everything
    const found = await this.#storage.readDocumentsById(changes.ids);
    for (const { id } of found.filter((f) => !f.record)) {
      this.#inner.remove(id);
      this.#texts.delete(id);
    }
    this.#applyRecords(found.filter((f) => f.record).map((f) => ({ id: f.id, ...f.record })));
    this.#saved.version = changes.version;
  }

  /**
   * Applies `change` (which touches the documents `ids`; `null`: possibly all) to the index and, with
   * `persist`, stores those documents' records in one transaction under the index's lock. If the write
   * fails (quota), those documents go back to their stored state and the error is thrown: memory and
   * storage never disagree.
   */
  #commit(ids, change) {
    // One change at a time: an add yields between passages, and another add or remove must not
    // slip in between its encoding and its commit.
    const run = this.#writes.then(() => this.#commitNow(ids, change));
    this.#writes = run.catch(() => {});
    return run;
  }

  async #commitNow(ids, change) {
    if (!this.#storage) return change();
    return this.#storage.lock(async () => {
      await this.#catchUp();
      const touched = ids ?? this.#inner.documentIds();
      const before = this.#records(touched);
      const textsBefore = new Map(this.#texts);
      const result = await change();
      const after = ids ? this.#records(ids) : this.#records(this.#inner.documentIds());
      const kept = new Set(after.map((r) => r.id));
      const remove = ids ? before.filter((r) => !kept.has(r.id)).map((r) => r.id) : [];
      try {
        await this.#storage.write(this.#saved.version + 1, { put: after, remove, clear: !ids, model: this.#model() });
      } catch (err) {
        this.#restore(ids && touched, before, textsBefore);
        throw err;
      }
      this.#saved.version += 1;
      return result;
    });
  }

  /** Puts the `touched` documents (null: all) back as the `before` records had them. */
  #restore(touched, before, textsBefore) {
    if (touched) touched.forEach((id) => this.#inner.remove(id));
    else this.#inner.clear();
    this.#inner.applyDocuments(before.map((r) => r.id), before.map((r) => r.bytes));
    this.#texts = textsBefore;
  }

  /** With `storeText`: keeps these documents' texts (stored with their records by the commit). */
  #keepTexts(ids, texts) {
    if (this.#opened.options.storeText) ids.forEach((id, i) => this.#texts.set(id, texts[i]));
  }

  /** A missing or refused GPU is not an error: searches stay on the CPU and `gpuError` says why. */
  async #openGpu(allowFallback) {
    if (!globalThis.navigator?.gpu) {
      this.#inner.gpuUnavailable("this environment has no WebGPU (navigator.gpu)");
      return;
    }
    try {
      await this.#inner.enableGpu(allowFallback);
    } catch (err) {
      this.#inner.gpuUnavailable(err?.message ?? String(err));
    }
  }


  /**
   * Adds a batch: tokenised and checked, then encoded one passage at a time (`onProgress(done, total)`
   * in passages, and a chance for other messages, such as `abortAdd`, between passages), then
   * committed whole. An abort stops at the next passage and commits nothing of the batch.
   */
  add(ids, texts, metadata, onProgress) {
    return this.#commit(ids, () => this.#guarded(async (inner) => {
      this.#abortRequested = false;
      const job = inner.beginAdd(ids, texts, metadata);
      try {
        onProgress?.(0, job.passagesTotal);
        let lastYield = performance.now();
        while (job.passagesDone < job.passagesTotal) {
          inner.encodeStep(job, 1);
          onProgress?.(job.passagesDone, job.passagesTotal);
          if (performance.now() - lastYield > 20) {
            await yieldToEvents();
            lastYield = performance.now();
          }
          if (this.#abortRequested) throw abortError();
        }
      } catch (err) {
        job.free();
        throw err;
      }
      const report = inner.commitAdd(job);
      this.#keepTexts(ids, texts);
      return report;
    }));
  }

  /**
   * For an encoder pool (pool.js): encodes a batch into this engine's own index, which is empty
   * between batches, and returns it as an exported index file for the engine that keeps the index.
   */
  async encodeBatch(ids, texts, metadata, onProgress) {
    this.#emptyIndex ??= this.#inner.exportIndex();
    try {
      await this.add(ids, texts, metadata, onProgress);
      return this.#inner.exportIndex();
    } finally {
      this.#inner.importIndex(this.#emptyIndex);
    }
  }

  /** For each document, whether its text is stored as given (a pool does not encode those). */
  unchangedOf(ids, texts) {
    return this.#guarded((inner) => Array.from(inner.unchangedOf(ids, texts), Boolean));
  }

  /**
   * Commits a pool's encoded batch (the documents `encodedIds`, whose texts are `encodedTexts`) with
   * the batch's unchanged documents' metadata (`ids`, `texts`, `metadata`), as one change.
   */
  commitEncoded(bytes, ids, texts, metadata, encodedIds = [], encodedTexts = []) {
    return this.#commit([...encodedIds, ...ids], () => this.#guarded((inner) => {
      const report = inner.commitEncoded(bytes, ids, texts, metadata);
      this.#keepTexts([...encodedIds, ...ids], [...encodedTexts, ...texts]);
      return report;
    }));
  }

  /** Stops the add in progress at its next passage (it rejects with an AbortError). */
  abortAdd() {
    this.#abortRequested = true;
  }

  remove(id) {
    return this.#commit([id], () => this.#guarded((inner) => {
      this.#texts.delete(id);
      return inner.remove(id);
    }));
  }

  /** Every stored document as `{ id, text, metadata }`, in index order (`text` with `storeText`). */
  documents() {
    return this.#guarded((inner) => inner.documentIds().map((id) => ({ id, text: this.#texts.get(id), metadata: inner.documentMetadata(id) })));
  }

  /** `{ id, text, metadata }` of a stored document (`text` with `storeText`, else undefined), or null. */
  getDocument(id) {
    return this.#guarded((inner) => {
      const metadata = inner.documentMetadata(id);
      return metadata === undefined ? null : { id, text: this.#texts.get(id), metadata };
    });
  }

  explain(query, text, passageStart) {
    return this.#guarded((inner) => inner.explain(query, text, passageStart));
  }

  exportIndex() {
    return this.#guarded((inner) => inner.exportIndex());
  }

  /** Replaces the whole index (texts kept with `storeText` are dropped: the file has none); `ids` and
   *  `texts` rebuild a version-1 file's words (see the wasm `importIndex`). */
  importIndex(bytes, ids = [], texts = []) {
    return this.#commit(null, () => this.#guarded((inner) => {
      inner.importIndex(bytes, ids, texts);
      this.#texts.clear();
    }));
  }

  destroyGpuForTesting() {
    this.#inner.destroyGpuForTesting();
  }

  /** A deliberate wasm trap (see the wasm `trapForTesting`), to test the recovery above. */
  trapForTesting(when) {
    return this.#guarded((inner) => inner.trapForTesting(when));
  }

  setBackend(name) {
    return this.#guarded((inner) => inner.setBackend(name));
  }

  async search(query, k, filter, mode) {
    const results = await this.#guarded((inner) => inner.search(query, k, filter, mode));
    if (this.#opened.options.storeText) for (const hit of results.hits) hit.text = this.#texts.get(hit.id);
    return results;
  }

  encodeIds(ids) {
    return this.#guarded((inner) => inner.encodeIds(ids));
  }

  tokenize(text) {
    return this.#guarded((inner) => inner.tokenIds(text));
  }

  /**
   * One throwaway encode of a query-sized text; resolves to its time in ms. The first runs of the
   * graph cost more than later ones (V8 tiers the hot wasm functions up; see warmup.js).
   */
  warmUp() {
    return this.#guarded((inner) => {
      const started = performance.now();
      inner.encodeIds(inner.tokenIds(WARM_UP_TEXT));
      return performance.now() - started;
    });
  }

  stats() {
    const r = this.#inner;
    return {
      size: r.size,
      passageCount: r.passageCount,
      tokenCount: r.tokenCount,
      backend: r.backend,
      backendMeasurement: r.backendMeasurement ?? null,
      precision: r.precision,
      modelSha256: r.modelSha256,
      wasmBuild,
      wasmShared,
      gpuAdapter: r.gpuAdapter ?? null,
      gpuError: r.gpuError ?? null,
      persisted: this.#saved ? { name: this.#saved.name, version: this.#saved.version } : null,
      damaged: this.#damaged,
    };
  }

  free() {
    this.#inner.free();
  }
}

/** The external data files an ONNX model's bytes name (e.g. ["model.onnx.data"]). */
export async function modelDataLocations(model) {
  await initWasm();
  return WasmRetriever.modelDataLocations(model);
}

/** A bundle manifest (JSON text) for a real ColBERT export; see make-manifest.mjs. */
export async function manifestFromExport(name, configName, config, tokenizer, files, dim) {
  await initWasm();
  return WasmRetriever.manifestFromExport(name, configName, config, tokenizer, JSON.stringify(files), dim);
}
