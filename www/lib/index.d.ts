/** Bytes of a model bundle's three files. `manifest` may also be the JSON text. */
export interface BundleBytes {
  manifest: Uint8Array | string;
  model: Uint8Array;
  tokenizer: Uint8Array;
  /**
   * The model's external data files (torch writes `model.onnx.data` beside `model.onnx`), by the
   * manifest role that lists them: `{ model_data: bytes }` (`model_data_1`, … for more files).
   */
  modelData?: Record<string, Uint8Array>;
}

/**
 * A document to add: a plain object (not a class instance). Checked before any work; a violation
 * rejects `add` with an `InvalidInputError` naming the field (e.g. "docs[3].text must be a string").
 */
export interface Document {
  /** Your id: a non-empty string of at most 1,024 characters, unique within one `add` call (ids are
   *  never coerced: 7 is refused, "7" is fine). Adding the same id again replaces the document. */
  id: string;
  /** The text: a string (empty is fine) of at most `maxDocumentLength` characters (default 4,000,000). */
  text: string;
  /** Any JSON-serialisable value (title, tags, folder, timestamps…): returned with hits, usable in
   *  `search` filters. Cycles, BigInt and functions are refused. */
  metadata?: unknown;
}

export type Precision = "int8" | "f32" | "f16" | "binary";
export type Backend = "scalar" | "simd" | "webgpu";

export interface LoadOptions {
  /** Run the model in a Web Worker so no call blocks the page. Default: true in browsers, false in Node. */
  worker?: boolean;
  /**
   * How document token vectors are stored. "int8" (default): 132 bytes/token at dim 128, integer
   * MaxSim; "f32": 512; "f16": 256; "binary": 16 bytes/token scanned (sign bits), then the best
   * candidates re-scored from an int8 copy (148 bytes/token in all).
   */
  precision?: Precision;
  /**
   * Open a WebGPU device for MaxSim. Default: true in browsers (hardware adapters only), false in
   * Node. "allow-fallback" also accepts software adapters (for tests: they are slower than the CPU).
   * No GPU is not an error: searches run on the CPU and `gpuError` says why.
   */
  gpu?: boolean | "allow-fallback";
  /** "auto" (default: the GPU or the CPU kernel, whichever measured faster at this index size), or force one backend. */
  backend?: "auto" | Backend;
  /**
   * Keep the index in IndexedDB under this name (in Node: in this process's memory, same protocol): reopened on load, each add/remove
   * chunk stored in one transaction under a Web Lock (tabs take turns and see each other's changes).
   * A stored index from another model or format version rejects `load` with an `IndexError`; call
   * `Retriever.deleteIndex(name)` to start over. A write refused for quota rejects with a
   * `QuotaError` and the index returns to its last stored state.
   */
  persist?: string;
  /**
   * Download progress of the bundle's model and tokenizer files: bytes received so far and their
   * total (the manifest's `bytes`). Files already in the offline cache count at once. Reported at most
   * once per percent; after the last call the model is still being prepared (about a second).
   */
  onProgress?: (loaded: number, total: number) => void;
  /** Largest document `text` accepted by `add`, in UTF-16 code units (a positive integer). Default
   *  4,000,000. Long documents are encoded passage by passage, so memory stays bounded by one batch's
   *  packed vectors; this limit only guards against pasting a whole book by mistake. */
  maxDocumentLength?: number;
  /**
   * How many engines encode an `add` of more than one chunk (8 documents): above 1, a pool of
   * workers (Web Workers; worker_threads in Node), each with its own copy of the model, encodes chunks
   * in parallel while this retriever commits them in order, each chunk all or nothing. Default: in
   * browsers one per core, at most 4 and at most a quarter of the device's memory (about 300 MB
   * each); 1 in Node. Pool workers start on the first big `add` and stop after 30 s idle.
   */
  encoders?: number;
  /**
   * Token pooling for documents added by this retriever (PyLate's hierarchical pooling): each
   * passage's token vectors are clustered and about 1/poolFactor of them kept (cluster means), so
   * the index stores, writes and scans that much less. Default 1 (every token kept). On SciFact, 2
   * keeps half the tokens at nDCG@10 0.7245 against 0.7222 unpooled, 3 a third at 0.7045; but pooled,
   * notes that differ in one rare token (a number, a name) may no longer rank exactly, and `explain`'s
   * contributions only approximately sum to the hit's score.
   */
  poolFactor?: number;
  /**
   * Keep each added document's text with its vectors (with `persist`, in the same record and the same
   * transaction, so a note and its vectors are stored or refused together): hits carry `text`, and
   * `getDocument(id)` returns it. Exported index files do not include texts.
   */
  storeText?: boolean;
}

