// browser_server.mjs: one headless chromium for a whole test session, so each cors_probe.mjs
// connects (tens of milliseconds) instead of launching a browser (seconds).
//
//   node browser_server.mjs [--chromium /usr/bin/chromium]
//
// Prints the browser's WebSocket endpoint as one line, then serves until its stdin closes (the
// test process ended, however it ended) or it gets SIGTERM; then it closes the browser. Each
// probe opens a context of its own, so no cookie or cache passes from one test to the next.

import { parseArgs } from "node:util";

import { chromium } from "playwright-core";

const { values: opts } = parseArgs({
  options: { chromium: { type: "string", default: "/usr/bin/chromium" } },
});

const server = await chromium.launchServer({
  executablePath: opts.chromium,
  timeout: 10000,
  // --no-sandbox: the tests run as root, where Chromium's own sandbox refuses to start.
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"],
});
process.stdout.write(server.wsEndpoint() + "\n");

let closing = false;
function stop() {
  if (closing) return;
  closing = true;
  const hardStop = setTimeout(() => process.exit(0), 3000);
  server.close().finally(() => {
    clearTimeout(hardStop);
    process.exit(0);
  });
}
process.stdin.on("end", stop);
process.stdin.on("close", stop);
process.stdin.resume();
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
