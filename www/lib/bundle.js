// How does a model bundle arrive? Fetched (or read from disk in Node) with byte progress, through the
// offline cache (Cache API), each file checked against the manifest's sha256 before it is cached.
import { isNode } from "./wasm.js";

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
 * end), so a 24 MB download costs about a hundred progress messages, not thousands.
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

export async function sha256Hex(bytes) {
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

