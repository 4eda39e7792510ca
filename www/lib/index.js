// colbert-wasm: the package entry. In browsers the model runs in a Web Worker (worker.js), so no call
// blocks the page; in Node it runs in-thread. All retrieval logic lives in Rust (www/pkg).
import { LocalEngine, PROGRESS_METHODS, isNode } from "./engine.js";
import { EncoderPool, addInOrder, addInPool, defaultEncoders } from "./pool.js";
import { openStorage } from "./storage.js";
import { compileWasm } from "./wasm.js";
import { yieldToEvents } from "./recovery.js";
import { runUntilSettled } from "./warmup.js";
import {
  checkBytes, checkDocuments, checkEncoders, checkFilter, checkMode, checkTexts, checkPoolFactor, checkId, checkK, checkMaxDocumentLength, checkOffset, checkString, checkTokenIds,
} from "./validate.js";

const ADD_CHUNK = 8;

/**
 * Forwards engine calls to worker.js (a Web Worker, or a worker_threads Worker in Node) and resolves
 * them by message id. A worker that fails or is stopped rejects every call in flight with an
 * `EngineError` whose `workerLost` is true, and takes no more calls.
 */
class WorkerEngine {
  #worker;
  #lostWhy = "";
  #pending = new Map();
  #nextId = 0;
  stats = {};
  lost = false;

  static async start() {
    const engine = new WorkerEngine(await WorkerEngine.#spawn());
    // One compilation for every worker: the page compiles, each worker instantiates (its own memory).
    // Best effort: a worker that cannot take the module (not cloneable here) compiles its own.
    try {
      engine.call("shareCompiledWasm", [await compileWasm()]).catch(() => {});
    } catch {}
    return engine;
  }

  static async #spawn() {
    // Written out in full so bundlers (Vite, webpack) recognise the worker and bundle its imports.
    if (!isNode) return new Worker(new URL("./worker.js", import.meta.url), { type: "module" });
    const { Worker: NodeWorker } = await import("node:worker_threads");
    // Not the pattern above, so bundlers for browsers leave this Node-only URL alone.
    const script = "./worker.js";
    return new NodeWorker(new URL(script, import.meta.url));
  }