export interface SearchOptions {
  /** Only documents whose metadata has each key's value (or an array containing it). */
  filter?: Record<string, unknown>;
  /**
   * Which signals rank the documents: "hybrid" (the default: late interaction and BM25 over the
   * passages' words, fused by reciprocal rank), "late" (MaxSim alone) or "lexical" (BM25 alone; the
   * query is not encoded). A hit's `score` is that mode's score.
   */
  mode?: SearchMode;
}

export type SearchMode = "hybrid" | "late" | "lexical";

export interface AddOptions {
  /**
   * Called after each committed chunk (of 8 documents) with the number of documents done so far, and
   * while a chunk is encoded, once per passage, with `passage`: that chunk's passages encoded so far
   * and in all (`done` is then the documents committed before the chunk). A 1 MB note is ~1,000
   * passages, each reported.
   */
  onProgress?: (done: number, total: number, passage?: { done: number; total: number }) => void;
  /** Stops at the next passage: the chunk being encoded is not added (chunks committed before it
   *  stay), and `add` rejects with the signal's reason. */
  signal?: AbortSignal;
}

export interface Hit {
  id: string;
  /**
   * The mode's score. Hybrid (default): the mix of MaxSim (weight 2), BM25 and the sentence vectors'
   * cosine, each min-max normalised over the documents it scored (0 to 4). Late: MaxSim, the sum
   * over query tokens of the best cosine with any document token. Lexical: BM25.
   */
  score: number;
  /**
   * The document's best-matching passage as a JS string range: `text.slice(passage.start, passage.end)`.
   * Documents longer than the model's budget (256 tokens by default) are split into overlapping
   * passages at paragraph and sentence ends; a short document is one passage covering all its text.
   */
  passage: { start: number; end: number };
  /** The document's metadata, or null. */
  metadata: unknown;
  /** With `storeText`: the document's text. */
  text?: string;
}

/** A query word the passage holds (the lexical half of an explanation). */
export interface WordMatch {
  /** The stemmed term both share ("run" for "running", "runs"). */
  term: string;
  /** Its words in the query: `query.slice(start, end)`. */
  queryRanges: { start: number; end: number }[];
  /** Its words in the passage, as ranges of the text: `text.slice(start, end)`. */
  docRanges: { start: number; end: number }[];
  /** Its share of the passage's BM25 score. */
  score: number;
}

export interface TokenMatch {
  /** The query token as the tokenizer wrote it ("[CLS]", "sour", "##dough"…). */
  queryToken: string;
  queryRange: { start: number; end: number } | null;
  /** The matched document token as a range of the text: `text.slice(start, end)`. */
  docRange: { start: number; end: number } | null;
  score: number;
}

/**
 * Errors thrown carry a `name` saying their kind: "ManifestError", "ChecksumError",
 * "TokenizerError", "ModelError", "IndexError", "QuotaError", "GpuError", "InvalidInputError"
 * (an argument broke a rule; the message names it), "OutOfMemoryError" (the index could not grow;
 * nothing changed), "EngineError" (the wasm engine trapped: it was restarted with the last committed
 * index and the next call works) or "AbortError". After any of them nothing committed is lost.
 */
