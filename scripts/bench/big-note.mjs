// A 1 MB note through `add` in Node: how soon the first progress report comes (tokenising the whole
// note), how often reports follow (one per passage), and how fast an abort at passage 30 rejects.
// usage: node scripts/bench/big-note.mjs [characters]   (after npm run build; default bundle)
import { readFileSync } from "node:fs";
import { Retriever } from "../../www/lib/index.js";

const dir = new URL("../../models/default/", import.meta.url);
const read = (name) => new Uint8Array(readFileSync(new URL(name, dir)));
const retriever = await Retriever.fromBytes(
  { manifest: read("manifest.json"), model: read("model.onnx"), tokenizer: read("tokenizer.json") },
  { worker: false },
);
const characters = Number(process.argv[2] ?? 1_000_000);
const paragraph = "Sourdough starters need regular feeding with flour and water to stay active, and a warm kitchen helps. ";
const text = paragraph.repeat(Math.ceil(characters / paragraph.length)).slice(0, characters);
const controller = new AbortController();
const started = performance.now();
const reports = [];
let passages = 0;
let error;
await retriever
  .add([{ id: "big", text }], {
    signal: controller.signal,
    onProgress: (done, total, passage) => {
      if (!passage) return;
      reports.push(performance.now() - started);
      passages = passage.total;
      if (passage.done === 30) controller.abort();
    },
  })
  .catch((err) => (error = err.name));
const gaps = reports.slice(1).map((t, i) => t - reports[i]);
console.log({
  characters,
  passages,
  firstReportMs: Math.round(reports[0]),
  meanGapMs: Math.round(gaps.reduce((a, b) => a + b, 0) / gaps.length),
  maxGapMs: Math.round(Math.max(...gaps)),
  abortRejectedWith: error,
  msFromLastReportToRejection: Math.round(performance.now() - started - reports.at(-1)),
  documentsAdded: retriever.size,
});
retriever.free();
