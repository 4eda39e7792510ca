// In Chromium, through the Web Worker: a wasm trap (forced by the test-only trapForTesting symbol)
// rejects that call with an EngineError, the worker's engine is replaced by a fresh wasm instance
// with the last committed index, and the next calls work; with `persist`, what is stored survives too
// (also across a reload).
import { test } from "node:test";
import assert from "node:assert/strict";
import { serveAndLaunch } from "./browser.mjs";

const session = serveAndLaunch();

async function inPage(page, fn, arg) {
  return page.evaluate(
    async ([source, arg]) => {
      const { Retriever } = await import("/www/lib/index.js");
      return new Function(`return (${source})`)()(Retriever, arg);
    },
    [fn.toString(), arg],
  );
}

for (const persist of [undefined, "trap-notes"]) {
  test(`a trapped engine heals in the worker${persist ? " with persist" : ""}`, async () => {
    const context = await session.browser().newContext();
    const page = await context.newPage();
    await page.goto(session.url("/www/demo/blank.html"));
    const result = await inPage(page, async (Retriever, persist) => {
      const trap = Symbol.for("colbert-wasm.trapForTesting");
      const r = await Retriever.load("/models/default/", { persist });
      await r.add([
        { id: "bread", text: "Feed the sourdough starter every morning." },
        { id: "bike", text: "Replace the bicycle chain when it stretches." },
      ]);
      const errors = [];
      await r[trap]("now").catch((err) => errors.push(err.name));
      const afterTrap = (await r.search("sourdough", 1))[0]?.id;
      await r[trap]("commit");
      await r.add([{ id: "tax", text: "File the tax return." }]).catch((err) => errors.push(err.name));
      const sizeAfterCommitTrap = r.size;
      await r.add([{ id: "tax", text: "File the tax return." }]);
      return { errors, afterTrap, sizeAfterCommitTrap, size: r.size, top: (await r.search("tax return", 1))[0]?.id };
    }, persist);
    assert.deepEqual(result.errors, ["EngineError", "EngineError"]);
    assert.equal(result.afterTrap, "bread", "the committed index survived the trap");
    assert.equal(result.sizeAfterCommitTrap, 2, "the trapped batch was not added, earlier ones stay");
    assert.equal(result.size, 3);
    assert.equal(result.top, "tax");
    if (persist) {
      await page.reload();
      const size = await inPage(page, async (Retriever, persist) => (await Retriever.load("/models/default/", { persist })).size, persist);
      assert.equal(size, 3, "the stored index has every committed document after a reload");
    }
    await context.close();
  });
}