export class Retriever {
  private constructor();
  /** Loads a bundle folder (manifest.json + the files it names) from a URL or, in Node, a path. */
  static load(bundleUrl: string | URL, options?: LoadOptions): Promise<Retriever>;
  /** Loads a bundle from bytes; checksums are verified against the manifest. */
  static fromBytes(bundle: BundleBytes, options?: LoadOptions): Promise<Retriever>;
  /**
   * Adds or replaces documents, committed in chunks of 8, each all-or-nothing: on error or abort,
   * the chunks before stay and nothing of the failing chunk is added.
   */
  add(docs: Document[], options?: AddOptions): Promise<{ encoded: number; unchanged: number }>;
  /** The `k` (default 10) best documents, best first. `query` must be a string (blank returns []),
   *  `k` an integer from 1 to 10,000, `filter` a plain JSON object. A GPU failure (e.g. a lost
   *  device) falls back to the CPU for this and later searches. */
  search(query: string, k?: number, options?: SearchOptions): Promise<Hit[] & { backend: Backend; mode: SearchMode }>;
  /** The whole index as one versioned, checksummed file, for backup or moving between browsers. */
  exportIndex(): Promise<Uint8Array>;
  /**
   * Replaces the index with an exported file; a bad file rejects with `IndexError`, changing nothing.
   * A file of format version 1 (before hybrid search) has no words for BM25: `texts` (`{ id: text }`,
   * each the text the document was encoded from) rebuilds them, and a document without its text
   * rejects with an `IndexError` naming it.
   */
  importIndex(bytes: Uint8Array | ArrayBuffer, options?: { texts?: Record<string, string> }): Promise<void>;
  /** Deletes an index stored with `persist`. */
  static deleteIndex(name: string): Promise<void>;
  /**
   * Why `text` matched `query`, one entry per query token: the document token it matched best (a range
   * of `text`, null for a special token) and its contribution to the score; `words`: the lexical
   * half, each query word the passage holds, where, and its share of BM25. Pass the hit for a long
   * document so the explanation uses its best passage. Costs one encoding of that passage.
   */
  explain(query: string, text: string, hit?: Hit): Promise<TokenMatch[] & { words: WordMatch[] }>;
  /** Removes a document (`id`: a non-empty string); resolves to whether it was stored. */
  remove(id: string): Promise<boolean>;
  /** Every stored document's `{ id, text, metadata }`, oldest first (`text` only with `storeText`). */
  documents(): Promise<{ id: string; text?: string; metadata: unknown }[]>;
  /** A stored document's `{ id, text, metadata }` (`text` only with `storeText`), or null. */
  getDocument(id: string): Promise<{ id: string; text?: string; metadata: unknown } | null>;
  setBackend(backend: "auto" | Backend): Promise<void>;
  /** Destroys the WebGPU device as a driver reset would: for tests of the CPU fallback. */
  destroyGpuForTesting(): Promise<void>;
  /**
   * The query's token vectors, one `number[]` (the model's `dim`) per token, exactly what `search`
   * scores documents with: the shape Qdrant's query API takes for a multivector `max_sim` collection
   * (`client.query(name, { query: await retriever.encodeQuery(text) })`, see the README's "Scale").
   * A collection written by the native indexer records `modelSha256`: compare it with this
   * retriever's before querying (vectors of another model rank nonsense).
   */
  encodeQuery(text: string): Promise<number[][]>;
  /** The encoder's rows (`dim` per token) for exactly these token ids: for parity checks. Ids are
   *  integers inside the model's embedding table, 1 to the manifest's longest length of them
   *  (else `InvalidInputError`). */
  encodeIds(ids: ArrayLike<number>): Promise<Float32Array>;
  /** The tokenizer's ids for `text` (no special tokens): e.g. to count tokens. */
  tokenize(text: string): Promise<Uint32Array>;
  readonly size: number;
  /** Stored passages (long documents are split into several). */
  readonly passageCount: number;
  readonly tokenCount: number;
  /** The backend a full-length query would use now. */
  readonly backend: Backend;
  /**
   * What `auto` measured at the index's current size (its size class: searches 4x bigger are
   * measured again): the first search of a class runs on the GPU and is timed against the CPU kernel;
   * the faster is used from then on. Null before a GPU search of this size, or without a GPU.
   */
  readonly backendMeasurement: { sizeClass: number; gpuMs: number; cpuMs: number } | null;
  readonly precision: Precision;
  readonly modelSha256: string;
  /**
   * Which wasm build runs the model: "relaxed-simd" where the engine supports relaxed SIMD
   * (Chromium 114+, Node 22+; about 2x faster encoding), else "simd128".
   */
  readonly wasmBuild: "relaxed-simd" | "simd128";
  /** The WebGPU adapter's name, or null. */
  readonly gpuAdapter: string | null;
  /** Why no GPU is in use, or null. */
  readonly gpuError: string | null;
  /** With `persist`: the stored index this one matches. */
  readonly persisted: { name: string; version: number } | null;
  /**
   * With `persist`: documents whose stored record was found damaged (checksum) at load and left out;
   * the rest of the index works. Adding or removing such a document replaces its record.
   */
  readonly damaged: { name: "IndexError"; id: string; message: string }[];
  /**
   * Encodes a query-sized text until the encoder's times settle (the last 3 within 10%, at most 24
   * runs): V8 optimises a fresh wasm module's hot functions in the background, and until then encodes
   * are up to 5x slower. Starts by itself when the engine runs in a worker (the default in browsers);
   * other calls are answered between its runs. Call it in-thread (Node) to pay that before the first
   * query. Returns the same promise each time.
   */
  warmUp(): Promise<{ runs: number; firstMs: number; lastMs: number }>;
  free(): void;
}
