// When is a change stored, and what happens when storing fails? The commit protocol between the index
// (a narrow port, below) and a storage backend (storage.js): catch up with what other tabs stored,
// change, write the touched documents' records in one transaction, and put those documents back if
// the write is refused, so memory and storage never disagree. Also: loading a stored index (damaged
// records left out and listed), migrating layout 1, and the texts kept with `storeText`.
//
// The index port (what this module needs of the index; the engine passes its wasm retriever's):
//   exportDocuments(ids) -> (Uint8Array | null)[]     each document's own record, null if not stored
//   applyDocuments(ids, records) -> [{ id, message }] store records; the damaged ones, left out
//   remove(id)  clear()  documentIds()  importIndex(bytes)
//   restoreWords({ id: text }) -> ids left without words
//   modelSha256  precision

/** With `storeText`: each document's text, kept beside the index and stored with its record. */
class Texts {
  #byId = new Map();
  #keep;

  constructor(keep) {
    this.#keep = keep;
  }

  /** Whether texts are kept (`storeText`). */
  get kept() {
    return this.#keep;
  }

  /** Keeps these documents' texts (`[{ id, text }]`), if texts are kept at all. */
  keep(docs) {
    if (this.#keep) for (const { id, text } of docs) this.#byId.set(id, text);
  }

  get(id) {
    return this.#byId.get(id);
  }

  set(id, text) {
    this.#byId.set(id, text);
  }

  delete(id) {
    this.#byId.delete(id);
  }

  clear() {
    this.#byId.clear();
  }

  snapshot() {
    return new Map(this.#byId);
  }

  restore(snapshot) {
    this.#byId = snapshot;
  }

  asObject() {
    return Object.fromEntries(this.#byId);
  }
}

export class Persistence {
  /** `storage`: a storage.js backend, or null (nothing stored: changes only run one at a time). */
  #storage;
  #index;
  #name;
  /** The stored version this index matches. */
  #version = 0;
  #writes = Promise.resolve();
  /** Stored records found damaged at load, left out of the index. */
  #damaged = [];

  constructor(index, { storage = null, name = null, storeText = false } = {}) {
    this.#index = index;
    this.#storage = storage;
    this.#name = name;
    this.texts = new Texts(storeText);
  }

  /** `{ persisted, damaged }` for the API's getters. */
  stats() {
    return {
      persisted: this.#storage ? { name: this.#name, version: this.#version } : null,
      damaged: this.#damaged,
    };
  }

  /** Reads the stored index into the (empty) index, under the storage's lock. */
  async attach() {
    if (!this.#storage) return;
    try {
      await this.#storage.lock(() => this.load());
    } catch (err) {
      if (err?.name === "IndexError") {
        err.message += ` (stored index '${this.#name}': call Retriever.deleteIndex('${this.#name}') and add the documents again)`;
      }
      throw err;
    }
  }

  /**
   * Reads the whole stored index: its document records a batch at a time (a damaged record is left
   * out and listed in `damaged`), or a layout-1 record, which is migrated to records. Also what a
   * fresh instance reads after a trap (without the lock, which a trapped commit may hold: what
   * another tab writes meanwhile is applied again by the next catch-up, and applying is idempotent).
   */
  async load() {
    const header = await this.#storage.readHeader();
    this.#index.clear();
    this.texts.clear();
    this.#damaged = [];
    if (!header) {
      const legacy = await this.#storage.readLegacy();
      if (legacy) await this.#migrate(legacy);
      return;
    }
    this.#checkHeader(header);
    await this.#storage.readDocuments((records) => this.#apply(records));
    this.restoreWords();
    this.#version = header.version;
  }

  /** Whether a stored copy exists to recover from. */
  get stored() {
    return this.#storage !== null;
  }

  /** Records of an earlier version hold no words for BM25: rebuilt from the kept texts (a kept text
   *  that is not the encoded one is skipped); without its text a document is found by late
   *  interaction only until added again. */
  restoreWords() {
    this.#index.restoreWords(this.texts.asObject());
  }

  /** A stored index of another model or format cannot be read record by record: refused whole. */
  #checkHeader(header) {
    const model = this.#model();
    const problem = header.format !== 2
      ? `it has layout ${header.format}, which this version cannot read`
      : header.modelSha256 && header.modelSha256 !== model.modelSha256
        ? `it was made with another model (sha256 ${header.modelSha256}, this one is ${model.modelSha256})`
        : null;
    if (problem) {
      const err = new Error(`the stored index cannot be used: ${problem}`);
      err.name = "IndexError";
      throw err;
    }
  }

  /** What the header records of the index. */
  #model() {
    return { modelSha256: this.#index.modelSha256, precision: this.#index.precision };
  }

  /** Layout 1 to 2: the whole-index record becomes one record per document, in one transaction. */
  async #migrate(legacy) {
    this.#index.importIndex(legacy.bytes); // a damaged one is an IndexError, as before
    const version = legacy.version + 1;
    await this.#storage.write(version, { put: this.#records(this.#index.documentIds()), clear: true, dropLegacy: true, model: this.#model() });
    this.#version = version;
  }

  /** Stores stored records in the index (and their texts); damaged ones are listed, not stored. */
  #apply(records) {
    const damaged = this.#index.applyDocuments(records.map((r) => r.id), records.map((r) => r.bytes));
    const left = new Set(damaged.map((d) => d.id));
    for (const r of records) {
      if (r.text !== undefined && !left.has(r.id)) this.texts.set(r.id, r.text);
    }
    for (const d of damaged) {
      this.#damaged.push({ name: "IndexError", id: d.id, message: `the stored record of document '${d.id}' is damaged and was left out: ${d.message}` });
    }
  }

  /** The records of these documents as they are now (ids not stored are left out). */
  #records(ids) {
    const bytes = this.#index.exportDocuments(ids);
    return ids.flatMap((id, i) => (bytes[i] ? [{ id, bytes: bytes[i], text: this.texts.get(id) }] : []));
  }

