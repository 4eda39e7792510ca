// Are the caller's arguments what the API takes? Every public Retriever method checks its arguments
// here before anything reaches the engine, and refuses with an `InvalidInputError` that names the
// argument, instead of coercing (`String({})` would search for "[object Object]"). The rules are
// listed in index.d.ts and the README.

/** Most hits one search returns. */
export const MAX_K = 10_000;
/** Default largest document text, in UTF-16 code units (the `maxDocumentLength` load option). */
export const DEFAULT_MAX_DOCUMENT_LENGTH = 4_000_000;
/** Longest document id, in UTF-16 code units. */
export const MAX_ID_LENGTH = 1024;

export function invalid(message) {
  const err = new Error(message);
  err.name = "InvalidInputError";
  return err;
}

const describe = (value) => {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "string") return `a string`;
  if (typeof value === "number") return `the number ${value}`;
  if (value === undefined) return "undefined";
  return typeof value === "object" ? `an object (${value.constructor?.name ?? "no prototype"})` : `a ${typeof value}`;
};

function isPlainObject(value) {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** JSON text of `value`, or an InvalidInputError naming `what` when it is not JSON data. */
function jsonText(value, what) {
  let text;
  try {
    text = JSON.stringify(value);
  } catch (err) {
    throw invalid(`${what} must be JSON-serialisable: ${err.message}`);
  }
  if (text === undefined) throw invalid(`${what} must be JSON-serialisable, not ${describe(value)}`);
  return text;
}

export function checkString(value, what) {
  if (typeof value !== "string") throw invalid(`${what} must be a string, not ${describe(value)}`);
  return value;
}

export function checkId(value, what = "id") {
  checkString(value, what);
  if (value.length === 0) throw invalid(`${what} must not be empty`);
  if (value.length > MAX_ID_LENGTH) throw invalid(`${what} is ${value.length} characters long; the most is ${MAX_ID_LENGTH}`);
  return value;
}

/**
 * `docs` as the engine takes them: `[{ id, text, metadata? }]` with metadata as JSON text.
 * Each document is a plain object `{ id, text, metadata? }`.
 */
export function checkDocuments(docs, maxDocumentLength = DEFAULT_MAX_DOCUMENT_LENGTH) {
  if (!Array.isArray(docs)) throw invalid(`docs must be an array of { id, text, metadata? }, not ${describe(docs)}`);
  return docs.map((doc, i) => {
    if (!isPlainObject(doc)) throw invalid(`docs[${i}] must be an object { id, text, metadata? }, not ${describe(doc)}`);
    const id = checkId(doc.id, `docs[${i}].id`);
    const text = checkString(doc.text, `docs[${i}].text`);
    if (text.length > maxDocumentLength) {
      throw invalid(`docs[${i}].text is ${text.length} characters long; the most is ${maxDocumentLength} (the maxDocumentLength option)`);
    }
    const checked = { id, text };
    if (doc.metadata !== undefined) checked.metadata = jsonText(doc.metadata, `docs[${i}].metadata`);
    return checked;
  });
}

export function checkK(k) {
  if (!Number.isInteger(k) || k < 1 || k > MAX_K) {
    throw invalid(`k must be an integer from 1 to ${MAX_K}, not ${typeof k === "number" ? k : describe(k)}`);
  }
  return k;
}

/** A string offset: a non-negative integer. */
export function checkOffset(value, what) {
  if (!Number.isInteger(value) || value < 0) throw invalid(`${what} must be a non-negative integer, not ${describe(value)}`);
  return value;
}

/** A filter as JSON text (or undefined): a plain object of JSON values. */
export function checkFilter(filter) {
  if (filter === undefined) return undefined;
  if (!isPlainObject(filter)) throw invalid(`filter must be a plain object such as { folder: "work" }, not ${describe(filter)}`);
  return jsonText(filter, "filter");
}

/** Which signals rank a search (undefined: the default, "hybrid"). */
export const SEARCH_MODES = ["hybrid", "late", "lexical"];
export function checkMode(mode) {
  if (mode === undefined) return undefined;
  if (!SEARCH_MODES.includes(mode)) throw invalid(`mode must be one of ${SEARCH_MODES.map((m) => `"${m}"`).join(", ")}, not ${describe(mode)}`);
  return mode;
}

/** importIndex's `texts`: a plain object of id -> text strings ({} when undefined: a caller's import must end with every document's words). */
export function checkTexts(texts) {
  if (texts === undefined) return {};
  if (!isPlainObject(texts)) throw invalid(`texts must be a plain object of { id: text }, not ${describe(texts)}`);
  for (const [id, text] of Object.entries(texts)) checkString(text, `texts[${JSON.stringify(id)}]`);
  return texts;
}

/** Token ids as a Uint32Array: integers from 0 to 2^32 - 1 (the model checks its own range). */
export function checkTokenIds(ids) {
  if (!Array.isArray(ids) && !ArrayBuffer.isView(ids)) throw invalid(`ids must be an array of token ids, not ${describe(ids)}`);
  const array = Array.from(ids);
  const bad = array.findIndex((id) => !Number.isInteger(id) || id < 0 || id > 0xffffffff);
  if (bad >= 0) throw invalid(`ids[${bad}] must be a non-negative integer token id, not ${describe(array[bad])}`);
  return Uint32Array.from(array);
}

export function checkBytes(bytes, what) {
  if (bytes instanceof ArrayBuffer) return new Uint8Array(bytes);
  if (bytes instanceof Uint8Array) return bytes;
  throw invalid(`${what} must be a Uint8Array or ArrayBuffer, not ${describe(bytes)}`);
}

export function checkMaxDocumentLength(value) {
  if (value === undefined) return DEFAULT_MAX_DOCUMENT_LENGTH;
  if (!Number.isInteger(value) || value < 1) throw invalid(`maxDocumentLength must be a positive integer, not ${describe(value)}`);
  return value;
}

/** The `encoders` option: how many engines encode an `add` (1: the retriever's own; undefined: default). */
export function checkEncoders(value) {
  if (value === undefined) return undefined;
  if (!Number.isInteger(value) || value < 1 || value > 64) throw invalid(`encoders must be an integer from 1 to 64, not ${describe(value)}`);
  return value;
}

/** The `poolFactor` option: token pooling for added documents, an integer from 1 (off) to 8. */
export function checkPoolFactor(value) {
  if (value === undefined) return undefined;
  if (!Number.isInteger(value) || value < 1 || value > 8) throw invalid(`poolFactor must be an integer from 1 to 8, not ${describe(value)}`);
  return value;
}
