// The in-thread engine: initialises the wasm beside this module and wraps the wasm `Retriever` with
// plain-data methods, so the same calls can run here or, through worker.js, in a Web Worker.
import init, { Retriever as WasmRetriever } from "../pkg/colbert_wasm.js";

const WASM_URL = new URL("../pkg/colbert_wasm_bg.wasm", import.meta.url);
export const isNode = typeof process !== "undefined" && !!process.versions?.node;

let ready;
function initWasm() {
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

  static async open(source) {
    await initWasm();
    const { manifest, model, tokenizer } = source.url ? await fetchBundle(source.url) : source.bytes;
    const asBytes = (x) => (typeof x === "string" ? new TextEncoder().encode(x) : x);
    const engine = new LocalEngine();
    engine.#inner = WasmRetriever.fromBundle(asBytes(manifest), model, tokenizer);
    return engine;
  }

  add(ids, texts) {
    this.#inner.addDocuments(ids, texts);
  }

  search(query, k) {
    return this.#inner.search(query, k);
  }

  tokenize(text) {
    return this.#inner.tokenIds(text);
  }

  stats() {
    const r = this.#inner;
    return { size: r.size, passageCount: r.passageCount, tokenCount: r.tokenCount, backend: r.backend, modelSha256: r.modelSha256 };
  }

  free() {
    this.#inner.free();
  }
}
