// colbert-wasm: the package entry. A thin async wrapper over the wasm `Retriever`: it finds and
// initialises the .wasm next to this module (fetch in browsers, the file system in Node) and fetches
// model bundles. All retrieval logic lives in Rust.
import init, { Retriever as WasmRetriever } from "../pkg/colbert_wasm.js";

const WASM_URL = new URL("../pkg/colbert_wasm_bg.wasm", import.meta.url);
const isNode = typeof process !== "undefined" && !!process.versions?.node;

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

function toUrl(base) {
  if (base instanceof URL) return base;
  if (isNode && !/^[a-z]+:/i.test(base)) {
    // A plain path in Node: resolve against the working directory.
    return new URL(base.endsWith("/") ? base : base + "/", `file://${process.cwd()}/`);
  }
  return new URL(base, globalThis.location?.href);
}

export class Retriever {
  #inner;

  constructor(inner) {
    this.#inner = inner;
  }

  /** Loads a bundle folder (manifest.json + the files it names) from a URL or, in Node, a path. */
  static async load(bundleUrl) {
    const base = toUrl(typeof bundleUrl === "string" && !bundleUrl.endsWith("/") ? bundleUrl + "/" : bundleUrl);
    const manifestBytes = await readBytes(new URL("manifest.json", base));
    const manifest = JSON.parse(new TextDecoder().decode(manifestBytes));
    const [model, tokenizer] = await Promise.all(
      ["model", "tokenizer"].map((role) => {
        const file = manifest.files?.[role]?.path;
        if (typeof file !== "string") throw new Error(`manifest.json names no ${role} file`);
        return readBytes(new URL(file, base));
      }),
    );
    return Retriever.fromBytes({ manifest: manifestBytes, model, tokenizer });
  }

  /** Loads a bundle from its three files' bytes. Checksums are verified against the manifest. */
  static async fromBytes({ manifest, model, tokenizer }) {
    await initWasm();
    const asBytes = (x) => (typeof x === "string" ? new TextEncoder().encode(x) : x);
    return new Retriever(WasmRetriever.fromBundle(asBytes(manifest), model, tokenizer));
  }

  /** Adds (or replaces) documents: `[{ id, text }]`. All-or-nothing. */
  async add(docs) {
    if (!Array.isArray(docs)) throw new TypeError("add() takes an array of { id, text }");
    const ids = docs.map((d) => String(d.id));
    const texts = docs.map((d) => String(d.text ?? ""));
    this.#inner.addDocuments(ids, texts);
  }

  /** The `k` best documents for `query`: `[{ id, score, passage: { start, end } }]`, best first.
   *  `passage` is the best-matching part of the document's text: `text.slice(start, end)`. */
  async search(query, k = 10) {
    return this.#inner.search(String(query), k);
  }

  /** The tokenizer's ids for `text` (no special tokens): e.g. to count tokens. */
  tokenize(text) {
    return this.#inner.tokenIds(String(text));
  }

  /** Number of stored documents. */
  get size() {
    return this.#inner.size;
  }

  /** Stored passages: a document longer than the model's budget is split into several. */
  get passageCount() {
    return this.#inner.passageCount;
  }

  /** Stored token vectors over all documents. */
  get tokenCount() {
    return this.#inner.tokenCount;
  }

  /** MaxSim backend in use: "scalar" for now. */
  get backend() {
    return this.#inner.backend;
  }

  /** sha256 of the loaded model file: the bundle's identity. */
  get modelSha256() {
    return this.#inner.modelSha256;
  }

  /** Frees the wasm memory held by this retriever. */
  free() {
    this.#inner.free();
  }
}
