// When is an encoder warm? V8 runs a new wasm module's functions in its baseline compiler (Liftoff)
// and recompiles the hot ones with TurboFan in the background, a few at a time, so the first ten or
// so encodes after a load are slower (a 32-token query in Chromium: 123, 63, 34 … 25 ms). A query that
// lands there is the tail of the latency distribution. The engine warms itself up in its worker until
// its times settle; the encoder benchmark uses the same rule for onnxruntime-web.

/** Settled: the last `window` runs within `spread` of each other. */
export function settled(times, window = 3, spread = 0.1) {
  if (times.length < window) return false;
  const last = times.slice(-window);
  return Math.max(...last) <= Math.min(...last) * (1 + spread);
}

/**
 * Calls `runOnce` (one throwaway encode; resolves to its time in ms) until its times settle
 * (`isSettled`, by default the rule above), at most `maxRuns` times. Resolves to `{ runs, firstMs, lastMs }`.
 */
export async function runUntilSettled(runOnce, { maxRuns = 24, isSettled = settled } = {}) {
  const times = [];
  while (times.length < maxRuns && !isSettled(times)) times.push(await runOnce());
  return { runs: times.length, firstMs: times[0], lastMs: times.at(-1) };
}
