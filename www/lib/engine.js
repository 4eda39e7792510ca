// The in-thread engine: initialises the wasm beside this module and wraps the wasm `Retriever` with
// plain-data methods, so the same calls can run here or, through worker.js, in a Web Worker.
import init, { Retriever as WasmRetriever } from "../pkg/colbert_wasm.js";
import { abortError, engineError, isTrap, yieldToEvents } from "./recovery.js";
import { readSnapshot, withLock, writeSnapshot } from "./persist.js";

// Two builds of the same code (scripts/build.sh): relaxed-simd lets tract's int8 matmul and activation
// kernels use relaxed instructions, about twice as fast where the engine has them.
const WASM_URLS = {
  "relaxed-simd": new URL("../pkg/colbert_wasm_relaxed_bg.wasm", import.meta.url),
  simd128: new URL("../pkg/colbert_wasm_bg.wasm", import.meta.url),
};
export const isNode = typeof process !== "undefined" && !!process.versions?.node;

/**
 * Whether this engine runs relaxed SIMD as standardised. Validating is not enough: Node 20 behind
 * --experimental-wasm-relaxed-simd accepts the opcodes but computes i32x4.relaxed_dot_i8x16_i7x16_add_s
 * differently (measured: int8 token vectors then point the wrong way). So run that instruction, the
 * one tract's int8 kernel is built on, on (-1, 2, -3, 4) · (1, 1, 1, 1) and expect 2.
 */
function relaxedSimdWorks() {
  const v128 = (lanes) => [0xfd, 0x0c, ...lanes.map((x) => x & 0xff)];
  const a = [-1, 2, -3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16];
  const body = [0, ...v128(a), ...v128(Array(16).fill(1)), ...v128(Array(16).fill(0)),
    0xfd, 0x93, 0x02, /* relaxed dot add */ 0xfd, 0x1b, 0x00, /* extract lane 0 */ 0x0b];
  const module = [0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 0x7f, 3, 2, 1, 0,
    7, 7, 1, 3, 0x72, 0x75, 0x6e, 0, 0, 10, body.length + 2, 1, body.length, ...body];
  try {
    return new WebAssembly.Instance(new WebAssembly.Module(new Uint8Array(module))).exports.run() === 2;
  } catch {
    return false; // no relaxed SIMD here
  }
}

export const preferredBuild = relaxedSimdWorks() ? "relaxed-simd" : "simd128";
/** The build loaded: "relaxed-simd" or "simd128" (null before `initWasm` resolves). */
let wasmBuild = null;

/** The compiled module of the build loaded: fresh instances are made from it after a trap. */
let compiled = null;
let ready;
export function initWasm() {
  ready ??= (async () => {
    const compile = async (url) => {
      if (!isNode) return WebAssembly.compileStreaming(fetch(url));
      const fs = await import(/* @vite-ignore */ "node:fs/promises");
      return WebAssembly.compile(await fs.readFile(url));
    };
    try {
      compiled = await compile(WASM_URLS[preferredBuild]);
      wasmBuild = preferredBuild;
    } catch (err) {
      // A package built with WASM_RELAXED=0 has only the simd128 file.
      if (preferredBuild === "simd128") throw err;
      compiled = await compile(WASM_URLS.simd128);
      wasmBuild = "simd128";
    }
    await init({ module_or_path: compiled });
  })();
  return ready;
}

/**
 * A new instance of the wasm with its own memory, behind its own copy of the JS glue (the glue keeps
 * one instance per module, so a second module is imported under another URL). Used to replace an
 * instance a trap left in an unknown state.
 */
const GLUE_URL = new URL("../pkg/colbert_wasm.js", import.meta.url);
let instances = 0;
async function freshWasmRetriever() {
  await initWasm();
  const glue = await import(/* @vite-ignore */ `${GLUE_URL.href}?instance=${++instances}`);
  await glue.default({ module_or_path: compiled });
  return glue.Retriever;
}

/** The bytes at `url`; `onBytes(n)` is told of each piece as it arrives (download progress). */
async function readBytes(url, onBytes) {
  if (isNode && url.protocol === "file:") {
    const fs = await import(/* @vite-ignore */ "node:fs/promises");
    const bytes = new Uint8Array(await fs.readFile(url));
    onBytes?.(bytes.length);
    return bytes;
  }
  const response = await fetch(url);
  if (!response.ok) throw new Error(`fetching ${url} failed: HTTP ${response.status}`);
  if (!onBytes || !response.body) return new Uint8Array(await response.arrayBuffer());
  const pieces = [];
  const reader = response.body.getReader();
  for (let read = await reader.read(); !read.done; read = await reader.read()) {
    pieces.push(read.value);
    onBytes(read.value.length);
  }
  const bytes = new Uint8Array(pieces.reduce((n, piece) => n + piece.length, 0));
  pieces.reduce((at, piece) => (bytes.set(piece, at), at + piece.length), 0);
  return bytes;
}

