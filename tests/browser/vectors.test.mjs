// Vector parity in Chromium, which loads the relaxed-simd build (tract's int8 kernels on relaxed dot
// products): the same bounds as the Node test of the simd128 build (tests/node/parity.mjs).
import { test, after, before } from "node:test";
import assert from "node:assert/strict";
import { launchChromium } from "./browser.mjs";
import { startServer } from "../../scripts/serve.mjs";

let server;
let browser;
before(async () => {
  server = await startServer(0, "127.0.0.1", ["tests/fixtures", "tests/node"]);
  browser = await launchChromium();
});
after(async () => {
  await browser?.close();
  server?.close();
});

test("the relaxed-simd build's vectors match onnxruntime in Chromium", async () => {
  const page = await browser.newPage();
  await page.goto(`http://127.0.0.1:${server.address().port}/www/demo/blank.html`);
  const { result, failures, text } = await page.evaluate(async () => {
    const { Retriever } = await import("/www/lib/index.js");
    const { describeParity, parityFailures, vectorParity } = await import("/tests/node/parity.mjs");
    const read = async (path) => new Uint8Array(await (await fetch(`/${path}`)).arrayBuffer());
    const result = await vectorParity(Retriever, read);
    return { result, failures: parityFailures(result), text: describeParity(result) };
  });
  console.log(`# ${text}`);
  assert.equal(result.build, "relaxed-simd");
  assert.deepEqual(failures, []);
});
