// Launches Debian's Chromium through playwright-core (playwright's own browser download cannot work
// offline), with the flags that keep it from reaching for the network.
import { after, before } from "node:test";
import { chromium } from "playwright-core";
import { startServer } from "../../scripts/serve.mjs";

export const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export function launchChromium(extraArgs = []) {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
    headless: true,
    args: [...CHROMIUM_ARGS, ...extraArgs],
  });
}

/**
 * Registers before/after hooks that start the static server and Chromium for a test file.
 * Returns `{ browser(), url(path) }`, valid inside tests.
 */
export function serveAndLaunch(extraArgs = []) {
  let server;
  let browser;
  before(async () => {
    server = await startServer(0);
    browser = await launchChromium(extraArgs);
  });
  after(async () => {
    await browser?.close();
    server?.close();
  });
  return {
    browser: () => browser,
    url: (path) => `http://127.0.0.1:${server.address().port}${path}`,
  };
}
