// The in-thread engine: initialises the wasm beside this module and wraps the wasm `Retriever` with
// plain-data methods, so the same calls can run here or, through worker.js, in a Web Worker.
import init, { Retriever as WasmRetriever } from "../pkg/colbert_wasm.js";

const WASM_URL = new URL("../pkg/colbert_wasm_bg.wasm", import.meta.url);
export const isNode = typeof process !== "undefined" && !!process.versions?.node;

let ready;
export function initWasm() {
  ready ??= (async () => {
    if (isNode) {
      const fs = await import(/* @vite-ignore */ "node:fs/promises");
      await init({ module_or_path: await fs.readFile(WASM_URL) });
    } else {
      await init({ module_or_path: WASM_URL });
    }
  })();
  return ready;
}

async function readBytes(url) {
  if (isNode && url.protocol === "file:") {
    const fs = await import(/* @vite-ignore */ "node:fs/promises");
    return new Uint8Array(await fs.readFile(url));
  }
  const response = await fetch(url);
  if (!response.ok) throw new Error(`fetching ${url} failed: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

/** Fetches a bundle folder: manifest.json and the files it names. */
export async function fetchBundle(baseUrl) {
  const base = new URL(baseUrl);
  const manifest = await readBytes(new URL("manifest.json", base));
  const files = JSON.parse(new TextDecoder().decode(manifest)).files ?? {};
  const [model, tokenizer] = await Promise.all(
    ["model", "tokenizer"].map((role) => {
      if (typeof files[role]?.path !== "string") throw new Error(`manifest.json names no ${role} file`);
      return readBytes(new URL(files[role].path, base));
    }),
  );
  return { manifest, model, tokenizer };
}

export class LocalEngine {
  #inner;

  #gpu = { adapter: null, error: null };

  /** source: { url } or { bytes }; options: { precision, gpu, backend } (see index.d.ts). */
  static async open(source, options = {}) {
    await initWasm();
    const { manifest, model, tokenizer } = source.url ? await fetchBundle(source.url) : source.bytes;
    const asBytes = (x) => (typeof x === "string" ? new TextEncoder().encode(x) : x);
    const engine = new LocalEngine();
    engine.#inner = WasmRetriever.fromBundle(asBytes(manifest), model, tokenizer, options.precision);
    if (options.backend) engine.#inner.setBackend(options.backend);
    if (options.gpu ?? !isNode) await engine.#openGpu(options.gpu === "allow-fallback");
    return engine;
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

  add(ids, texts) {
    this.#inner.addDocuments(ids, texts);
  }

  remove(id) {
    return this.#inner.remove(id);
  }

  destroyGpuForTesting() {
    this.#inner.destroyGpuForTesting();
  }

  setBackend(name) {
    this.#inner.setBackend(name);
  }

  search(query, k) {
    return this.#inner.search(query, k);
  }

  tokenize(text) {
    return this.#inner.tokenIds(text);
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
      gpuAdapter: this.#gpu.adapter,
      gpuError: this.#gpu.error ?? r.gpuError ?? null,
    };
  }

  free() {
    this.#inner.free();
  }
}
