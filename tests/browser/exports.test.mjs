// A bundle whose model keeps its weights in external data (model.onnx + model.onnx.data, as torch's
// default exporter writes it) loads in Chromium through the Web Worker: the data file is fetched,
// verified, counted in download progress and cached, so a reload with the network off still works.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { serveAndLaunch } from "./browser.mjs";
import { repoRoot } from "../node/helpers.mjs";
import { exportsDir, tokenizerFor } from "../node/exports-helpers.mjs";
import { makeManifest } from "../../www/lib/make-manifest.mjs";

const session = serveAndLaunch();
const FIXTURE = "modernbert-sdpa-default";
// Served by scripts/serve.mjs under /models/ (a build output folder, not tracked).
const folder = join(repoRoot, "models", "test-external-data");

before(async () => {
  mkdirSync(folder, { recursive: true });
  for (const file of ["model.onnx", "model.onnx.data"]) copyFileSync(join(exportsDir, FIXTURE, file), join(folder, file));
  copyFileSync(tokenizerFor(FIXTURE), join(folder, "tokenizer.json"));
  writeFileSync(join(folder, "config_sentence_transformers.json"), JSON.stringify({ embedding_dim: 16 }));
  await makeManifest(folder);
});
after(() => rmSync(folder, { recursive: true, force: true }));

test("an external-data bundle loads through the worker with progress, then offline from the cache", async () => {
  const context = await session.browser().newContext();
  const page = await context.newPage();
  await page.goto(session.url("/www/demo/blank.html"));
  const run = () =>
    page.evaluate(async () => {
      const { Retriever } = await import("/www/lib/index.js");
      const progress = [];
      const retriever = await Retriever.load("/models/test-external-data/", {
        onProgress: (loaded, total) => progress.push([loaded, total]),
      });
      await retriever.add([
        { id: "a", text: "Feed the sourdough starter every morning." },
        { id: "b", text: "Replace the bicycle chain when it stretches." },
      ]);
      const hits = await retriever.search("bicycle chain", 2);
      retriever.free();
      return { progress, ids: hits.map((h) => h.id).sort() };
    });
  const expected = await page.evaluate(async () => {
    const { files } = await (await fetch("/models/test-external-data/manifest.json")).json();
    return { total: files.model.bytes + files.tokenizer.bytes + files.model_data.bytes, data: files.model_data.path };
  });
  assert.equal(expected.data, "model.onnx.data");

  const online = await run();
  assert.deepEqual(online.progress.at(-1), [expected.total, expected.total], "the data file counts in progress");
  assert.ok(online.progress.length > 2, "progress is reported as the files arrive");
  assert.deepEqual(online.ids, ["a", "b"]);

  const blocked = [];
  await context.route("**/models/**", (route) => {
    blocked.push(route.request().url());
    return route.abort("internetdisconnected");
  });
  // The page's own scripts stay reachable (an app's service worker keeps those); the model is cut off.
  const offline = await run();
  assert.deepEqual(offline.ids, ["a", "b"], "the reload works with the model's URLs unreachable");
  assert.ok(blocked.length >= 1, "the worker tried the network and was refused");
  assert.deepEqual(offline.progress.at(-1), [expected.total, expected.total], "cached files count at once");
  await context.close();
});
