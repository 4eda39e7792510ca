// npm run bench:maxsim — MaxSim kernels of the built wasm package in Node and headless Chromium, in one
// run (see scripts/bench/maxsim-core.mjs). Chromium's WebGPU here is SwiftShader, a software adapter:
// its row shows the GPU path works, never how fast a real GPU is. Speed claims need an idle machine.
import { initWasm } from "../www/lib/wasm.js";
import { MaxSimBench } from "../www/pkg/colbert_wasm.js";
import { benchHybridCost, benchMaxSim, report, reportHybridCost } from "./bench/maxsim-core.mjs";
import { startServer } from "./serve.mjs";
import { launchChromium } from "../tests/browser/browser.mjs";

const sizes = (process.env.SIZES ?? "1000,10000,50000").split(",").map(Number);

await initWasm();
report("node", await benchMaxSim({ MaxSimBench, sizes }));
reportHybridCost("node", benchHybridCost({ MaxSimBench, sizes }));

const server = await startServer(0, "127.0.0.1", ["scripts/bench"]);
const browser = await launchChromium(["--enable-unsafe-webgpu"]);
try {
  const page = await browser.newPage();
  await page.goto(`http://127.0.0.1:${server.address().port}/www/demo/blank.html`);
  const result = await page.evaluate(async (sizes) => {
    const { initWasm } = await import("/www/lib/wasm.js");
    const { MaxSimBench } = await import("/www/pkg/colbert_wasm.js");
    const { benchMaxSim } = await import("/scripts/bench/maxsim-core.mjs");
    await initWasm();
    const { benchHybridCost } = await import("/scripts/bench/maxsim-core.mjs");
    return { maxsim: await benchMaxSim({ MaxSimBench, sizes, gpu: true }), hybrid: benchHybridCost({ MaxSimBench, sizes }) };
  }, sizes);
  report("chromium", result.maxsim);
  reportHybridCost("chromium", result.hybrid);
} finally {
  await browser.close();
  server.close();
}
