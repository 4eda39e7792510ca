// The demo page in headless Chromium: load the model, paste notes, search, read the ranked results with
// their matched words, edit and delete notes, reload (persisted), and reload again with the network off.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { serveAndLaunch } from "./browser.mjs";
import { repoRoot } from "../node/helpers.mjs";

const session = serveAndLaunch();

const NOTES = [
  "Sourdough starter: feed it flour and water every day, keep it at room temperature.",
  "Bike maintenance: replace the chain when it stretches, oil it every month.",
  "Taxes: the quarterly return is due before the end of April.",
  "Garden: tomato seedlings go outside after the last frost in May.",
];

test("a pasted note is found by a search on the demo page", async () => {
  const page = await session.browser().newPage();
  const pageErrors = [];
  page.on("pageerror", (err) => pageErrors.push(err));
  page.on("console", (msg) => msg.type() === "error" && console.log(`# (page) ${msg.text()}`));
  // Every state the progress bar and status line pass through while the page loads.
  await page.addInitScript(() => {
    window.__progressLog = [];
    new MutationObserver(() => {
      const bar = document.getElementById("progress");
      if (!bar) return;
      const state = [bar.hidden ? "hidden" : bar.getAttribute("value") ?? "busy", document.getElementById("status").textContent];
      if (JSON.stringify(state) !== JSON.stringify(window.__progressLog.at(-1))) window.__progressLog.push(state);
    }).observe(document, { subtree: true, childList: true, attributes: true, characterData: true });
  });
  await page.goto(session.url("/"));
  await page.waitForSelector("body[data-ready=true]", { timeout: 120_000 });
  const progressLog = await page.evaluate(() => window.__progressLog);
  const downloads = progressLog.filter(([, status]) => /^Downloading the model: [\d.]+ of [\d.]+ MB$/.test(status));
  assert.ok(downloads.length > 5, `the model download is shown in MB as it arrives: ${JSON.stringify(progressLog.slice(0, 8))}`);
  assert.ok(downloads.some(([value]) => Number(value) > 0 && Number(value) < 1), "the bar moves during the download");
  assert.ok(progressLog.some(([value, status]) => value !== "hidden" && /^Indexing notes: \d+ of \d+/.test(status)), "indexing progress is shown");
  assert.equal(await page.$eval("#progress", (bar) => bar.hidden), true, "the bar is hidden once ready");

  const samples = await page.$$eval("#notes li", (lis) => lis.length);
  assert.ok(samples > 0, "sample notes on first run");
  for (const note of NOTES) {
    await page.fill("#note-text", note);
    await page.click("#add-note");
    await page.waitForFunction((n) => document.querySelectorAll("#notes li").length === n, samples + NOTES.indexOf(note) + 1);
  }
  await page.fill("#query", "when should I plant tomatoes outdoors?");
  await page.waitForFunction((n) => document.querySelectorAll("#results li").length === n, samples + NOTES.length);
  const results = await page.$$eval("#results li", (lis) => lis.map((li) => li.textContent));
  assert.match(results[0], /tomato seedlings/);

  await page.fill("#query", "when is my tax return due");
  await page.waitForFunction(() => /quarterly return/.test(document.querySelector("#results li")?.textContent ?? ""));
  // Why it matched: the words the query's tokens picked are highlighted in the top hit.
  await page.waitForFunction(() => document.querySelectorAll("#results li:first-child b.match").length > 0);
  const matched = await page.$$eval("#results li:first-child b.match", (bs) => bs.map((b) => b.textContent.toLowerCase()));
  assert.ok(matched.some((w) => /tax|return|due/.test(w)), `matched words: ${matched}`);

  // A long note: the matching passage is highlighted.
  const fact = "The kayak needs a new rudder cable before the summer trip.";
  const filler = Array.from({ length: 30 }, (_, i) => `Paragraph ${i}: budgets, hiring and the roadmap for quarter ${i}.`);
  await page.fill("#note-text", [...filler, fact, ...filler.slice(0, 3)].join("\n\n"));
  await page.click("#add-note");
  await page.fill("#query", "kayak rudder cable");
  await page.waitForFunction((f) => (document.querySelector("#results li mark")?.textContent ?? "").includes(f), fact);
  // Shown as its best passage between ellipses, not as all 34 paragraphs.
  const longHit = await page.$eval("#results li:has(mark)", (li) => li.textContent);
  assert.match(longHit, /^[\d.]+… /);
  assert.doesNotMatch(longHit, /Paragraph 10:/);

  // Hostile text is shown as text, never run or parsed as HTML.
  const hostile = `<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script> hostile note`;
  await page.fill("#note-text", hostile);
  await page.click("#add-note");
  await page.fill("#query", "hostile note");
  await page.waitForFunction(() => /hostile note/.test(document.querySelector("#results li")?.textContent ?? ""));
  assert.equal(await page.evaluate(() => window.__pwned), undefined);
  assert.equal(await page.$$eval("#results img, #results script", (els) => els.length), 0);

  // Edit a note: its new text is found, its old text is not.
  const garden = await page.$eval("#notes li:has-text('tomato seedlings')", (li) => li.dataset.id);
  await page.click(`#notes li[data-id="${garden}"] button:has-text("Edit")`);
  await page.fill("#note-text", "Garden: plant the pepper seedlings in June.");
  await page.click("#add-note");
  await page.fill("#query", "pepper seedlings");
  await page.waitForFunction(() => /pepper seedlings/.test(document.querySelector("#results li")?.textContent ?? ""));
  assert.equal(await page.$$eval("#notes li", (lis) => lis.filter((li) => /tomato/.test(li.textContent)).length), 0);

  // Delete a note: it leaves the list and the results.
  const count = await page.$$eval("#notes li", (lis) => lis.length);
  const bike = await page.$eval("#notes li:has-text('Bike maintenance')", (li) => li.dataset.id);
  await page.click(`#notes li[data-id="${bike}"] button:has-text("Delete")`);
  await page.waitForFunction((n) => document.querySelectorAll("#notes li").length === n, count - 1);
  await page.fill("#query", "bike chain oil");
  await page.waitForFunction(() => {
    const results = [...document.querySelectorAll("#results li")];
    return results.length > 0 && !results.some((li) => /Bike maintenance/.test(li.textContent));
  });

  // Reload: notes and index come back from this browser's storage.
  await page.reload();
  await page.waitForSelector("body[data-ready=true]", { timeout: 120_000 });
  assert.equal(await page.$$eval("#notes li", (lis) => lis.length), count - 1);
  assert.match(await page.textContent("#status"), /\(0 indexed now\)/, "nothing re-encoded after a reload");
  await page.fill("#query", "pepper seedlings");
  await page.waitForFunction(() => /pepper seedlings/.test(document.querySelector("#results li")?.textContent ?? ""));

  // Offline: the service worker serves the app, the package's cache the model.
  await page.evaluate(() => navigator.serviceWorker.ready);
  await page.context().setOffline(true);
  await page.reload();
  await page.waitForSelector("body[data-ready=true]", { timeout: 120_000 }).catch(async (err) => {
    throw new Error(`offline reload: status "${await page.textContent("#status").catch(() => "?")}": ${err.message}`);
  });
  await page.fill("#query", "kayak rudder cable");
  await page.waitForFunction((f) => (document.querySelector("#results li mark")?.textContent ?? "").includes(f), fact);
  // The query's words are highlighted in the passage once the explanation arrives.
  await page.waitForFunction(() => document.querySelectorAll("#results li:has(mark) b.match").length >= 3);
  await page.context().setOffline(false);

  mkdirSync(`${repoRoot}test-results`, { recursive: true });
  const png = await page.screenshot({ path: `${repoRoot}test-results/demo.png`, fullPage: true });
  // Non-blank: a blank page compresses to a few KB; notes, results and highlights take far more.
  assert.ok(png.length > 30_000, `screenshot is ${png.length} bytes: blank?`);
  assert.equal(await page.$eval("#status", (el) => el.classList.contains("error")), false);
  assert.deepEqual(pageErrors, []);
});

