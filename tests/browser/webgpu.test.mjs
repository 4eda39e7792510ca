// The WGSL kernel in the browser: Chromium's WebGPU (SwiftShader here, a software adapter, accepted
// with gpu: "allow-fallback") must rank exactly like the CPU kernel in every storage precision, and a
// destroyed device must fall back to the CPU with the same ranking; `auto` must measure SwiftShader as
// slower than the CPU kernel and keep the CPU.
import { test } from "node:test";
import assert from "node:assert/strict";
import { serveAndLaunch } from "./browser.mjs";

const session = serveAndLaunch(["--enable-unsafe-webgpu"]);

test("WebGPU MaxSim matches the CPU in every precision and survives a lost device", async () => {
  const page = await session.browser().newPage();
  await page.goto(session.url("/www/demo/blank.html"));
  const runs = await page.evaluate(async () => {
    const { Retriever } = await import("/www/lib/index.js");
    const notes = [
      ["bread", "Sourdough needs a starter fed with flour and water every day."],
      ["bike", "Replace the bicycle chain when it stretches past 0.5 percent."],
      ["tax", "File the quarterly tax return before the end of April."],
      ["plants", "Water the fern twice a week and keep it out of direct sun."],
      ["car", "The car needs new winter tyres and an oil change in November."],
    ].map(([id, text]) => ({ id, text }));
    const queries = ["feeding a sourdough starter", "bicycle chain wear", "how often to water ferns"];
    const out = [];
    for (const precision of ["int8", "f32", "f16", "binary"]) {
      const r = await Retriever.load("/models/default/", { precision, gpu: "allow-fallback" });
      await r.add(notes);
      const run = { precision, adapter: r.gpuAdapter, gpuError: r.gpuError, cpu: [], gpu: [] };
      await r.setBackend("simd");
      // MaxSim alone: its scores are what the two backends must agree on.
      for (const q of queries) run.cpu.push(await r.search(q, 5, { mode: "late" }));
      await r.setBackend("webgpu");
      for (const q of queries) run.gpu.push(await r.search(q, 5, { mode: "late" }));
      run.gpuBackends = run.gpu.map((h) => h.backend);
      run.gpuError = r.gpuError;
      r.free();
      out.push(run);
    }
    const auto = await Retriever.load("/models/default/", { gpu: "allow-fallback" });
    await auto.add(notes);
    const beforeMeasuring = auto.backend;
    const measuring = (await auto.search(queries[0], 5)).backend;
    out.push({ auto: { beforeMeasuring, measuring, measurement: auto.backendMeasurement, after: (await auto.search(queries[1], 5)).backend, backendNow: auto.backend } });
    auto.free();
    const r = await Retriever.load("/models/default/", { gpu: "allow-fallback", backend: "webgpu" });
    await r.add(notes);
    const before = await r.search(queries[0], 5);
    await r.destroyGpuForTesting();
    const after = await r.search(queries[0], 5);
    out.push({ lost: { before: before.backend, after: after.backend, same: JSON.stringify(before.map((h) => h.id)) === JSON.stringify(after.map((h) => h.id)), backendNow: r.backend } });
    return JSON.parse(JSON.stringify(out, (k, v) => (Array.isArray(v) && v.backend ? { backend: v.backend, hits: [...v] } : v)));
  });
  const lost = runs.pop().lost;
  const { measurement, ...auto } = runs.pop().auto;
  // auto times its first search at this size on the GPU and on the CPU kernel, then keeps whichever
  // measured faster (both branches with injected measurements: tests/retriever.rs); which one
  // SwiftShader loses to is the machine's business, so it is printed, not asserted.
  console.log(`# auto on SwiftShader measured ${JSON.stringify(measurement)}`);
  // The CPU's time on a few notes can be below the page's timer resolution (0.1 ms): 0 is a reading.
  assert.ok(measurement.gpuMs > 0 && measurement.cpuMs >= 0, JSON.stringify(measurement));
  const kept = measurement.gpuMs < measurement.cpuMs ? "webgpu" : "simd";
  assert.deepEqual(auto, { beforeMeasuring: "webgpu", measuring: "webgpu", after: kept, backendNow: kept });
  for (const run of runs) {
    assert.equal(run.gpuError, null, `${run.precision}: ${run.gpuError}`);
    assert.ok(run.adapter, "an adapter name");
    for (const [i, gpu] of run.gpu.entries()) {
      const cpu = run.cpu[i];
      assert.equal(cpu.backend, "simd");
      assert.equal(gpu.backend, "webgpu", `${run.precision}: scored on the GPU`);
      assert.deepEqual(gpu.hits.map((h) => h.id), cpu.hits.map((h) => h.id), `${run.precision} query ${i}`);
      for (const [j, hit] of gpu.hits.entries()) {
        const want = cpu.hits[j].score;
        assert.ok(Math.abs(hit.score - want) < 1e-4 * (1 + Math.abs(want)), `${run.precision}: ${hit.score} vs ${want}`);
      }
    }
  }
  assert.deepEqual(lost, { before: "webgpu", after: "simd", same: true, backendNow: "simd" });
  console.log(`# WebGPU adapter: ${runs[0].adapter}`);
});
