// The conformance suite's core in wasm: the wasm SIMD kernels (f32 blocks of four query tokens, int8
// `i32x4.dot_i16x8_s`, f16, binary) agree with the scalar reference in every precision and at widths
// that are and are not multiples of the SIMD blocks, including empty and 4,097-token documents.
import { test } from "node:test";
import assert from "node:assert/strict";
import { initWasm } from "../../www/lib/wasm.js";
import { MaxSimBench } from "../../www/pkg/colbert_wasm.js";

test("wasm SIMD MaxSim matches the scalar reference in every precision", async () => {
  await initWasm();
  for (const [docs, tokens, dim, queryTokens] of [[40, 9, 128, 32], [12, 7, 96, 5], [10, 3, 100, 7], [3, 0, 16, 3], [2, 4097, 24, 6]]) {
    for (const precision of ["f32", "f16", "int8", "binary"]) {
      const bench = new MaxSimBench(docs, tokens, dim, queryTokens, precision);
      const [simd, scalar] = [bench.scoresCpu("simd"), bench.scoresCpu("scalar")];
      bench.free();
      assert.equal(simd.length, docs);
      simd.forEach((got, i) => {
        const want = scalar[i];
        assert.ok(Math.abs(got - want) <= 1e-4 * (1 + Math.abs(want)), `${precision} dim ${dim} doc ${i}: ${got} vs ${want}`);
      });
    }
  }
});
