// Node half of bench:encode only (quick A/B of wasm build variants): `node scripts/bench/encode-node.mjs`.
import { readFileSync } from "node:fs";
import * as ort from "onnxruntime-web";
import { Retriever } from "colbert-wasm";
import { PEER_MODEL, benchEncode, report } from "./encode-core.mjs";
import { repoRoot } from "../../tests/node/helpers.mjs";

const bundleDir = `${repoRoot}models/default/`;
const reps = Number(process.env.REPS ?? 20);
report("node", await benchEncode({ Retriever, ort, bundleUrl: bundleDir, modelBytes: readFileSync(`${bundleDir}${PEER_MODEL}`), reps }));
