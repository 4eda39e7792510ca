// Which wasm runs, and how is it started? Picks the relaxed-simd or simd128 build by running the
// relaxed instruction, compiles it once, and makes fresh instances of it (behind a fresh copy of the
// JS glue) for the engine's recovery after a trap.
import init, { Retriever as WasmRetriever } from "../pkg/colbert_wasm.js";

// Two builds of the same code (scripts/build.sh): relaxed-simd lets tract's int8 matmul and activation
// kernels use relaxed instructions, about twice as fast where the engine has them.
const WASM_URLS = {
  "relaxed-simd": new URL("../pkg/colbert_wasm_relaxed_bg.wasm", import.meta.url),
  simd128: new URL("../pkg/colbert_wasm_bg.wasm", import.meta.url),
};
export const isNode = typeof process !== "undefined" && !!process.versions?.node;

/**
 * Whether this engine runs relaxed SIMD as standardised. Validating is not enough: Node 20 behind
 * --experimental-wasm-relaxed-simd accepts the opcodes but computes i32x4.relaxed_dot_i8x16_i7x16_add_s
 * differently (measured: int8 token vectors then point the wrong way). So run that instruction, the
 * one tract's int8 kernel is built on, on (-1, 2, -3, 4) · (1, 1, 1, 1) and expect 2.
 */
function relaxedSimdWorks() {
  const v128 = (lanes) => [0xfd, 0x0c, ...lanes.map((x) => x & 0xff)];
  const a = [-1, 2, -3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16];
  const body = [0, ...v128(a), ...v128(Array(16).fill(1)), ...v128(Array(16).fill(0)),
    0xfd, 0x93, 0x02, /* relaxed dot add */ 0xfd, 0x1b, 0x00, /* extract lane 0 */ 0x0b];
  const module = [0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 0x7f, 3, 2, 1, 0,
    7, 7, 1, 3, 0x72, 0x75, 0x6e, 0, 0, 10, body.length + 2, 1, body.length, ...body];
  try {
    return new WebAssembly.Instance(new WebAssembly.Module(new Uint8Array(module))).exports.run() === 2;
  } catch {
    return false; // no relaxed SIMD here
  }
}

export const preferredBuild = relaxedSimdWorks() ? "relaxed-simd" : "simd128";
/** The build loaded: "relaxed-simd" or "simd128" (null before `initWasm` resolves). */
export let wasmBuild = null;

/** The compiled module of the build loaded: fresh instances are made from it after a trap. */
let compiled = null;
let compiling;
/** The compiled module and its build, compiled once per thread: what `shareCompiledWasm` hands to workers. */
export function compileWasm() {
  compiling ??= (async () => {
    const compile = async (url) => {
      if (!isNode) return WebAssembly.compileStreaming(fetch(url));
      const fs = await import(/* @vite-ignore */ "node:fs/promises");
      return WebAssembly.compile(await fs.readFile(url));
    };
    try {
      return { module: await compile(WASM_URLS[preferredBuild]), build: preferredBuild };
    } catch (err) {
      // A package built with WASM_RELAXED=0 has only the simd128 file.
      if (preferredBuild === "simd128") throw err;
      return { module: await compile(WASM_URLS.simd128), build: "simd128" };
    }
  })();
  return compiling;
}

/** Whether this thread's module came from another thread (an encoder pool shares one compilation). */
export let wasmShared = false;
/** Use a module compiled elsewhere (posted by the page to its workers) instead of compiling again. */
export function shareCompiledWasm({ module, build }) {
  if (compiling) return;
  compiling = Promise.resolve({ module, build });
  wasmShared = true;
}

let ready;
export function initWasm() {
  ready ??= (async () => {
    ({ module: compiled, build: wasmBuild } = await compileWasm());
    firstExports = await init({ module_or_path: compiled });
  })();
  return ready;
}

let firstExports = null;
/** Bytes of the first instance's linear memory: what loading grew it to (wasm memory never shrinks). */
export const wasmMemoryBytes = () => firstExports?.memory.buffer.byteLength ?? 0;

/**
 * A new instance of the wasm with its own memory, behind its own copy of the JS glue (the glue keeps
 * one instance per module, so a second module is imported under another URL). Used to replace an
 * instance a trap left in an unknown state.
 */
const GLUE_URL = new URL("../pkg/colbert_wasm.js", import.meta.url);
let instances = 0;
export async function freshWasmRetriever() {
  await initWasm();
  const glue = await import(/* @vite-ignore */ `${GLUE_URL.href}?instance=${++instances}`);
  await glue.default({ module_or_path: compiled });
  return glue.Retriever;
}

/** The wasm Retriever class of the first instance (after `initWasm`). */
export { WasmRetriever };