  /** Applies what another tab (or an earlier visit) stored since this index last read or wrote. */
  async #catchUp() {
    const header = await this.#storage.readHeader();
    if (!header || header.version === this.#version) return;
    const changes = await this.#storage.changesSince(this.#version);
    if (!changes) return this.load(); // too far behind for the log: read everything
    const found = await this.#storage.readDocumentsById(changes.ids);
    for (const { id } of found.filter((f) => !f.record)) {
      this.#index.remove(id);
      this.texts.delete(id);
    }
    this.#apply(found.filter((f) => f.record).map((f) => ({ id: f.id, ...f.record })));
    this.#version = changes.version;
  }

  /**
   * Runs `change` (which touches the documents `ids`; `null`: possibly all) and, with storage, stores
   * those documents' records in one transaction under the index's lock. If the write fails (quota),
   * those documents go back to their stored state and the error is thrown. One change at a time: an
   * add yields between passages, and another change must not slip in between its encoding and its
   * commit.
   */
  commit(ids, change) {
    const run = this.#writes.then(() => (this.#storage ? this.#storage.lock(() => this.#commitStored(ids, change)) : change()));
    this.#writes = run.catch(() => {});
    return run;
  }

  async #commitStored(ids, change) {
    await this.#catchUp();
    const touched = ids ?? this.#index.documentIds();
    const before = this.#records(touched);
    const textsBefore = this.texts.snapshot();
    const result = await change();
    const after = this.#records(ids ?? this.#index.documentIds());
    const kept = new Set(after.map((r) => r.id));
    const remove = ids ? before.filter((r) => !kept.has(r.id)).map((r) => r.id) : [];
    try {
      await this.#storage.write(this.#version + 1, { put: after, remove, clear: !ids, model: this.#model() });
    } catch (err) {
      this.#restore(ids && touched, before, textsBefore);
      throw err;
    }
    this.#version += 1;
    return result;
  }

  /** Puts the `touched` documents (null: all) back as the `before` records had them. */
  #restore(touched, before, textsBefore) {
    if (touched) touched.forEach((id) => this.#index.remove(id));
    else this.#index.clear();
    this.#index.applyDocuments(before.map((r) => r.id), before.map((r) => r.bytes));
    this.texts.restore(textsBefore);
  }
}
