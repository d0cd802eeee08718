// cors_probe.mjs: one cross-origin fetch in a real browser, for the CORS end-to-end tests.
//
//   node cors_probe.mjs --page http://127.0.0.1:A/ --url http://127.0.0.1:G/path
//        [--method PUT] [--header 'X-Custom: 1' ...] [--credentials omit|same-origin|include]
//        [--body TEXT] [--chromium /usr/bin/chromium] [--timeout-ms 18000]
//
// Opens --page in Debian's headless chromium (driven by playwright-core, which downloads no
// browser of its own), runs fetch(--url, ...) from that page's origin, and prints one JSON line:
//   {"ok": true, "status": 200, "body": "...", "headers": {...}, "preflight": false, ...}
//   {"ok": false, "error": "TypeError: Failed to fetch", "cors_error": "...", "preflight": true}
// `headers` are the response headers the page's JavaScript can read (CORS-safelisted plus those
// exposed); `preflight` says whether the browser sent an OPTIONS preflight for the request, as
// DevTools saw it; `cors_error` is the reason Chromium gives for blocking (for example
// "MissingAllowOriginHeader" or "PreflightMissingAllowOriginHeader"), or null.
//
// Exit status 0 means the probe worked, whatever the fetch's outcome; anything else (no browser,
// the page did not load, the deadline passed) exits 2 with {"ok": false, "probe_error": "..."},
// so a caller never mistakes a broken harness for a request that CORS blocked.
//
// DESIGN: every step has its own bound (launch 10 s, page load 5 s, the fetch itself an
// AbortSignal in the page) and a watchdog ends the process at --timeout-ms whatever hangs, so a
// run takes at most that long (default 18 s, under the callers' 20 s budget).

import { parseArgs } from "node:util";

import { chromium } from "playwright-core";

const { values: opts } = parseArgs({
  options: {
    page: { type: "string" },
    url: { type: "string" },
    method: { type: "string", default: "GET" },
    header: { type: "string", multiple: true, default: [] },
    credentials: { type: "string", default: "omit" },
    body: { type: "string" },
    chromium: { type: "string", default: "/usr/bin/chromium" },
    "timeout-ms": { type: "string", default: "18000" },
  },
});

const deadlineMs = Number(opts["timeout-ms"]);
let browser = null;

function finish(result, code) {
  process.stdout.write(JSON.stringify(result) + "\n");
  // Closing the browser is best effort and bounded: the answer is already printed.
  const closing = browser ? browser.close().catch(() => {}) : Promise.resolve();
  const hardStop = setTimeout(() => process.exit(code), 2000);
  closing.then(() => {
    clearTimeout(hardStop);
    process.exit(code);
  });
}

const watchdog = setTimeout(() => {
  finish({ ok: false, probe_error: `probe did not finish within ${deadlineMs} ms` }, 2);
}, deadlineMs);

function parseHeaders(lines) {
  const headers = {};
  for (const line of lines) {
    const colon = line.indexOf(":");
    if (colon <= 0) throw new Error(`--header wants 'Name: value', got ${JSON.stringify(line)}`);
    headers[line.slice(0, colon).trim()] = line.slice(colon + 1).trim();
  }
  return headers;
}

async function main() {
  if (!opts.page || !opts.url) throw new Error("--page and --url are required");
  const request = {
    url: opts.url,
    method: opts.method.toUpperCase(),
    headers: parseHeaders(opts.header),
    credentials: opts.credentials,
    body: opts.body ?? null,
    // The fetch must settle well inside the watchdog, leaving time to report and close.
    timeoutMs: Math.max(1000, deadlineMs - 8000),
  };

  browser = await chromium.launch({
    executablePath: opts.chromium,
    timeout: 10000,
    // --no-sandbox: the tests run as root, where Chromium's own sandbox refuses to start.
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"],
  });
  const context = await browser.newContext();
  const page = await context.newPage();
  page.setDefaultTimeout(5000);

  // DevTools sees the preflight and the reason a request was blocked, which the page cannot.
  const target = new URL(request.url).href;
  const seen = { preflight: false, corsError: null };
  const cdp = await context.newCDPSession(page);
  const idsForTarget = new Set();
  cdp.on("Network.requestWillBeSent", (event) => {
    if (event.request.url !== target) return;
    idsForTarget.add(event.requestId);
    if (event.type === "Preflight" || event.request.method === "OPTIONS") seen.preflight = true;
  });
  cdp.on("Network.loadingFailed", (event) => {
    if (!idsForTarget.has(event.requestId)) return;
    if (event.type === "Preflight") seen.preflight = true;
    if (event.corsErrorStatus && !seen.corsError) seen.corsError = event.corsErrorStatus.corsError;
  });
  await cdp.send("Network.enable");

  const loaded = await page.goto(opts.page, { timeout: 5000 });
  if (!loaded || !loaded.ok()) {
    throw new Error(`page ${opts.page} did not load (${loaded ? loaded.status() : "no response"})`);
  }

  const outcome = await page.evaluate(async (req) => {
    const init = {
      method: req.method,
      headers: req.headers,
      credentials: req.credentials,
      signal: AbortSignal.timeout(req.timeoutMs),
    };
    if (req.body !== null) init.body = req.body;
    try {
      const response = await fetch(req.url, init);
      const headers = {};
      response.headers.forEach((value, name) => {
        headers[name] = value;
      });
      return { ok: true, status: response.status, body: await response.text(), headers };
    } catch (error) {
      return { ok: false, error: String(error), timed_out: error.name === "TimeoutError" };
    }
  }, request);

  // A server that never answered is a broken test setup, not a request that CORS blocked.
  if (outcome.timed_out) throw new Error(`fetch ${request.url} got no answer in ${request.timeoutMs} ms`);
  delete outcome.timed_out;
  // loadingFailed may trail the page's rejection by a moment.
  if (!outcome.ok && !seen.corsError) await page.waitForTimeout(200);
  return { ...outcome, preflight: seen.preflight, cors_error: seen.corsError };
}

main().then(
  (result) => {
    clearTimeout(watchdog);
    finish(result, 0);
  },
  (error) => {
    clearTimeout(watchdog);
    finish({ ok: false, probe_error: String(error && error.stack ? error.stack : error) }, 2);
  },
);
