// Cargo's runner for wasm32-wasip1 test binaries (scripts/test-vendor.sh): runs one under Node's own
// WASI, so the vendored crates' wasm kernels are tested in the engine the package ships to, with no
// wasmtime to install. Arguments: the .wasm, then the test harness's own.
import { WASI } from "node:wasi";
import { readFileSync } from "node:fs";

const [file, ...args] = process.argv.slice(2);
const wasi = new WASI({ version: "preview1", args: [file, ...args], env: process.env, preopens: { "/": "/" }, returnOnExit: true });
const instance = await WebAssembly.instantiate(await WebAssembly.compile(readFileSync(file)), wasi.getImportObject());
process.exitCode = wasi.start(instance);