/**
 * Counts bytes towards `total` and reports `(loaded, total)` at most once per percent (and at the
 * end), so a 34 MB download costs about a hundred progress messages, not thousands.
 */
function progressMeter(total, report) {
  let loaded = 0;
  let reported = -1;
  return (n) => {
    loaded += n;
    const step = total > 0 ? Math.floor((100 * loaded) / total) : loaded;
    if (step !== reported || loaded >= total) {
      reported = step;
      report?.(loaded, Math.max(total, loaded));
    }
  };
}

async function sha256Hex(bytes) {
  const digest = await crypto.subtle.digest("SHA-256", bytes);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

const BUNDLE_CACHE = "colbert-wasm-bundles";

async function openCache() {
  try {
    return globalThis.caches ? await caches.open(BUNDLE_CACHE) : null;
  } catch {
    return null; // e.g. an insecure context: no cache, always the network
  }
}

/** The manifest: from the network when it answers (and cached), else the cached copy (offline). */
async function manifestBytes(url, cache) {
  try {
    const bytes = await readBytes(url);
    await cache?.put(url, new Response(bytes));
    return bytes;
  } catch (err) {
    const cached = await cache?.match(url);
    if (!cached) throw err;
    return new Uint8Array(await cached.arrayBuffer());
  }
}

/**
 * A bundle file: the cached copy if its sha256 is the manifest's, else downloaded and cached.
 * `onBytes` counts a good cached copy whole, and a download piece by piece.
 */
async function fileBytes(url, sha256, cache, onBytes) {
  const cached = await cache?.match(url);
  if (cached) {
    const bytes = new Uint8Array(await cached.arrayBuffer());
    if ((await sha256Hex(bytes)) === sha256) {
      onBytes(bytes.length);
      return bytes;
    }
    await cache.delete(url); // damaged or stale: fetch again
  }
  const bytes = await readBytes(url, onBytes);
  if (cache && (await sha256Hex(bytes)) === sha256) await cache.put(url, new Response(bytes));
  return bytes;
}

/** Roles of a bundle's files: the model, its tokenizer, and the model's external data files. */
const REQUIRED_FILES = ["model", "tokenizer"];
const isModelData = (role) => role.startsWith("model_data");

/**
 * Fetches a bundle folder (manifest.json and the files it names), through the offline cache.
 * `onProgress(loaded, total)` follows the files' bytes; `total` is the sum of the manifest's `bytes`.
 * Resolves to `{ manifest, model, tokenizer, modelData }`, `modelData` by role (`model_data`, …).
 */
export async function fetchBundle(baseUrl, onProgress) {
  const base = new URL(baseUrl);
  const cache = base.protocol === "file:" ? null : await openCache();
  const manifest = await manifestBytes(new URL("manifest.json", base), cache);
  const files = JSON.parse(new TextDecoder().decode(manifest)).files ?? {};
  for (const role of REQUIRED_FILES) {
    if (typeof files[role]?.path !== "string") throw new Error(`manifest.json names no ${role} file`);
  }
  const roles = [...REQUIRED_FILES, ...Object.keys(files).filter(isModelData)];
  const total = roles.reduce((n, role) => n + (Number(files[role].bytes) || 0), 0);
  const onBytes = progressMeter(total, onProgress);
  const bytes = await Promise.all(
    roles.map((role) => fileBytes(new URL(files[role].path, base), files[role].sha256, cache, onBytes)),
  );
  const [model, tokenizer, ...data] = bytes;
  const modelData = Object.fromEntries(roles.slice(REQUIRED_FILES.length).map((role, i) => [role, data[i]]));
  return { manifest, model, tokenizer, modelData };
}

/** Engine methods whose last argument is a progress callback (the worker relays it as messages). */
export const PROGRESS_METHODS = new Set(["open", "add"]);

export class LocalEngine {
  #inner;
  /** How this engine was opened: enough to open it again in a fresh wasm instance after a trap. */
  #opened;
  #abortRequested = false;
  #writes = Promise.resolve();

  #gpu = { adapter: null, error: null };
  /** With `persist`: the index name, the stored version this engine matches, and its bytes. */
  #saved = null;

  /**
   * source: { url } or { bytes }; options: { precision, gpu, backend, persist } (see index.d.ts);
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
    let bytes = this.#saved?.bytes ?? null;
    if (!this.#saved) {
      try {
        bytes = this.#inner.exportIndexForRecovery();
      } catch {
        bytes = null; // the old instance cannot even be read: only a stored copy could help
      }
    }
    const fresh = await this.#retriever(await freshWasmRetriever());
    if (bytes?.length) fresh.importIndex(bytes);
    this.#inner = fresh; // the trapped instance is dropped, not freed: its state is not trusted
    if (this.#gpu.adapter) {
      this.#gpu.adapter = null;
      await this.#openGpu(this.#opened.options.gpu === "allow-fallback");
    }
    return { indexRestored: bytes !== null };
  }

  async #attachStorage(name) {
    if (!globalThis.indexedDB) {
      const err = new Error("persist needs IndexedDB, which this environment lacks");
      err.name = "InvalidInputError";
      throw err;
    }
    this.#saved = { name, version: 0, bytes: this.#inner.exportIndex() };
    try {
      await withLock(name, () => this.#catchUp());
    } catch (err) {
      if (err?.name === "IndexError") {
        err.message += ` (stored index '${name}': call Retriever.deleteIndex('${name}') and add the documents again)`;
      }
      throw err;
    }
  }

  /** Loads what another tab (or an earlier visit) stored since this engine last read or wrote. */
  async #catchUp() {
    const stored = await readSnapshot(this.#saved.name);
    if (stored && stored.version !== this.#saved.version) {
      this.#inner.importIndex(stored.bytes);
      this.#saved.version = stored.version;
      this.#saved.bytes = stored.bytes;
    }
  }

  /**
   * Applies `change` to the index and, with `persist`, stores the result in one transaction under the
   * index's lock. If the write fails (quota), the index goes back to what is stored and the error is
   * thrown: memory and storage never disagree.
   */
  #commit(change) {
    // One change at a time: an add yields between passages, and another add or remove must not
    // slip in between its encoding and its commit.
    const run = this.#writes.then(() => this.#commitNow(change));
    this.#writes = run.catch(() => {});
    return run;
  }

  async #commitNow(change) {
    if (!this.#saved) return change();
    return withLock(this.#saved.name, async () => {
      await this.#catchUp();
      const result = await change();
      const bytes = this.#inner.exportIndex();
      try {
        await writeSnapshot(this.#saved.name, this.#saved.version + 1, bytes);
      } catch (err) {
        this.#inner.importIndex(this.#saved.bytes);
        throw err;
      }
      this.#saved.version += 1;
      this.#saved.bytes = bytes;
      return result;
    });
  }

  /** A missing or refused GPU is not an error: searches stay on the CPU and stats say why. */
  async #openGpu(allowFallback) {
    if (!globalThis.navigator?.gpu) {
      this.#gpu.error = "this environment has no WebGPU (navigator.gpu)";
      return;
    }
    try {
      this.#gpu.adapter = await this.#inner.enableGpu(allowFallback);
    } catch (err) {
      this.#gpu.error = err?.message ?? String(err);
    }
  }

  /**
   * Adds a batch: tokenised and checked, then encoded one passage at a time (`onProgress(done, total)`
   * in passages, and a chance for other messages, such as `abortAdd`, between passages), then
   * committed whole. An abort stops at the next passage and commits nothing of the batch.
   */
  add(ids, texts, metadata, onProgress) {
    return this.#commit(() => this.#guarded(async (inner) => {
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
      return inner.commitAdd(job);
    }));
  }

  /** Stops the add in progress at its next passage (it rejects with an AbortError). */
  abortAdd() {
    this.#abortRequested = true;
  }

  remove(id) {
    return this.#commit(() => this.#guarded((inner) => inner.remove(id)));
  }

  explain(query, text, passageStart) {
    return this.#guarded((inner) => inner.explain(query, text, passageStart));
  }

  exportIndex() {
    return this.#guarded((inner) => inner.exportIndex());
  }

  importIndex(bytes) {
    return this.#commit(() => this.#guarded((inner) => inner.importIndex(bytes)));
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

  search(query, k, filter) {
    return this.#guarded((inner) => inner.search(query, k, filter));
  }

  encodeIds(ids) {
    return this.#guarded((inner) => inner.encodeIds(ids));
  }

  tokenize(text) {
    return this.#guarded((inner) => inner.tokenIds(text));
  }

  /**
   * One throwaway encode. The first runs of the graph cost more than later ones (V8 tiers the hot wasm
   * functions up, tract sizes its buffers): a 32-token query took 230, 80, then 50 ms in Node 20.
   */
  warmUp() {
    return this.#guarded((inner) => inner.encodeIds(inner.tokenIds("warm up the encoder before the first query")));
  }

  stats() {
    const r = this.#inner;
    return {
      size: r.size,
      passageCount: r.passageCount,
      tokenCount: r.tokenCount,
      backend: r.backend,
      precision: r.precision,
      modelSha256: r.modelSha256,
      wasmBuild,
      gpuAdapter: this.#gpu.adapter,
      gpuError: this.#gpu.error ?? r.gpuError ?? null,
      persisted: this.#saved ? { name: this.#saved.name, version: this.#saved.version } : null,
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
