// The demo page in headless Chromium: load the model, paste notes, search, read the ranked results.
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
  await page.goto(session.url("/"));
  await page.waitForSelector("body[data-ready=true]", { timeout: 120_000 });

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

  // A long note: the matching passage is highlighted.
  const fact = "The kayak needs a new rudder cable before the summer trip.";
  const filler = Array.from({ length: 30 }, (_, i) => `Paragraph ${i}: budgets, hiring and the roadmap for quarter ${i}.`);
  await page.fill("#note-text", [...filler, fact, ...filler.slice(0, 3)].join("\n\n"));
  await page.click("#add-note");
  await page.fill("#query", "kayak rudder cable");
  await page.waitForFunction((f) => (document.querySelector("#results li mark")?.textContent ?? "").includes(f), fact);

  // Hostile text is shown as text, never run or parsed as HTML.
  const hostile = `<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script> hostile note`;
  await page.fill("#note-text", hostile);
  await page.click("#add-note");
  await page.fill("#query", "hostile note");
  await page.waitForFunction(() => /hostile note/.test(document.querySelector("#results li")?.textContent ?? ""));
  assert.equal(await page.evaluate(() => window.__pwned), undefined);
  assert.equal(await page.$$eval("#results img, #results script", (els) => els.length), 0);

  mkdirSync(`${repoRoot}test-results`, { recursive: true });
  await page.screenshot({ path: `${repoRoot}test-results/demo.png`, fullPage: true });
  assert.equal(await page.$eval("#status", (el) => el.classList.contains("error")), false);
  assert.deepEqual(pageErrors, []);
});
