// Hostile text stays text, under the page's Content-Security-Policy: a
// project and a task whose name, title and description try to close a
// textarea and run a script are shown and edited as plain text on every
// page, no script runs, no dialog opens, and the hydrated app reports no
// CSP violation (its own scripts carry the response's nonce).

import assert from 'node:assert/strict';

import {
  BASE,
  apiCreateProject,
  apiCreateTask,
  apiSignUp,
  e2e,
  newUser,
  openLink,
  waitForHydration,
} from './helpers.mjs';

const XSS = '</textarea><script>window.__xss = 1</script><img src=x onerror="window.__xss = 2">';

e2e('hostile text stays text under a strict CSP', async ({ open }) => {
  const context = await open();
  await context.addInitScript(() => {
    window.__violations = [];
    document.addEventListener('securitypolicyviolation', (e) => {
      window.__violations.push(`${e.violatedDirective} ${e.blockedURI}`);
    });
  });
  const dialogs = [];
  context.on('page', (page) =>
    page.on('dialog', (dialog) => {
      dialogs.push(dialog.message());
      dialog.dismiss();
    }),
  );
  const api = context.request;
  await apiSignUp(api, newUser('xss'));
  const project = await apiCreateProject(api, `Hostile ${XSS}`);
  const task = await apiCreateTask(api, project.id, { title: `Title ${XSS}`, description: XSS });

  const page = await context.newPage();
  const visits = ['/', `/projects/${project.id}`, `/projects/${project.id}?task=${task.id}`, '/settings'];
  for (const path of visits) {
    const response = await page.goto(`${BASE}${path}`);
    const csp = response.headers()['content-security-policy'] ?? '';
    assert.match(csp, /script-src 'self' 'nonce-[0-9a-f]{32}' 'wasm-unsafe-eval'/, `${path}: ${csp}`);
    assert.equal(response.headers()['x-frame-options'], 'DENY');
    await waitForHydration(page);
    assert.equal(await page.evaluate(() => window.__xss), undefined, `${path} ran injected script`);
    assert.deepEqual(await page.evaluate(() => window.__violations), [], `${path} violated the CSP`);
  }

  // The opened card's edit box holds the description as plain text, and a
  // save sends it back unchanged.
  await page.goto(`${BASE}/projects/${project.id}`);
  await waitForHydration(page);
  await openLink(page, task.id).click();
  const box = page.getByTestId('task-detail').locator('textarea[name="description"]');
  assert.equal(await box.inputValue(), XSS);
  assert.match(await page.locator('.card-title').first().textContent(), /<\/textarea><script>/);
  assert.equal(await page.evaluate(() => window.__xss), undefined);
  assert.deepEqual(await page.evaluate(() => window.__violations), []);
  assert.deepEqual(dialogs, []);
});
