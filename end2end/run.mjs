// Entry point for `cargo leptos end-to-end` (which runs `node run.mjs` here
// once the server is started). Waits for the server to answer, then runs
// every `tests/*.test.mjs` with node's test runner and exits with its
// status, so any failure fails the run.
//
//   node run.mjs                          # all test files
//   node run.mjs tests/journey.test.mjs   # just some
//
// Env: LEPTOS_SITE_ADDR (default 127.0.0.1:3000), CHROMIUM_PATH (default
// /usr/bin/chromium), E2E_CONCURRENCY (test files run at once, default 1),
// FAKE_ANTHROPIC_PORT (default 3990: the loopback Messages API the server
// must be started against, see scripts/test).

import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { startFakeAnthropic } from './fake-anthropic.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const base = `http://${process.env.LEPTOS_SITE_ADDR ?? '127.0.0.1:3000'}`;

async function waitForServer(timeoutMs = 120_000) {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    try {
      const r = await fetch(`${base}/api/health`);
      if (r.ok) return;
      last = `HTTP ${r.status}`;
    } catch (e) {
      last = e.cause?.code ?? e.message;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`server at ${base} not ready after ${timeoutMs / 1000}s (${last})`);
}

const files =
  process.argv.length > 2
    ? process.argv.slice(2)
    : readdirSync(join(here, 'tests'))
        .filter((f) => f.endsWith('.test.mjs'))
        .sort()
        .map((f) => join('tests', f));

try {
  await waitForServer();
} catch (e) {
  console.error(e.message);
  process.exit(1);
}
// The band's provider: the server is pointed at it by ANTHROPIC_BASE_URL.
const vendor = await startFakeAnthropic().catch((e) => {
  console.error(`fake Anthropic endpoint: ${e.message}`);
  process.exit(1);
});
console.log(`end-to-end: ${files.length} file(s) against ${base}`);

const child = spawn(
  process.execPath,
  [
    '--test',
    '--test-reporter=spec',
    `--test-concurrency=${process.env.E2E_CONCURRENCY ?? 1}`,
    ...files,
  ],
  { cwd: here, stdio: 'inherit' },
);
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => child.kill(signal));
}
child.on('exit', (code, signal) => {
  vendor.close();
  if (signal) console.error(`test runner killed by ${signal}`);
  process.exit(code ?? 1);
});
