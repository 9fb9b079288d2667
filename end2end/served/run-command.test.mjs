// The README's run command as a new user meets it: `scripts/run` (the
// release site, on a fresh SQLite directory) is already serving when this
// file runs (scripts/test starts it and says where, in LEPTOS_SITE_ADDR and
// EXITON_SERVED_DATA_DIR). The server made its database there, answers its
// health check, serves the bundle precompressed under hashed names with
// long-lived caching, compresses its pages, and a signed-in page hydrates
// in Chromium without a single page or console error (the shared fixture).

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

import { BASE, e2e, signUpInBrowser, newUser, waitForHydration } from '../tests/helpers.mjs';
import { firstLoad } from './weight.mjs';

e2e('scripts/run serves the release site on a fresh database', async ({ open }) => {
  const dataDir = process.env.EXITON_SERVED_DATA_DIR;
  assert.ok(dataDir, 'EXITON_SERVED_DATA_DIR names the fresh data directory');
  assert.ok(existsSync(join(dataDir, 'exiton.db')), 'the server created its SQLite file there');

  const health = await fetch(`${BASE}/api/health`);
  assert.equal(health.status, 200);

  const context = await open();
  const page = await context.newPage();
  const bundle = [];
  page.on('response', (r) => {
    if (new URL(r.url()).pathname.startsWith('/pkg/')) bundle.push(r);
  });
  await signUpInBrowser(page, newUser('newcomer'));
  await waitForHydration(page);

  // The release bundle: the main module and the page's split-out modules
  // (lazy routes), each under a hashed name, brotli from the precompressed
  // copies, cached for a year.
  const wasm = bundle.filter((r) => r.url().endsWith('.wasm'));
  const paths = wasm.map((r) => new URL(r.url()).pathname);
  assert.ok(paths.some((p) => /^\/pkg\/exiton\.[0-9A-Za-z_-]+\.wasm$/.test(p)), `the main module among ${paths}`);
  assert.ok(paths.some((p) => /^\/pkg\/split_/.test(p)), `the page's own module among ${paths}`);
  for (const r of wasm) {
    const path = new URL(r.url()).pathname;
    assert.match(path, /^\/pkg\/[0-9A-Za-z_]+\.[0-9A-Za-z_-]{22}\.wasm$/, 'a hashed name');
    const headers = await r.allHeaders();
    assert.equal(headers['content-encoding'], 'br', path);
    assert.match(headers['cache-control'], /max-age=31536000/, path);
    assert.match(headers['cache-control'], /immutable/, path);
  }

  // Pages are compressed on the fly.
  const home = await page.request.get(`${BASE}/`, { headers: { 'accept-encoding': 'gzip' } });
  assert.equal(home.headers()['content-encoding'], 'gzip');

  // The figure BENCHMARKS.md records (also printed here for the log).
  const weight = await firstLoad(context, `${BASE}/`);
  console.log(`first signed-in load of /: ${JSON.stringify(weight)}`);
  assert.ok(weight.brotli.total > 0 && weight.gzip.total > weight.brotli.total);
});
