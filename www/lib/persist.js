// Where a persistent index lives between visits: one IndexedDB record per index name holding the
// latest exported index file and a version counter. Every change is written as a whole record in one
// transaction, so a closed tab or a refused write leaves the previous record intact; a Web Lock per
// name makes tabs take turns. Hand-written (about 40 lines) instead of the `idb` package because the
// package ships as plain ES modules with no bundler to resolve bare imports in the browser.
const DB_NAME = "colbert-wasm";
const STORE = "indexes";

function request(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

let dbPromise;
function openDb() {
  dbPromise ??= new Promise((resolve, reject) => {
    const req = indexedDB.open(DB_NAME, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
  return dbPromise;
}

/** A typed error for a write the browser refused for lack of space. */
function storageError(err) {
  if (err?.name !== "QuotaExceededError") return err;
  const typed = new Error(`the browser refused to store the index (storage quota exceeded); the last saved state is kept: ${err.message}`);
  typed.name = "QuotaError";
  return typed;
}

/** `{ version, bytes }` stored under `name`, or undefined. */
export async function readSnapshot(name) {
  const db = await openDb();
  return request(db.transaction(STORE).objectStore(STORE).get(name));
}

/** Stores `{ version, bytes }` under `name` in one transaction; resolves once it is durable. */
export async function writeSnapshot(name, version, bytes) {
  const db = await openDb();
  await new Promise((resolve, reject) => {
    let tx;
    try {
      tx = db.transaction(STORE, "readwrite", { durability: "strict" });
      tx.objectStore(STORE).put({ version, bytes }, name);
    } catch (err) {
      reject(storageError(err));
      return;
    }
    tx.oncomplete = () => resolve();
    tx.onabort = tx.onerror = () => reject(storageError(tx.error));
  });
}

export async function deleteSnapshot(name) {
  const db = await openDb();
  await request(db.transaction(STORE, "readwrite").objectStore(STORE).delete(name));
}

/** Runs `fn` holding the index's Web Lock (other tabs and workers wait), where Web Locks exist. */
export function withLock(name, fn) {
  const locks = globalThis.navigator?.locks;
  return locks ? locks.request(`colbert-wasm:index:${name}`, fn) : fn();
}
