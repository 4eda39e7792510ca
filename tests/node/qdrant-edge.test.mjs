// Qdrant's own engine ranks what the native indexer uploads as the package's MaxSim does: the points
// and collection settings the indexer sent to the fake server go into Qdrant Edge (the server's shard
// code in-process, PyPI qdrant-edge-py: set-up's .cache/venv-qdrant; edge_ranks.py), and the queries,
// encoded by the package's encodeQuery, must give the same top 10 as its own `mode: "late"` search.
// Runs after the native suite, which builds the indexer.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { Retriever } from "colbert-wasm";
import { index, vaultOf, withQdrant } from "./qdrant-helpers.mjs";
import { docText, readBundle, readJsonl, repoRoot, scifactDir } from "./helpers.mjs";

const EDGE_PYTHON = process.env.QDRANT_EDGE_PYTHON ?? `${repoRoot}.cache/venv-qdrant/bin/python`;

/** Qdrant Edge's answers (see edge_ranks.py): per query, [doc_id, score] best first. */
async function edgeRanks(job) {
  const dir = mkdtempSync(join(tmpdir(), "colbert-edge-"));
  try {
    writeFileSync(join(dir, "job.json"), JSON.stringify(job));
    const script = `${repoRoot}tests/node/edge_ranks.py`;
    const { stdout } = await promisify(execFile)(EDGE_PYTHON, [script, join(dir, "job.json")], { maxBuffer: 1 << 28 });
    return JSON.parse(stdout);
  } finally {
    rmSync(dir, { recursive: true });
  }
}

// A SciFact sample: the first documents of the corpus and queries (no selection, nothing tuned).
const PARITY_DOCS = 80;
const PARITY_QUERIES = 40;

for (const [precision, tolerance] of [["f32", 1e-4], ["int8", 5e-3]]) {
  test(`Qdrant Edge ranks the uploaded ${precision} points as the package's MaxSim does (top 10, SciFact sample)`, async () => {
    assert.ok(existsSync(EDGE_PYTHON), `no Python with qdrant-edge-py at ${EDGE_PYTHON} (scripts/setup.sh makes it)`);
    const docs = readJsonl(`${scifactDir}corpus.jsonl`).slice(0, PARITY_DOCS);
    const queries = readJsonl(`${scifactDir}queries.jsonl`).slice(0, PARITY_QUERIES).map((q) => q.text);
    const vault = vaultOf(Object.fromEntries(docs.map((d) => [`${d._id}.txt`, docText(d)])));
    const retriever = await Retriever.fromBytes(readBundle(), { worker: false });
    try {
      await withQdrant(async (qdrant) => {
        const out = join(vault, "index.cwix");
        const run = await index(vault, "--precision", precision, "-o", out, "--qdrant", qdrant.url, "--collection", "scifact");
        assert.equal(run.code, 0, run.stderr);
        await retriever.importIndex(new Uint8Array(readFileSync(out)));
        assert.equal(retriever.precision, precision);
        const { config, points } = qdrant.collections.get("scifact");
        const ours = [];
        const queryVectors = [];
        for (const q of queries) {
          ours.push(await retriever.search(q, 10, { mode: "late" }));
          queryVectors.push(await retriever.encodeQuery(q));
        }
        const edge = await edgeRanks({ collection: config, points: [...points.values()], queries: queryVectors });
        let same = 0;
        let worstGap = 0;
        let worstScore = 0;
        for (const [i, hits] of ours.entries()) {
          const edgeScore = new Map(edge[i]);
          const edgeTop = edge[i].slice(0, 10).map(([id]) => id);
          const ourTop = hits.map((h) => h.id);
          same += ourTop.filter((id, r) => edgeTop[r] === id).length;
          const tenth = edge[i][9][1];
          // Where the lists differ, the package's pick must score (in Qdrant) within `tolerance` of
          // Qdrant's tenth: a near tie, not another ranking.
          for (const hit of hits) {
            const theirs = edgeScore.get(hit.id);
            worstScore = Math.max(worstScore, Math.abs(theirs - hit.score) / Math.abs(theirs));
            worstGap = Math.max(worstGap, (tenth - theirs) / Math.abs(tenth));
          }
        }
        console.log(`# ${precision}: ${points.size} points, ${queries.length} queries: ${same}/${queries.length * 10} top-10 places identical; ` +
          `worst shortfall below Qdrant's 10th ${worstGap.toExponential(2)}, worst score difference ${worstScore.toExponential(2)} (relative)`);
        assert.ok(worstGap <= tolerance, `a package top-10 document scores ${worstGap} below Qdrant's tenth`);
        assert.ok(worstScore <= tolerance, `scores differ by ${worstScore}`);
        if (precision === "f32") assert.ok(same >= queries.length * 10 * 0.98, `${same} places identical`);
      });
    } finally {
      retriever.free();
      rmSync(vault, { recursive: true });
    }
  });
}
