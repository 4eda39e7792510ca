// What runs a call? `LocalEngine`: the wasm `Retriever` behind the calls api.js declares, run in this
// thread or, through worker.js, in a Web Worker (`dispatch` is the one entry both use). Changes go
// through the commit protocol (persistence.js), traps through recovery (recovery.js).
import { WasmRetriever, freshWasmRetriever, initWasm, isNode, shareCompiledWasm, wasmBuild, wasmShared } from "./wasm.js";
import { fetchBundle } from "./bundle.js";
import { METHODS } from "./api.js";
import { Persistence } from "./persistence.js";
import { abortError, engineError, isTrap, yieldToEvents } from "./recovery.js";
import { openStorage } from "./storage.js";

export { isNode };

/** A typical query (about 30 tokens): the warm-up runs the kernels a query runs. */
const WARM_UP_TEXT = "does a low dose of aspirin taken daily over twelve weeks reduce inflammation markers in adults with a history of heart disease";

/**
 * The one dispatch of engine calls, for the worker and the in-thread engine alike: `state.engine` is
 * the engine once `open` made it. `shareCompiledWasm` (before `open`) takes the page's compiled module.
 */
export async function dispatch(state, method, args, onProgress) {
  if (method === "shareCompiledWasm") return shareCompiledWasm(...args);
  if (method === "open") {
    state.engine = await LocalEngine.open(...args, onProgress);
    return undefined;
  }
  if (!state.engine) throw new Error("the retriever is not loaded");
  return state.engine.call(method, args, onProgress);
}

export class LocalEngine {
  #inner;
  /** How this engine was opened: enough to open it again in a fresh wasm instance after a trap. */
  #opened;
  #abortRequested = false;
  /** An encoder pool's engine: its index exported while empty, to return to between batches. */
  #emptyIndex = null;
  #persistence;

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
    const storage = options.persist ? openStorage(String(options.persist)) : null;
    engine.#persistence = new Persistence(engine.#indexPort(), { storage, name: options.persist ? String(options.persist) : null, storeText: options.storeText });
    await engine.#persistence.attach();
    return engine;
  }

  /** The index as persistence.js sees it: always the current wasm instance's. */
  #indexPort() {
    const inner = () => this.#inner;
    return {
      exportDocuments: (ids) => inner().exportDocuments(ids),
      applyDocuments: (ids, records) => inner().applyDocuments(ids, records),
      remove: (id) => inner().remove(id),
      clear: () => inner().clear(),
      documentIds: () => inner().documentIds(),
      importIndex: (bytes) => inner().importIndex(bytes),
      restoreWords: (texts) => inner().restoreWords(texts),
      get modelSha256() {
        return inner().stats().modelSha256;
      },
      get precision() {
        return inner().stats().precision;
      },
    };
  }

  /** A wasm Retriever for the bundle this engine was opened with (fetched again through the cache). */
  async #retriever(WasmClass, onProgress) {
    const { source, options } = this.#opened;
    const { manifest, model, tokenizer, modelData = {} } = source.url
      ? await fetchBundle(source.url, onProgress)
      : source.bytes;
    const asBytes = (x) => (typeof x === "string" ? new TextEncoder().encode(x) : x);
    const inner = WasmClass.fromBundle(asBytes(manifest), model, tokenizer, options.precision, modelData);
    if (options.backend) inner.setBackend(options.backend);
    if (options.poolFactor) inner.setPoolFactor(options.poolFactor);
    return inner;
  }

  /** Runs an api.js row: guarded against traps, through the commit protocol if it changes the index. */
  call(method, args = [], onProgress = undefined) {
    const row = METHODS[method];
    if (!row?.run) return Promise.reject(new Error(`the engine has no method '${method}'`));
    const callArgs = row.progress ? [...args, onProgress] : args;
    const context = (inner) => ({ inner, texts: this.#persistence.texts, engine: this });
    const run = () => (row.unguarded ? row.run(context(this.#inner), ...callArgs) : this.#guarded((inner) => row.run(context(inner), ...callArgs)));
    return Promise.resolve(row.commits ? this.#persistence.commit(row.commits(args), run) : run());
  }

  /**
   * Runs `call` on the wasm retriever. A wasm trap (a bug, or memory exhausted inside the model)
   * leaves that instance in an unknown state, so it is replaced: a fresh instance gets the bundle
   * (from the offline cache) and the last committed index (the stored copy with `persist`, else the
   * old instance's if the trap did not come mid-change), and the call rejects with an `EngineError`;
   * the next call works.
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
    const bytes = this.#persistence.stored ? undefined : this.#readTrapped();
    const fresh = await this.#retriever(await freshWasmRetriever());
    let indexRestored = this.#persistence.stored;
    try {
      if (bytes?.length) fresh.importIndex(bytes);
      indexRestored ||= bytes !== undefined;
    } catch {
      indexRestored = false; // what the trapped instance gave did not read back: not trusted
    }
    this.#inner = fresh; // the trapped instance is dropped, not freed: its state is not trusted
    if (this.#persistence.stored) await this.#persistence.load();
    else if (!indexRestored) this.#persistence.texts.clear();
    const { gpu } = this.#opened.options;
    if (gpu ?? !isNode) await this.#openGpu(gpu === "allow-fallback");
    return { indexRestored };
  }

  /** The trapped instance's index, if it can be read at all and no change was in progress. */
  #readTrapped() {
    try {
      return this.#inner.exportIndexForRecovery();
    } catch {
      return undefined;
    }
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
   * Adds a batch (`[{ id, text, metadata? }]`): tokenised and checked, then encoded one passage at a
   * time (`onProgress(done, total)` in passages, and a chance for other messages, such as
   * `abortAdd`, between passages), then committed whole. An abort stops at the next passage and
   * commits nothing of the batch.
   */
  async addBatch(inner, docs, onProgress) {
    this.#abortRequested = false;
    const job = inner.beginAdd(docs);
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
    this.#persistence.texts.keep(docs);
    return report;
  }

  /**
   * For an encoder pool (pool.js): encodes a batch into this engine's own index, which is empty
   * between batches, and returns it as an exported index file for the engine that keeps the index.
   */
  async encodeBatch(docs, onProgress) {
    this.#emptyIndex ??= this.#inner.exportIndex();
    try {
      await this.call("add", [docs], onProgress);
      return this.#inner.exportIndex();
    } finally {
      this.#inner.importIndex(this.#emptyIndex);
    }
  }

  /** Stops the add in progress at its next passage (it rejects with an AbortError). */
  abortAdd() {
    this.#abortRequested = true;
  }

  /**
   * One throwaway encode of a query-sized text; resolves to its time in ms. The first runs of the
   * graph cost more than later ones (V8 tiers the hot wasm functions up; see warmup.js).
   */
  timeOneQuery(inner) {
    const started = performance.now();
    inner.encodeIds(inner.tokenIds(WARM_UP_TEXT));
    return performance.now() - started;
  }

  /** What the API's getters report (api.js GETTERS). */
  stats() {
    return { ...this.#inner.stats(), wasmBuild, wasmShared, ...this.#persistence.stats() };
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
  return WasmRetriever.manifestFromExport(name, configName, config, tokenizer, files, dim);
}
