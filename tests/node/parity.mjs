// Vector parity against Python onnxruntime's rows (tests/fixtures/reference_vectors*.json, made by
// scripts/gen_fixtures.py), shared by the Node test and the Chromium test so both shipped wasm
// builds (simd128 in Node 20, relaxed-simd in Chromium) are held to the same bounds.
// `read(path)` gives a repo file's bytes: fs in Node, fetch in the page.

const dot = (a, b) => a.reduce((sum, x, i) => sum + x * b[i], 0);
const cosine = (a, b) => dot(a, b) / Math.sqrt(dot(a, a) * dot(b, b));

async function sha256Hex(bytes) {
  const digest = await crypto.subtle.digest("SHA-256", bytes);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Encodes each fixture case's ids with `modelFile` (raw rows) and yields [rows, referenceRows]. */
async function* encodedCases(Retriever, read, modelFile, fixture) {
  const model = await read(`models/default/${modelFile}`);
  const reference = JSON.parse(new TextDecoder().decode(await read(`tests/fixtures/${fixture}`)));
  if (reference.model_sha256 !== (await sha256Hex(model))) throw new Error(`${fixture} was made from another ${modelFile}`);
  if (reference.cases.length < 20) throw new Error(`${fixture} has only ${reference.cases.length} cases`);
  const manifest = JSON.parse(new TextDecoder().decode(await read("models/default/manifest.json")));
  manifest.files.model.sha256 = reference.model_sha256;
  manifest.normalize = false; // the fixtures hold the graph's raw rows
  const tokenizer = await read("models/default/tokenizer.json");
  const retriever = await Retriever.fromBytes({ manifest: JSON.stringify(manifest), model, tokenizer }, { worker: false });
  try {
    for (const { ids, vectors } of reference.cases) yield [await retriever.encodeIds(ids), vectors, retriever.wasmBuild];
  } finally {
    retriever.free();
  }
}

/**
 * { build, fp32MaxAbs, int8MeanCosine, int8WorstCosine, cases }: the fp32 graph's largest absolute
 * difference, and the int8 graph's token cosines, against onnxruntime.
 */
export async function vectorParity(Retriever, read) {
  const result = { fp32MaxAbs: 0, int8MeanCosine: 0, int8WorstCosine: 1, cases: 0 };
  for await (const [rows, vectors, build] of encodedCases(Retriever, read, "model.fp32.onnx", "reference_vectors_fp32.json")) {
    if (rows.length !== vectors.length * vectors[0].length) throw new Error("row count differs from the reference");
    vectors.flat().forEach((want, i) => (result.fp32MaxAbs = Math.max(result.fp32MaxAbs, Math.abs(rows[i] - want))));
    result.build = build;
    result.cases++;
  }
  let tokens = 0;
  for await (const [rows, vectors] of encodedCases(Retriever, read, "model.onnx", "reference_vectors.json")) {
    const dim = vectors[0].length;
    vectors.forEach((want, t) => {
      const c = cosine(Array.from(rows.subarray(t * dim, (t + 1) * dim)), want);
      result.int8MeanCosine += c;
      result.int8WorstCosine = Math.min(result.int8WorstCosine, c);
      tokens++;
    });
  }
  result.int8MeanCosine /= tokens;
  return result;
}

/** The bounds: fp32 within 1e-4; int8 mean cosine ≥ 0.99 and worst ≥ 0.95 (runtimes round int8
 *  activations differently, as tests/model.rs allows natively). */
export function parityFailures(r) {
  const failures = [];
  if (!(r.fp32MaxAbs < 1e-4)) failures.push(`fp32 max abs difference ${r.fp32MaxAbs}`);
  if (!(r.int8MeanCosine >= 0.99 && r.int8WorstCosine >= 0.95)) failures.push(`int8 cosine mean ${r.int8MeanCosine}, worst ${r.int8WorstCosine}`);
  return failures;
}

export const describeParity = (r) =>
  `${r.build}: fp32 max abs difference ${r.fp32MaxAbs.toExponential(2)}; int8 token cosine mean ${r.int8MeanCosine.toFixed(4)}, worst ${r.int8WorstCosine.toFixed(4)} (${r.cases} texts)`;
