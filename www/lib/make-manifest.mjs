#!/usr/bin/env node
// colbert-wasm-manifest: writes manifest.json for a ColBERT ONNX export folder, so
// `Retriever.load(folder)` can use it. Reads the conventions from the folder's
// config_sentence_transformers.json (PyLate, pylate-onnx-export) or artifact.metadata (Stanford
// ColBERT) through the package's own Rust code, records each file's sha256 and size, and refuses a
// folder whose tokens would not resolve.
//
//   npx colbert-wasm-manifest DIR [--model model_int8.onnx] [--name NAME] [--dim 128]
import { createHash } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { basename, isAbsolute, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { manifestFromExport, modelDataLocations } from "./engine.js";

const CONFIGS = ["config_sentence_transformers.json", "artifact.metadata"];
const MODELS = ["model_int8.onnx", "model_quantized.onnx", "model.onnx"];

function fileEntry(dir, path) {
  const bytes = readFileSync(join(dir, path));
  return { path, sha256: createHash("sha256").update(bytes).digest("hex"), bytes: bytes.length };
}

function pick(dir, names, what) {
  const found = names.find((name) => existsSync(join(dir, name)));
  if (!found) throw new Error(`${dir} has no ${what} (looked for ${names.join(", ")})`);
  return found;
}

/**
 * The external data files the graph names (torch writes `model.onnx.data` beside `model.onnx`): each
 * must be a plain file name inside the folder, since the browser fetches it relative to the manifest.
 */
async function modelDataEntries(dir, modelPath) {
  const locations = await modelDataLocations(readFileSync(join(dir, modelPath)));
  return locations.map((location) => {
    if (isAbsolute(location) || location.split(/[\\/]/).includes("..")) {
      throw Object.assign(new Error(`${modelPath} names external data outside its folder: ${location}`), { name: "ManifestError" });
    }
    if (!existsSync(join(dir, location))) {
      throw Object.assign(new Error(`${modelPath} keeps its weights in ${location}, which is not in ${dir}`), { name: "ManifestError" });
    }
    return fileEntry(dir, location);
  });
}

export async function makeManifest(dir, { model, name, dim } = {}) {
  const config = pick(dir, CONFIGS, "ColBERT config");
  const modelPath = model ?? pick(dir, MODELS, "ONNX model");
  const files = {
    model: fileEntry(dir, modelPath),
    tokenizer: fileEntry(dir, "tokenizer.json"),
    model_data: await modelDataEntries(dir, modelPath),
  };
  const manifest = await manifestFromExport(
    name ?? basename(resolve(dir)),
    config,
    readFileSync(join(dir, config)),
    readFileSync(join(dir, "tokenizer.json")),
    files,
    dim === undefined ? undefined : Number(dim),
  );
  writeFileSync(join(dir, "manifest.json"), manifest + "\n");
  return JSON.parse(manifest);
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith("colbert-wasm-manifest")) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { model: { type: "string" }, name: { type: "string" }, dim: { type: "string" } },
  });
  if (positionals.length !== 1) {
    console.error("usage: colbert-wasm-manifest DIR [--model FILE] [--name NAME] [--dim N]");
    process.exit(2);
  }
  try {
    const manifest = await makeManifest(positionals[0], values);
    const data = Object.keys(manifest.files).filter((role) => role.startsWith("model_data"));
    const dataNote = data.length ? `, data ${data.map((role) => manifest.files[role].path).join(", ")}` : "";
    console.log(`wrote ${join(positionals[0], "manifest.json")}: ${manifest.name}, model ${manifest.files.model.path}${dataNote}, dim ${manifest.dim}`);
  } catch (err) {
    console.error(`${err.name}: ${err.message}`);
    process.exit(1);
  }
}
