// Shared set-up of the browser journeys: a fresh `egov demo` on a free
// port, Debian's Chromium, and axe-core's WCAG 2.1 A/AA check.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..");
const egov = process.env.EGOV_BIN ?? join(root, "target", "debug", "egov");
const chromiumPath = process.env.CHROMIUM ?? "/usr/bin/chromium";
const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

export async function startDemo() {
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), "egov-browser-"));
  // EGOV_LOG=1 shows the server's log when a journey needs debugging.
  const server = spawn(egov, ["demo", "--port", String(port), "--data", dataDir], {
    stdio: ["ignore", "ignore", process.env.EGOV_LOG ? "inherit" : "ignore"],
  });
  const base = `http://localhost:${port}`;
  for (let attempt = 0; ; attempt++) {
    try {
      if ((await fetch(`${base}/readyz`)).ok) break;
    } catch {}
    if (attempt > 400) throw new Error(`egov demo did not become ready at ${base}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    base,
    stop() {
      server.kill();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export function launchBrowser() {
  return chromium.launch({
    executablePath: chromiumPath,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}

export async function expectAccessible(page, name) {
  // The CSP forbids inline scripts, so axe is evaluated through the
  // DevTools protocol rather than injected as a <script> tag.
  const hasAxe = await page.evaluate(() => typeof window.axe !== "undefined");
  if (!hasAxe) await page.evaluate(axeSource);
  const results = await page.evaluate(() =>
    window.axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] } }),
  );
  const summary = results.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
  assert.deepEqual(summary, [], `${name} has accessibility violations`);
}
