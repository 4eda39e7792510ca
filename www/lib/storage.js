// Where does an index live between visits? Behind one small interface, the way tantivy keeps storage
// behind `Directory`, so the engine's commit protocol (catch up, change, write the change, roll back
// on failure) is the same everywhere. Layout 2: a header per index name ({ format, version,
// modelSha256, precision }), one
// record per document ({ bytes: that document's own index file, text? }), and a log of which ids each
// version changed, so a write costs O(documents changed) and a lagging tab reads only what changed.
// Every write (records, header and log entry) is one transaction: a closed tab or a refused write
// leaves the previous version. Layout 1 (one record holding the whole index) is read for migration.
//   readHeader()  readLegacy()  readDocuments(onBatch)  readDocumentsById(ids)  changesSince(version)
//   write(version, { put, remove, clear, dropLegacy, model })  remove()  lock(fn)
// `IndexedDbStorage` uses IndexedDB with a Web Lock per name so tabs take turns; `MemoryStorage` keeps
// the same in this process (Node, tests), with an optional byte quota. IndexedDB is hand-written
// instead of the `idb` package because the package ships as plain ES modules with no bundler to
// resolve bare imports in the browser.
const DB_NAME = "colbert-wasm";
const LEGACY = "indexes"; // layout 1: name -> { version, bytes }
const HEADERS = "headers"; // name -> { format: 2, version }
const DOCUMENTS = "documents"; // [name, id] -> { bytes, text? }
const LOG = "log"; // [name, version] -> { ids }
const FORMAT = 2;
/** Versions a lagging tab can catch up from record by record; from further back it reads everything. */
const LOG_KEEP = 512;
/** Records read per transaction while loading, so the stored copy never sits whole in memory. */
const READ_BATCH = 256;