test("the demo keeps its notes in IndexedDB: past the old 5 MB localStorage limit, with localStorage full", async () => {
  const context = await session.browser().newContext();
  const page = await context.newPage();
  await page.goto(session.url("/"));
  await page.waitForSelector("body[data-ready=true]", { timeout: 120_000 });
  // Other data on the site leaves localStorage (about 5 MB an origin) all but full.
  const left = await page.evaluate(() => {
    let size = 1 << 22;
    let filler = "";
    for (; size > 16; size >>= 1) {
      try {
        localStorage.setItem("site-data", filler + "x".repeat(size));
        filler += "x".repeat(size);
      } catch {
        // too much: try half
      }
    }
    return filler.length;
  });
  assert.ok(left > 1_000_000, `localStorage filled: ${left} characters`);
  // Six 1 MB notes (a sentence each, padded with blank lines: past 5 MB of text, cheap to encode).
  const files = Array.from({ length: 6 }, (_, i) => ({
    name: `big-${i}.md`,
    mimeType: "text/markdown",
    buffer: Buffer.from(`Big note ${i}: the ${["lighthouse", "volcano", "glacier", "orchard", "harbour", "canyon"][i]} trip.${"\n".repeat(1_000_000)}`),
  }));
  const before = await page.$$eval("#notes li", (lis) => lis.length);
  await page.setInputFiles("#file-input", files);
  await page.waitForFunction((n) => document.querySelectorAll("#notes li").length === n, before + 6, { timeout: 120_000 });
  await page.fill("#note-text", "Saved while localStorage is full: the glacier hike needs crampons.");
  await page.click("#add-note");
  await page.waitForFunction((n) => document.querySelectorAll("#notes li").length === n, before + 7);
  assert.equal(await page.$eval("#status", (el) => el.classList.contains("error")), false, await page.textContent("#status"));
  await page.reload();
  await page.waitForSelector("body[data-ready=true]", { timeout: 120_000 });
  assert.equal(await page.$$eval("#notes li", (lis) => lis.length), before + 7, "every note is back after a reload");
  const stored = await page.evaluate(async () => {
    const { Retriever } = await import("/www/lib/index.js");
    const r = await Retriever.load("/models/default/", { persist: "colbert-wasm-demo", storeText: true, encoders: 1 });
    const docs = await r.documents();
    r.free();
    return docs.reduce((n, d) => n + (d.text?.length ?? 0), 0);
  });
  assert.ok(stored > 6_000_000, `note text stored with the index: ${stored} characters`);
  await page.fill("#query", "crampons for the glacier hike");
  await page.waitForFunction(() => /crampons/.test(document.querySelector("#results li")?.textContent ?? ""));
  assert.equal(await page.evaluate(() => localStorage.getItem("colbert-wasm-demo-notes")), null);
  await context.close();
});
