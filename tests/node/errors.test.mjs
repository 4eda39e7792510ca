// Bad input reaches JS as a typed Error, never a panic, and never loses what was already indexed.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { Retriever } from "colbert-wasm";
import { readBundle } from "./helpers.mjs";

const bundle = readBundle();
const manifest = JSON.parse(new TextDecoder().decode(bundle.manifest));
const sha256 = (bytes) => createHash("sha256").update(bytes).digest("hex");

/** A manifest that vouches for `model`, so the loader's own checks are what is tested. */
function manifestFor(model, edit = () => {}) {
  const m = structuredClone(manifest);
  m.files.model.sha256 = sha256(model);
  edit(m);
  return JSON.stringify(m);
}

async function rejects(promise, name) {
  await assert.rejects(promise, (err) => {
    assert.ok(err instanceof Error, "an Error instance");
    assert.equal(err.name, name, err.message);
    assert.ok(err.message.length > 10);
    return true;
  });
}

test("a tampered model fails its checksum", async () => {
  const model = bundle.model.slice();
  model[5000] ^= 0xff;
  await rejects(Retriever.fromBytes({ ...bundle, model }), "ChecksumError");
});

test("corrupt model bytes are a ModelError", async () => {
  const model = bundle.model.slice(0, bundle.model.length / 3);
  await rejects(Retriever.fromBytes({ ...bundle, model, manifest: manifestFor(model) }), "ModelError");
});

test("a wrong manifest is a ManifestError", async () => {
  await rejects(Retriever.fromBytes({ ...bundle, manifest: "{ nope" }), "ManifestError");
  const future = manifestFor(bundle.model, (m) => (m.format_version = 2));
  await rejects(Retriever.fromBytes({ ...bundle, manifest: future }), "ManifestError");
});

test("bad documents are refused and the index keeps what it had", async () => {
  const retriever = await Retriever.fromBytes(bundle);
  await retriever.add([{ id: "keep", text: "a note about tomato seedlings" }]);
  await rejects(retriever.add([{ id: "ok", text: "fine" }, { id: "", text: "no id" }]), "InvalidInputError");
  await rejects(retriever.add([{ id: "huge", text: "x".repeat(5 << 20) }]), "InvalidInputError");
  assert.equal(retriever.size, 1);
  assert.equal((await retriever.search("", 5)).length, 0);
  const hits = await retriever.search("tomato", 5);
  assert.equal(hits[0].id, "keep");
  // Empty documents are legal and score like any other.
  await retriever.add([{ id: "empty", text: "" }]);
  assert.equal(retriever.size, 2);
});

test("hits carry the best passage as a JS string range, emoji and all", async () => {
  const retriever = await Retriever.fromBytes(bundle);
  const filler = Array.from({ length: 30 }, (_, i) => `🙂 Section ${i}: routine notes about the weekly groceries and chores.`);
  const fact = "The passport renewal appointment is on the third of March.";
  const text = [...filler, fact, ...filler.slice(0, 5)].join("\n\n");
  await retriever.add([{ id: "long", text }, { id: "short", text: "Renew the library card." }]);
  assert.ok(retriever.passageCount >= 3, `${retriever.passageCount} passages`);
  const [hit] = await retriever.search("when is the passport renewal appointment", 1);
  assert.equal(hit.id, "long");
  assert.ok(text.slice(hit.passage.start, hit.passage.end).includes(fact));
  const [short] = await retriever.search("library card", 1);
  assert.deepEqual(short.passage, { start: 0, end: "Renew the library card.".length });
});

test("after free() every call rejects with an EngineError saying so, in-thread and in a worker", async () => {
  for (const worker of [false, true]) {
    const retriever = await Retriever.fromBytes(bundle, { worker });
    await retriever.add([{ id: "a", text: "a note" }]);
    retriever.free();
    for (const call of [() => retriever.search("note", 1), () => retriever.add([{ id: "b", text: "x" }]), () => retriever.exportIndex()]) {
      await assert.rejects(call(), (err) => err.name === "EngineError" && /free\(\)/.test(err.message), `worker: ${worker}`);
    }
  }
});
