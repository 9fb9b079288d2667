// What a first visit to a signed-in page costs: every byte the browser
// fetched for it on a cold cache, by kind (html, wasm, js, css), as brotli
// (what Chromium asks for and the server sends) and as gzip (each of the
// same URLs fetched again asking for gzip only), plus the raw sizes.
//
//   node served/weight.mjs [path]   # a fresh account, then `path` (default /)
//
// reads LEPTOS_SITE_ADDR like the tests; used by run-command.test.mjs and
// scripts/page-weight.

import http from 'node:http';

import { BASE, newContext, newUser, apiSignUp, apiCreateProject, apiCreateTask, waitForHydration } from '../tests/helpers.mjs';

const kindOf = (url, type) => {
  const path = new URL(url).pathname;
  if (path.endsWith('.wasm')) return 'wasm';
  if (path.endsWith('.js')) return 'js';
  if (path.endsWith('.css')) return 'css';
  if (type === 'document') return 'html';
  return null;
};

/** The body's length as sent for `encoding` (no decompression). */
function sentBytes(url, encoding, cookie) {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers: { 'accept-encoding': encoding, cookie } }, (res) => {
      let n = 0;
      res.on('data', (chunk) => (n += chunk.length));
      res.on('end', () => resolve(n));
    });
    req.on('error', reject);
  });
}

const sum = (rows, field) => {
  const out = { total: 0 };
  for (const r of rows) {
    out[r.kind] = (out[r.kind] ?? 0) + r[field];
    if (r.kind !== 'html') out.total += r[field];
  }
  return out;
};

/**
 * Loads `url` in a new context with `signedIn`'s cookies and a cold cache;
 * answers `{brotli, gzip, raw}` in bytes by kind, `total` being wasm + js +
 * css (what the first-load target counts), and the files fetched.
 */
export async function firstLoad(signedIn, url) {
  const state = await signedIn.storageState();
  const context = await newContext({ storageState: state });
  try {
    const page = await context.newPage();
    const fetched = [];
    page.on('requestfinished', async (request) => {
      const kind = kindOf(request.url(), request.resourceType());
      if (kind) fetched.push({ request, kind });
    });
    await page.goto(url);
    await waitForHydration(page);
    await page.waitForLoadState('networkidle');
    const cookie = (await context.cookies()).map((c) => `${c.name}=${c.value}`).join('; ');
    const rows = [];
    for (const { request, kind } of fetched) {
      const sizes = await request.sizes();
      rows.push({
        kind,
        path: new URL(request.url()).pathname,
        brotli: sizes.responseBodySize,
        gzip: await sentBytes(request.url(), 'gzip', cookie),
        raw: await sentBytes(request.url(), 'identity', cookie),
      });
    }
    if (context.browserErrors.length) throw new Error(context.browserErrors.join('\n'));
    return { brotli: sum(rows, 'brotli'), gzip: sum(rows, 'gzip'), raw: sum(rows, 'raw'), files: rows };
  } finally {
    await context.close();
  }
}

const kb = (n) => `${(n / 1024).toFixed(1)} KiB`;

if (import.meta.url === `file://${process.argv[1]}`) {
  const path = process.argv[2] ?? '/';
  const context = await newContext();
  await apiSignUp(context.request, newUser('weigh'));
  // A board with a few tasks, so `/projects/…` pages have something to show.
  const project = await apiCreateProject(context.request, 'Weigh-in');
  for (const title of ['Tune the drums', 'Write the setlist', 'Book the van']) {
    await apiCreateTask(context.request, project.id, { title });
  }
  const target = path.replace('{project}', project.id);
  const w = await firstLoad(context, `${BASE}${target}`);
  console.log(`first signed-in load of ${target} (cold cache)`);
  for (const f of w.files) {
    console.log(`  ${f.kind.padEnd(4)} ${f.path.padEnd(48)} br ${kb(f.brotli).padStart(10)}  gzip ${kb(f.gzip).padStart(10)}  raw ${kb(f.raw).padStart(10)}`);
  }
  for (const enc of ['brotli', 'gzip', 'raw']) {
    const s = w[enc];
    console.log(`  ${enc.padEnd(6)} wasm+js+css ${kb(s.total)} (wasm ${kb(s.wasm ?? 0)}, js ${kb(s.js ?? 0)}, css ${kb(s.css ?? 0)}); html ${kb(s.html ?? 0)}`);
  }
  await context.close();
  process.exit(0);
}
