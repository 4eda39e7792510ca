// Where does an index live between visits? Behind one small interface, the way tantivy keeps storage
// behind `Directory`, so the engine's commit protocol (catch up, change, write, roll back on failure)
// is the same everywhere:
//   read() -> { version, bytes } | undefined    write(version, bytes)    remove()    lock(fn)
// `IndexedDbStorage` keeps one record per index name, written whole in one transaction (a closed tab
// or a refused write leaves the previous record), with a Web Lock per name so tabs take turns.
// `MemoryStorage` keeps it in this process (Node, tests), with an optional byte quota. IndexedDB is
// hand-written (about 40 lines) instead of the `idb` package because the package ships as plain ES
// modules with no bundler to resolve bare imports in the browser.
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

/** A typed error for a write refused for lack of space. */
function quotaError(detail) {
  const typed = new Error(`the index could not be stored (storage quota exceeded); the last saved state is kept: ${detail}`);
  typed.name = "QuotaError";
  return typed;
}

export class IndexedDbStorage {
  constructor(name) {
    this.name = name;
  }

  async read() {
    const db = await openDb();
    return request(db.transaction(STORE).objectStore(STORE).get(this.name));
  }

  /** Stores `{ version, bytes }` in one transaction; resolves once it is durable. */
  async write(version, bytes) {
    const db = await openDb();
    await new Promise((resolve, reject) => {
      const refused = (err) => (err?.name === "QuotaExceededError" ? quotaError(err.message) : err);
      let tx;
      try {
        tx = db.transaction(STORE, "readwrite", { durability: "strict" });
        tx.objectStore(STORE).put({ version, bytes }, this.name);
      } catch (err) {
        reject(refused(err));
        return;
      }
      tx.oncomplete = () => resolve();
      tx.onabort = tx.onerror = () => reject(refused(tx.error));
    });
  }

  async remove() {
    const db = await openDb();
    await request(db.transaction(STORE, "readwrite").objectStore(STORE).delete(this.name));
  }

  /** Runs `fn` holding the index's Web Lock (other tabs and workers wait), where Web Locks exist. */
  lock(fn) {
    const locks = globalThis.navigator?.locks;
    return locks ? locks.request(`colbert-wasm:index:${this.name}`, fn) : fn();
  }
}

/** Indexes kept in this process, by name: what `persist` means where there is no IndexedDB. */
const memory = new Map();
const memoryLocks = new Map();

export class MemoryStorage {
  /** Largest index (bytes) a write may store, to test the quota path; Infinity by default. */
  static quotaBytes = Infinity;

  constructor(name) {
    this.name = name;
  }

  async read() {
    return memory.get(this.name);
  }

  async write(version, bytes) {
    if (bytes.length > MemoryStorage.quotaBytes) throw quotaError(`${bytes.length} bytes over a quota of ${MemoryStorage.quotaBytes}`);
    memory.set(this.name, { version, bytes: bytes.slice() });
  }

  async remove() {
    memory.delete(this.name);
  }

  /** Runs `fn` after every earlier holder of this name's lock (the in-process Web Lock). */
  lock(fn) {
    const run = (memoryLocks.get(this.name) ?? Promise.resolve()).then(fn);
    memoryLocks.set(this.name, run.catch(() => {}));
    return run;
  }
}

/** The storage `persist: name` uses here: IndexedDB in browsers, this process's memory elsewhere. */
export function openStorage(name) {
  return globalThis.indexedDB ? new IndexedDbStorage(name) : new MemoryStorage(name);
}