  constructor(worker) {
    this.#worker = worker;
    const onMessage = (data) => {
      const call = this.#pending.get(data.id);
      if (!call) return;
      if (data.progress) return call.onProgress?.(...data.progress);
      this.#settled(data.id);
      if (data.error) {
        const err = new Error(data.error.message);
        err.name = data.error.name;
        call.reject(err);
      } else {
        this.stats = data.stats;
        call.resolve(data.result);
      }
    };
    const onFailure = (why) => this.#lose(`the retriever's worker failed: ${why?.message ?? why ?? "unknown error"}`);
    if (isNode) {
      worker.on("message", onMessage);
      worker.on("error", onFailure);
      worker.on("exit", (code) => this.#lose(`the retriever's worker exited (code ${code})`));
      worker.unref(); // an idle worker does not keep Node running; a call refs it (#settled unrefs)
    } else {
      worker.onmessage = ({ data }) => onMessage(data);
      worker.onerror = (event) => onFailure(event);
    }
  }

  call(method, args = [], onProgress = undefined) {
    if (this.lost) return Promise.reject(lostError(`the retriever's worker is gone: ${this.#lostWhy}`));
    return new Promise((resolve, reject) => {
      const id = this.#nextId++;
      this.#pending.set(id, { resolve, reject, onProgress });
      if (isNode && this.#pending.size === 1) this.#worker.ref();
      this.#worker.postMessage({ id, method, args });
    });
  }

  #settled(id) {
    this.#pending.delete(id);
    if (isNode && this.#pending.size === 0) this.#worker.unref();
  }

  #lose(why) {
    if (this.lost) return;
    this.lost = true;
    this.#lostWhy = why;
    for (const call of this.#pending.values()) call.reject(lostError(why));
    this.#pending.clear();
    this.#worker.terminate();
  }

  /** Stops the worker as a crash would (calls in flight reject); also how `terminate` ends it. */
  kill() {
    this.#lose("the retriever's worker was stopped");
  }

  terminate() {
    this.#lose(FREED);
  }
}

const FREED = "this Retriever was freed (free() was called): load another to go on";

function lostError(message) {
  const err = new Error(message);
  err.name = "EngineError";
  err.workerLost = true;
  return err;
}

/** Runs a LocalEngine in this thread behind the same `call` interface as WorkerEngine. */
class InThreadEngine {
  #engine;
  #freed = false;
  stats = {};

  async call(method, args = [], onProgress = undefined) {
    if (this.#freed) throw lostError(FREED); // not wasm-bindgen's "null pointer passed to rust"
    let result;
    const callArgs = PROGRESS_METHODS.has(method) ? [...args, onProgress] : args;
    if (method === "open") this.#engine = await LocalEngine.open(...callArgs);
    else result = await this.#engine[method](...callArgs);
    this.stats = this.#engine.stats();
    return result;
  }

  terminate() {
    this.#freed = true;
    this.#engine?.free();
  }
}

function bundleUrl(location) {
  if (location instanceof URL) return location.href;
  const dir = location.endsWith("/") ? location : location + "/";
  if (isNode && !/^[a-z]+:/i.test(dir)) return new URL(dir, `file://${process.cwd()}/`).href;
  return new URL(dir, globalThis.location?.href).href;
}

function engineOptions({ precision, gpu, backend, persist, poolFactor, storeText }) {
  return { precision, gpu, backend, persist, poolFactor: checkPoolFactor(poolFactor), storeText: Boolean(storeText) };
}

function pickEngine(options) {
  const useWorker = options.worker ?? (!isNode && typeof Worker !== "undefined");
  return useWorker ? WorkerEngine.start() : new InThreadEngine();
}

export class Retriever {
  #engine;
  #maxDocumentLength;
  /** With more than one encoder: the pool that encodes `add`'s chunks in parallel (pool.js). */
  #pool;
  /** The warm-up in progress or done (`warmUp`). */
  #warming;

  constructor(engine, options = {}, pool = null) {
    this.#engine = engine;
    this.#maxDocumentLength = checkMaxDocumentLength(options.maxDocumentLength);
    this.#pool = pool;
  }

  /**
   * Loads a bundle folder (manifest.json + the files it names) from a URL or, in Node, a path.
   * Options (all optional): worker, precision, gpu, backend, persist, onProgress: see index.d.ts.
   */
  static async load(location, options = {}) {
    if (!(location instanceof URL)) checkString(location, "location");
    checkMaxDocumentLength(options.maxDocumentLength);
    checkEncoders(options.encoders);
    const engine = await pickEngine(options);
    const source = { url: bundleUrl(location) };
    await engine.call("open", [source, engineOptions(options)], options.onProgress);
    return Retriever.#warmed(engine, source, options);
  }

  /**
   * Loads a bundle from its files' bytes: `modelData` maps the manifest's data roles (`model_data`, …)
   * to the model's external data files. Checksums are verified against the manifest.
   */
  static async fromBytes({ manifest, model, tokenizer, modelData }, options = {}) {
    checkMaxDocumentLength(options.maxDocumentLength);
    checkEncoders(options.encoders);
    const engine = await pickEngine(options);
    const source = { bytes: { manifest, model, tokenizer, modelData } };
    await engine.call("open", [source, engineOptions(options)]);
    return Retriever.#warmed(engine, source, options);
  }

  /**
   * In a worker, the engine warms itself up (see `warmUp`) without the page waiting: the retriever is
   * returned at once, and queries no longer land in the slow first runs of a fresh wasm module (they
   * wait for at most one warm-up encode). In-thread there is nothing to overlap it with, so none.
   */
  static #warmed(engine, source, options) {
    const encoders = checkEncoders(options.encoders) ?? defaultEncoders();
    // The pool's engines open the same bundle (through the offline cache) in the same precision.
    const open = [source, { precision: options.precision, gpu: false, poolFactor: options.poolFactor }];
    const pool = encoders > 1 ? new EncoderPool(encoders, open, () => WorkerEngine.start()) : null;
    const retriever = new Retriever(engine, options, pool);
    if (engine instanceof WorkerEngine) retriever.warmUp().catch(() => {});
    return retriever;
  }

  /**
   * Encodes a query-sized text again and again until the encoder's times settle (the last 3 within
   * 10%; at most 24 runs): V8 compiles a fresh wasm module's hot functions with its optimising
   * compiler in the background, and until then encodes are up to 5x slower (warmup.js). Each run is a
   * separate call, so other calls are answered between them; in-thread, events run between them.
   * Starts by itself in a worker; call it in-thread to move that cost before the first query.
   * Resolves to `{ runs, firstMs, lastMs }` (encode times measured in the engine).
   */
  warmUp() {
    this.#warming ??= runUntilSettled(async () => {
      await yieldToEvents();
      return this.#engine.call("warmUp");
    });
    return this.#warming;
  }

