// What does the engine do when a call cannot finish? The errors it makes for a wasm trap (an
// `EngineError`, after the engine replaced the trapped instance) and for a cancelled add, and the
// pause between passages that lets an abort message in.

/** A wasm trap: `unreachable` (a Rust panic), out-of-bounds memory, stack overflow, out of memory. */
export function isTrap(err) {
  return err instanceof WebAssembly.RuntimeError;
}

/** `{ indexRestored }`: whether the last committed index could be carried into the new instance. */
export function engineError(trap, { indexRestored }) {
  const kept = indexRestored
    ? "the engine was restarted with the last committed index; nothing committed was lost"
    : "the engine was restarted, but the index could not be read back from the failed instance";
  const err = new Error(`the wasm engine failed (${trap.message}); ${kept}. Retry the call.`);
  err.name = "EngineError";
  return err;
}

export function abortError() {
  const err = new Error("the add was aborted; documents of the unfinished batch were not added");
  err.name = "AbortError";
  return err;
}

/**
 * Lets queued events (an abort message, the page's own work in-thread) run. A message round trip
 * rather than setTimeout, which browsers clamp to 4 ms when nested.
 */
export function yieldToEvents() {
  if (typeof setImmediate === "function") return new Promise((resolve) => setImmediate(resolve));
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => {
      channel.port1.close();
      resolve();
    };
    channel.port2.postMessage(null);
  });
}
