// How does `add` use every core? Its chunks are either added one after another by the engine that
// keeps the index (`addInOrder`: one encoder, today's behaviour), or encoded in parallel by a pool of
// encoder engines, each a worker with its own wasm instance of the same bundle, and committed by the
// keeping engine in the caller's order, each chunk all or nothing (`addInPool`).
import { isNode } from "./wasm.js";

/** Idle pool workers are stopped after this long, giving their memory back. */
const IDLE_MS = 30_000;
/** Memory one engine holds with the default bundle (Node RSS, measured): sets the default pool size. */
const ENGINE_MB = 300;

/**
 * Encoders an `add` uses by default: in browsers one per core, at most 4, and no more than a quarter
 * of the device's memory holds (`navigator.deviceMemory`, in GB, where the browser tells); in Node 1.
 */
export function defaultEncoders() {
  if (isNode || typeof navigator === "undefined") return 1;
  const cores = navigator.hardwareConcurrency || 1;
  const byMemory = navigator.deviceMemory ? Math.floor((navigator.deviceMemory * 1024) / 4 / ENGINE_MB) : 4;
  return Math.max(1, Math.min(cores, byMemory, 4));
}

/** Encoder engines, started when first needed and stopped when idle; a lost one is replaced. */
export class EncoderPool {
  #size;
  #open;
  #start;
  #idle = [];
  #busy = new Set();
  #idleTimer = null;

  /** `open`: the engine `open` call's arguments; `start()`: a new engine (a worker). */
  constructor(size, open, start) {
    this.#size = size;
    this.#open = open;
    this.#start = start;
  }

  get size() {
    return this.#size;
  }

  /**
   * Encodes one chunk on a free engine into an exported index file. An engine whose worker is lost
   * mid-chunk is replaced and the chunk encoded again, once.
   */
  async encode(docs, onProgress) {
    for (let attempt = 0; ; attempt++) {
      const engine = await this.#take();
      try {
        const bytes = await engine.call("encodeBatch", [docs], onProgress);
        this.#release(engine);
        return bytes;
      } catch (err) {
        this.#busy.delete(engine);
        if (engine.lost && attempt === 0) continue;
        if (!engine.lost) this.#release(engine);
        throw err;
      }
    }
  }

  async #take() {
    clearTimeout(this.#idleTimer);
    let engine = this.#idle.pop();
    if (!engine) {
      engine = await this.#start();
      try {
        await engine.call("open", this.#open);
      } catch (err) {
        engine.terminate();
        throw err;
      }
    }
    this.#busy.add(engine);
    return engine;
  }

  #release(engine) {
    this.#busy.delete(engine);
    this.#idle.push(engine);
    if (this.#busy.size === 0) {
      this.#idleTimer = setTimeout(() => this.#stopIdle(), IDLE_MS);
      this.#idleTimer.unref?.();
    }
  }

  #stopIdle() {
    for (const engine of this.#idle.splice(0)) engine.terminate();
  }

  /** Stops every chunk being encoded at its next passage. */
  abort() {
    for (const engine of this.#busy) engine.call("abortAdd").catch(() => {});
  }

  /** Stops one busy engine as a crash would; returns whether there was one. */
  killBusy() {
    const [engine] = this.#busy;
    engine?.kill();
    return engine !== undefined;
  }

  terminate() {
    clearTimeout(this.#idleTimer);
    for (const engine of [...this.#idle.splice(0), ...this.#busy]) engine.terminate();
    this.#busy.clear();
  }
}

/**
 * Adds `chunks` one after another on the keeping engine. `onProgress(documentsDone, documents,
 * { done, total })` follows the passages of the chunk being encoded.
 */
export async function addInOrder(engine, _pool, chunks, documents, onProgress, signal) {
  const report = { encoded: 0, unchanged: 0 };
  for (const chunk of chunks) {
    signal?.throwIfAborted();
    const passages = (done, total) => onProgress?.(chunk.start, documents, { done, total });
    const done = await engine.call("add", [chunk.docs], passages);
    report.encoded += done.encoded;
    report.unchanged += done.unchanged;
    onProgress?.(chunk.end, documents);
  }
  return report;
}

/**
 * Adds `chunks` with the pool: up to `pool.size` chunks are encoded at once (their unchanged
 * documents left out), and the keeping engine commits them in order, each whole. The first chunk the
 * keeping engine adds itself, while the pool's workers start (each instantiates the wasm and opens
 * the model: a second or more), so the first add after load does not wait for them. A failure or an
 * abort stops the add: chunks already committed stay, the others are not committed. `onProgress`
 * reports the passages encoded over every chunk started so far.
 */
export async function addInPool(engine, pool, chunks, documents, onProgress, signal) {
  const report = { encoded: 0, unchanged: 0 };
  const passages = chunks.map(() => ({ done: 0, total: 0 }));
  let committed = 0;
  const progress = () => {
    const sum = (key) => passages.reduce((n, p) => n + p[key], 0);
    onProgress?.(committed, documents, { done: sum("done"), total: sum("total") });
  };
  const passagesOf = (i) => (done, total) => {
    passages[i] = { done, total };
    progress();
  };
  const encode = async (chunk, i) => {
    if (i === 0) return { local: true };
    const unchanged = await engine.call("unchangedOf", [chunk.docs]);
    const [changed, same] = [false, true].map((want) => chunk.docs.filter((_, j) => unchanged[j] === want));
    const bytes = changed.length ? await pool.encode(changed, passagesOf(i)) : null;
    return { bytes, same, changed };
  };
  const started = [];
  const startUpTo = (n) => {
    while (started.length < Math.min(n, chunks.length)) {
      const encoding = encode(chunks[started.length], started.length);
      encoding.catch(() => {}); // awaited in order below; a later one's failure waits its turn
      started.push(encoding);
    }
  };
  try {
    for (const [i, chunk] of chunks.entries()) {
      signal?.throwIfAborted();
      startUpTo(i + pool.size);
      const { local, bytes, same, changed } = await started[i];
      signal?.throwIfAborted();
      const done = local
        ? await engine.call("add", [chunk.docs], passagesOf(i))
        : bytes
          ? await engine.call("commitEncoded", [bytes, same, changed])
          : await engine.call("add", [same]); // metadata only
      report.encoded += done.encoded;
      report.unchanged += done.unchanged;
      committed = chunk.end;
      progress();
    }
  } catch (err) {
    pool.abort();
    throw err;
  }
  return report;
}