function request(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

let dbPromise;
function openDb() {
  dbPromise ??= new Promise((resolve, reject) => {
    const req = indexedDB.open(DB_NAME, 2);
    req.onupgradeneeded = () => {
      const db = req.result;
      for (const store of [LEGACY, HEADERS, DOCUMENTS, LOG]) {
        if (!db.objectStoreNames.contains(store)) db.createObjectStore(store);
      }
    };
    req.onsuccess = () => {
      const db = req.result;
      // A newer layout opening the database elsewhere must not wait on this connection forever.
      db.onversionchange = () => {
        db.close();
        dbPromise = undefined;
      };
      resolve(db);
    };
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

/** The log's ids for versions after `since` up to `version`, or null when the log no longer has them all. */
function changedIds(entries, since, version) {
  if (entries.length !== version - since) return null;
  return [...new Set(entries.flatMap((entry) => entry.ids))];
}

export class IndexedDbStorage {
  constructor(name) {
    this.name = name;
  }

  /** Keys of this index's records in `store` ([name, …] arrays sort after every string id). */
  #range(from = undefined) {
    return from === undefined
      ? IDBKeyRange.bound([this.name], [this.name, []])
      : IDBKeyRange.bound([this.name, from], [this.name, []], true);
  }

  async readHeader() {
    const db = await openDb();
    return request(db.transaction(HEADERS).objectStore(HEADERS).get(this.name));
  }

  async readLegacy() {
    const db = await openDb();
    return request(db.transaction(LEGACY).objectStore(LEGACY).get(this.name));
  }

  /** Calls `onBatch([{ id, bytes, text }])` for every stored document, a few hundred at a time. */
  async readDocuments(onBatch) {
    const db = await openDb();
    let after;
    for (;;) {
      const tx = db.transaction(DOCUMENTS);
      const range = this.#range(after);
      const [keys, values] = await Promise.all([
        request(tx.objectStore(DOCUMENTS).getAllKeys(range, READ_BATCH)),
        request(tx.objectStore(DOCUMENTS).getAll(range, READ_BATCH)),
      ]);
      if (keys.length === 0) return;
      await onBatch(keys.map(([, id], i) => ({ id, ...values[i] })));
      after = keys.at(-1)[1];
    }
  }

  /** `[{ id, record }]` for these ids; `record` is undefined for a document no longer stored. */
  async readDocumentsById(ids) {
    const db = await openDb();
    const store = db.transaction(DOCUMENTS).objectStore(DOCUMENTS);
    return Promise.all(ids.map(async (id) => ({ id, record: await request(store.get([this.name, id])) })));
  }

  /** The ids changed after `since` up to the stored version, or null if the log does not reach back. */
  async changesSince(since) {
    const db = await openDb();
    const tx = db.transaction([HEADERS, LOG]);
    const header = await request(tx.objectStore(HEADERS).get(this.name));
    if (!header) return null;
    // A range from since + 1 to the stored version exists only when there is one (else DataError).
    const range = () => IDBKeyRange.bound([this.name, since + 1], [this.name, header.version]);
    const entries = header.version > since ? await request(tx.objectStore(LOG).getAll(range())) : [];
    const ids = changedIds(entries, since, header.version);
    return ids && { version: header.version, ids };
  }

  /**
   * Stores version `version`: `put` records ({ id, bytes, text }), `remove`d ids, after deleting every
   * record first if `clear`; the layout-1 record too if `dropLegacy`; `model` ({ modelSha256,
   * precision }) goes in the header. One transaction; resolves once durable.
   */
  async write(version, { put = [], remove = [], clear = false, dropLegacy = false, model = {} }) {
    const db = await openDb();
    await new Promise((resolve, reject) => {
      const refused = (err) => (err?.name === "QuotaExceededError" ? quotaError(err.message) : err);
      let tx;
      try {
        tx = db.transaction([HEADERS, DOCUMENTS, LOG, LEGACY], "readwrite", { durability: "strict" });
        const [documents, log] = [tx.objectStore(DOCUMENTS), tx.objectStore(LOG)];
        if (clear) {
          documents.delete(this.#range());
          log.delete(this.#range());
        }
        for (const { id, bytes, text } of put) documents.put(text === undefined ? { bytes } : { bytes, text }, [this.name, id]);
        for (const id of remove) documents.delete([this.name, id]);
        // After a clear the log starts again: older versions cannot be caught up record by record.
        log.put({ ids: [...put.map((r) => r.id), ...remove] }, [this.name, version]);
        if (version > LOG_KEEP) log.delete(IDBKeyRange.bound([this.name, 0], [this.name, version - LOG_KEEP]));
        tx.objectStore(HEADERS).put({ format: FORMAT, version, ...model }, this.name);
        if (dropLegacy) tx.objectStore(LEGACY).delete(this.name);
      } catch (err) {
        tx?.abort();
        reject(refused(err));
        return;
      }
      tx.oncomplete = () => resolve();
      tx.onabort = tx.onerror = () => reject(refused(tx.error));
    });
  }

  async remove() {
    const db = await openDb();
    const tx = db.transaction([HEADERS, DOCUMENTS, LOG, LEGACY], "readwrite");
    tx.objectStore(DOCUMENTS).delete(this.#range());
    tx.objectStore(LOG).delete(this.#range());
    tx.objectStore(HEADERS).delete(this.name);
    tx.objectStore(LEGACY).delete(this.name);
    await new Promise((resolve, reject) => {
      tx.oncomplete = () => resolve();
      tx.onabort = tx.onerror = () => reject(tx.error);
    });
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
  /** Largest total of stored record bytes a write may leave, to test the quota path. */
  static quotaBytes = Infinity;
  /** Record bytes written so far, by every MemoryStorage (what a write costs, for tests). */
  static bytesWritten = 0;

  /** A layout-1 record, as an older version of this package stored it (tests of the migration). */
  static storeLegacy(name, version, bytes) {
    memory.set(name, { legacy: { version, bytes: bytes.slice() } });
  }

  /** The stored header of an index, to alter it in tests. */
  static headerOf(name) {
    return memory.get(name)?.header;
  }

  /** The stored record of one document, to damage it in tests. */
  static recordOf(name, id) {
    return memory.get(name)?.documents?.get(id);
  }

  constructor(name) {
    this.name = name;
  }

  get #stored() {
    return memory.get(this.name);
  }

  async readHeader() {
    return this.#stored?.header;
  }

  async readLegacy() {
    return this.#stored?.legacy;
  }

  async readDocuments(onBatch) {
    const records = [...(this.#stored?.documents ?? new Map())].map(([id, record]) => ({ id, ...record }));
    for (let i = 0; i < records.length; i += READ_BATCH) await onBatch(records.slice(i, i + READ_BATCH));
  }

  async readDocumentsById(ids) {
    return ids.map((id) => ({ id, record: this.#stored?.documents?.get(id) }));
  }

  async changesSince(since) {
    const stored = this.#stored;
    if (!stored?.header) return null;
    const { version } = stored.header;
    const entries = [];
    for (let v = since + 1; v <= version; v++) if (stored.log.has(v)) entries.push(stored.log.get(v));
    const ids = changedIds(entries, since, version);
    return ids && { version, ids };
  }

  async write(version, { put = [], remove = [], clear = false, dropLegacy = false, model = {} }) {
    const before = this.#stored ?? {};
    const documents = new Map(clear ? [] : before.documents ?? []);
    const log = new Map(clear ? [] : before.log ?? []);
    for (const { id, bytes, text } of put) documents.set(id, text === undefined ? { bytes: bytes.slice() } : { bytes: bytes.slice(), text });
    for (const id of remove) documents.delete(id);
    const total = [...documents.values()].reduce((n, r) => n + r.bytes.length + (r.text?.length ?? 0), 0);
    if (total > MemoryStorage.quotaBytes) throw quotaError(`${total} bytes over a quota of ${MemoryStorage.quotaBytes}`);
    log.set(version, { ids: [...put.map((r) => r.id), ...remove] });
    log.delete(version - LOG_KEEP);
    MemoryStorage.bytesWritten += put.reduce((n, r) => n + r.bytes.length + (r.text?.length ?? 0), 0);
    memory.set(this.name, { header: { format: FORMAT, version, ...model }, documents, log, legacy: dropLegacy ? undefined : before.legacy });
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
