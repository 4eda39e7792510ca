// Every method of the JS API, declared once. The `Retriever` facade (index.js), argument validation,
// the commit and progress wrapping (engine.js) and the one dispatch the worker and the in-thread
// engine share (engine.js `dispatch`) all derive from this table. Documentation lives in index.d.ts.
//
// A row (one engine call) has:
//   check(...callerArgs) -> args   validates the caller's arguments into the engine's (public methods)
//   result(value, args)            shapes the engine's answer for the caller (default: as it is)
//   facade                         "hand-written" (index.js writes the method: add, warmUp), or a
//                                  Symbol the method is reached by (test-only methods); default: the
//                                  row's name, generated from check/result
//   run(ctx, ...args)              what the engine does: ctx = { inner (the wasm retriever),
//                                  texts (kept with storeText), engine (the LocalEngine) }
//   commits(args) -> ids | null    the call changes the index: the ids it touches (null: possibly all);
//                                  run then goes through the commit protocol (persistence.js)
//   progress                       the engine's last argument is an onProgress callback (relayed by
//                                  the worker as messages)
//   unguarded                      runs outside the trap recovery (it touches no wasm)
import {
  checkBytes, checkDocuments, checkFilter, checkId, checkK, checkMode, checkOffset, checkString, checkTexts, checkTokenIds,
} from "./validate.js";

const ids = (docs) => docs.map((d) => d.id);
const nothing = () => undefined;

export const METHODS = {
  add: {
    facade: "hand-written", // chunks, the encoder pool and abort signals: index.js
    check: (docs, maxDocumentLength) => [checkDocuments(docs, maxDocumentLength)],
    commits: ([docs]) => ids(docs),
    progress: true,
    run: (ctx, docs, onProgress) => ctx.engine.addBatch(ctx.inner, docs, onProgress),
  },
  search: {
    check: (query, k = 10, { filter, mode } = {}) => [checkString(query, "query"), checkK(k), checkFilter(filter), checkMode(mode)],
    run: ({ inner, texts }, query, k, filter, mode) => inner.search(query, k, filter, mode).then((results) => {
      if (texts.kept) for (const hit of results.hits) hit.text = texts.get(hit.id);
      return results;
    }),
    result: ({ hits, backend }, [, , , mode]) => Object.assign(hits, { backend, mode: mode ?? "hybrid" }),
  },
  explain: {
    check: (query, text, hit) => {
      const start = hit?.passage?.start;
      if (start !== undefined) checkOffset(start, "hit.passage.start");
      return [checkString(query, "query"), checkString(text, "text"), start];
    },
    run: ({ inner }, query, text, start) => inner.explain(query, text, start),
    result: ({ tokens, words }) => Object.assign(tokens, { words }),
  },
  getDocument: {
    check: (id) => [checkId(id)],
    run: ({ inner, texts }, id) => {
      const metadata = inner.documentMetadata(id);
      return metadata === undefined ? null : { id, text: texts.get(id), metadata };
    },
  },
  documents: {
    check: () => [],
    run: ({ inner, texts }) => inner.documentIds().map((id) => ({ id, text: texts.get(id), metadata: inner.documentMetadata(id) })),
  },
  remove: {
    check: (id) => [checkId(id)],
    commits: ([id]) => [id],
    run: ({ inner, texts }, id) => {
      texts.delete(id);
      return inner.remove(id);
    },
  },
  setBackend: {
    check: (name) => [checkString(name, "name")],
    run: ({ inner }, name) => inner.setBackend(name),
    result: nothing,
  },
  exportIndex: {
    check: () => [],
    run: ({ inner }) => inner.exportIndex(),
  },
  importIndex: {
    check: (bytes, { texts } = {}) => [checkBytes(bytes, "bytes"), checkTexts(texts)],
    commits: () => null,
    // Texts kept with storeText are dropped: the file has none.
    run: ({ inner, texts }, bytes, byId) => {
      inner.importIndex(bytes, byId);
      texts.clear();
    },
    result: nothing,
  },
  encodeQuery: {
    check: (text) => [checkString(text, "text")],
    run: ({ inner }, text) => inner.encodeQuery(text),
  },
  encodeIds: {
    check: (tokenIds) => [checkTokenIds(tokenIds)],
    run: ({ inner }, tokenIds) => inner.encodeIds(tokenIds),
  },
  tokenize: {
    check: (text) => [checkString(text, "text")],
    run: ({ inner }, text) => inner.tokenIds(text),
  },
  warmUp: {
    facade: "hand-written", // repeated until the times settle: index.js
    run: ({ engine, inner }) => engine.timeOneQuery(inner),
  },
  destroyGpuForTesting: {
    check: () => [],
    run: ({ inner }) => inner.destroyGpuForTesting(),
    result: nothing,
  },
  trapForTesting: {
    facade: Symbol.for("colbert-wasm.trapForTesting"),
    check: (when) => [checkString(when, "when")],
    run: ({ inner }, when) => inner.trapForTesting(when),
    result: nothing,
  },
  // Engine calls only an encoder pool makes (pool.js): no facade.
  encodeBatch: {
    progress: true,
    run: ({ engine }, docs, onProgress) => engine.encodeBatch(docs, onProgress),
  },
  unchangedOf: {
    run: ({ inner }, docs) => Array.from(inner.unchangedOf(docs), Boolean),
  },
  commitEncoded: {
    commits: ([, unchanged, encoded]) => [...ids(encoded), ...ids(unchanged)],
    run: ({ inner, texts }, bytes, unchanged, encoded) => {
      const report = inner.commitEncoded(bytes, unchanged);
      texts.keep([...encoded, ...unchanged]);
      return report;
    },
  },
  abortAdd: {
    unguarded: true,
    run: ({ engine }) => engine.abortAdd(),
  },
};

/** The API's getters, each read from the engine's last stats (`default` when it has none). */
export const GETTERS = {
  size: {},
  passageCount: {},
  tokenCount: {},
  backend: {},
  backendMeasurement: {},
  precision: {},
  gpuAdapter: {},
  gpuError: {},
  damaged: { default: [] },
  persisted: {},
  wasmBuild: {},
  modelSha256: {},
};

/** Rows with a generated facade method: `[name or Symbol, row]`. */
export function facadeMethods() {
  return Object.entries(METHODS)
    .filter(([, row]) => row.check && row.facade !== "hand-written")
    .map(([name, row]) => [row.facade ?? name, name, row]);
}