  /** Deletes a stored index (see the `persist` option): the explicit way to start over. */
  static async deleteIndex(name) {
    await openStorage(checkString(name, "name")).remove();
  }

  /**
   * Adds (or replaces) documents: `[{ id, text, metadata? }]`. A document whose text is unchanged is
   * not encoded again (its metadata is still updated). Documents are committed in small chunks, in
   * order, each all-or-nothing (and, with `persist`, stored in one transaction); with `encoders` > 1
   * several chunks are encoded at once (see LoadOptions). `onProgress(done, total, { done, total })`
   * follows documents committed and passages encoded; `signal` stops every chunk being encoded at its
   * next passage (chunks already committed stay). Resolves to `{ encoded, unchanged }`.
   */
  async add(docs, { onProgress, signal } = {}) {
    const { ids, texts, metadata } = checkDocuments(docs, this.#maxDocumentLength);
    const chunks = [];
    for (let start = 0; start < ids.length; start += ADD_CHUNK) {
      const end = Math.min(start + ADD_CHUNK, ids.length);
      chunks.push({ start, end, ids: ids.slice(start, end), texts: texts.slice(start, end), metadata: metadata.slice(start, end) });
    }
    // An id twice across chunks must be committed in order of encoding: leave that to one engine.
    const pooled = this.#pool && chunks.length > 1 && new Set(ids).size === ids.length;
    const addChunks = pooled ? addInPool : addInOrder;
    const abort = () => {
      // The engines stop the chunks they are encoding at their next passage.
      this.#engine.call("abortAdd").catch(() => {});
      this.#pool?.abort();
    };
    signal?.addEventListener("abort", abort);
    try {
      return await addChunks(this.#engine, this.#pool, chunks, ids.length, onProgress, signal);
    } catch (err) {
      throw err?.name === "AbortError" && signal?.aborted ? signal.reason : err;
    } finally {
      signal?.removeEventListener("abort", abort);
    }
  }

  /** The `k` best documents for `query`: `[{ id, score, passage: { start, end }, metadata }]`, best
   *  first. `passage` is the best-matching part of the document's text: `text.slice(start, end)`.
   *  `filter` (e.g. `{ folder: "work" }`) keeps documents whose metadata has each value (or an array
   *  containing it). `mode`: "hybrid" (default: late interaction and BM25 fused), "late" or
   *  "lexical". The array's `backend` says which MaxSim backend scored it, `mode` which signals. */
  async search(query, k = 10, { filter, mode } = {}) {
    const args = [checkString(query, "query"), checkK(k), checkFilter(filter), checkMode(mode)];
    const { hits, backend } = await this.#engine.call("search", args);
    return Object.assign(hits, { backend, mode: mode ?? "hybrid" });
  }

  /**
   * Why `text` matched `query`: `[{ queryToken, queryRange, docRange, score }]`, one per query token:
   * the document token it matched best (MaxSim's argmax) as a range of `text` (null for a special
   * token) and its share of the score; and, as the array's `words`, the lexical half:
   * `[{ term, queryRanges, docRanges, score }]`, one per query word the passage holds, with its
   * share of BM25. Pass the hit for a long document so its best passage is used.
   */
  async explain(query, text, hit) {
    const start = hit?.passage?.start;
    if (start !== undefined) checkOffset(start, "hit.passage.start");
    const { tokens, words } = await this.#engine.call("explain", [checkString(query, "query"), checkString(text, "text"), start]);
    return Object.assign(tokens, { words });
  }

  /** `{ id, text, metadata }` of a stored document, or null: `text` is kept with `storeText` (else
   *  undefined). */
  async getDocument(id) {
    return this.#engine.call("getDocument", [checkId(id)]);
  }

  /** Every stored document as `{ id, text, metadata }`, oldest first (`text` with `storeText`). */
  async documents() {
    return this.#engine.call("documents");
  }

  /** Removes a document by id; resolves to whether it was stored. */
  async remove(id) {
    return this.#engine.call("remove", [checkId(id)]);
  }

  /** Chooses the MaxSim backend: "auto" (default), "webgpu", "simd" or "scalar". */
  async setBackend(name) {
    await this.#engine.call("setBackend", [checkString(name, "name")]);
  }

  /**
   * A deliberate wasm trap, reachable only through this symbol: the engine's recovery tests use it
   * ("now": trap in this call; "commit": trap inside the next add's commit).
   */
  async [Symbol.for("colbert-wasm.trapForTesting")](when) {
    await this.#engine.call("trapForTesting", [checkString(when, "when")]);
  }

  /** Destroys the WebGPU device as a driver reset would (tests of the CPU fallback). */
  async destroyGpuForTesting() {
    await this.#engine.call("destroyGpuForTesting");
  }

  /** The whole index as one versioned, checksummed file (a Uint8Array), for backup or moving. */
  async exportIndex() {
    return this.#engine.call("exportIndex");
  }

  /** Replaces the index with an exported file. An altered, truncated or foreign file rejects with an
   *  `IndexError` and the current index stays. A file of format version 1 (before hybrid search) has
   *  no words for BM25: `texts` (`{ id: text }`, the texts its documents were encoded from) rebuilds
   *  them; a document without its text rejects with an `IndexError` naming it. */
  async importIndex(bytes, { texts } = {}) {
    const [ids, values] = checkTexts(texts);
    await this.#engine.call("importIndex", [checkBytes(bytes, "bytes"), ids, values]);
  }

  /** The encoder's rows (Float32Array, `dim` per token) for exactly these token ids, with no
   *  markers added: for checking this runtime against another on the same model. */
  async encodeIds(ids) {
    return this.#engine.call("encodeIds", [checkTokenIds(ids)]);
  }

  /** The tokenizer's ids for `text` (no special tokens): e.g. to count tokens. */
  async tokenize(text) {
    return this.#engine.call("tokenize", [checkString(text, "text")]);
  }

  /** Number of stored documents. */
  get size() {
    return this.#engine.stats.size;
  }

  /** Stored passages: a document longer than the model's budget is split into several. */
  get passageCount() {
    return this.#engine.stats.passageCount;
  }

  /** Stored token vectors over all documents. */
  get tokenCount() {
    return this.#engine.stats.tokenCount;
  }

  /** The MaxSim backend a full-length query would use now: "webgpu", "simd" or "scalar". */
  get backend() {
    return this.#engine.stats.backend;
  }

  /**
   * What `auto` measured at the index's current size: `{ sizeClass, gpuMs, cpuMs }` from one search
   * run on both the GPU and the CPU kernel (the faster is used for that size), or null before then.
   */
  get backendMeasurement() {
    return this.#engine.stats.backendMeasurement;
  }

  /** How document vectors are stored: "int8" (default), "f32", "f16" or "binary". */
  get precision() {
    return this.#engine.stats.precision;
  }

  /** The WebGPU adapter in use, or null; `gpuError` says why there is none. */
  get gpuAdapter() {
    return this.#engine.stats.gpuAdapter;
  }

  get gpuError() {
    return this.#engine.stats.gpuError;
  }

  /**
   * With `persist`: documents whose stored record was damaged (torn or altered: its checksum fails)
   * and was left out at load, as `[{ name: "IndexError", id, message }]`; the rest of the index works.
   * Add such a document again (or remove it) to replace its record.
   */
  get damaged() {
    return this.#engine.stats.damaged ?? [];
  }

  /** With `persist`: `{ name, version }` of the stored index this one matches; else null. */
  get persisted() {
    return this.#engine.stats.persisted;
  }

  /** Which wasm build runs the model: "relaxed-simd" (faster; engines with relaxed SIMD) or "simd128". */
  get wasmBuild() {
    return this.#engine.stats.wasmBuild;
  }

  /** sha256 of the loaded model file: the bundle's identity. */
  get modelSha256() {
    return this.#engine.stats.modelSha256;
  }

  /** Frees the model and index (and the workers, if any). */
  free() {
    this.#engine.terminate();
    this.#pool?.terminate();
  }

  /** Stops one busy encoder of the pool as a crash would (tests: its chunk must be encoded again). */
  [Symbol.for("colbert-wasm.killEncoderForTesting")]() {
    return this.#pool?.killBusy() ?? false;
  }
}
