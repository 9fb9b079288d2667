// The band on a task, in the browser: "Run the band" on a board card opens
// the form; the run goes to the server's real Anthropic adapter (against
// the loopback endpoint of fake-anthropic.mjs), and the session page fills
// in by itself — each agent's output, confidence, reasoning, provenance,
// tokens — and ends waiting for the human's final approval. Agent output
// that contains HTML stays inert text. Bad input is refused with a message.

import assert from 'node:assert/strict';

import {
  BASE,
  rejected,
  apiCreateProject,
  apiCreateTask,
  apiSignUp,
  e2e,
  eventually,
  newUser,
  shot,
  waitForHydration,
} from './helpers.mjs';

e2e('Run the band from a task card and watch the session reach the gate', async ({ open }) => {
  const context = await open({ allowErrors: [rejected(422, '/api/run_band')] });
  await apiSignUp(context.request, newUser('bandleader'));
  const project = await apiCreateProject(context.request, 'Band stand');
  await apiCreateTask(context.request, project.id, { title: 'Login form', description: 'Email and password' });

  const page = await context.newPage();
  let dialogs = 0;
  page.on('dialog', async (d) => {
    dialogs += 1;
    await d.dismiss();
  });
  await page.goto(`${BASE}/projects/${project.id}`);
  await waitForHydration(page);
  await page.locator('li.task-card .card-open').first().click();
  await page.getByTestId('run-band').first().click();
  await page.waitForURL(/\/tasks\/[0-9a-f-]+\/band$/);
  assert.equal(await page.getByTestId('band-task').textContent(), 'Login form');

  // Too many constraints: refused next to the field, nothing started.
  await page.locator('#field-constraints').fill(Array.from({ length: 21 }, (_, i) => `c${i}`).join('\n'));
  await page.getByRole('button', { name: 'Run the band' }).click();
  await eventually(async () => assert.match(await page.getByTestId('run-band-form').textContent(), /at most 20 constraints/));
  assert.match(page.url(), /\/band$/);

  await page.locator('#band-action').selectOption('generate_code');
  await page.locator('#field-context').fill('Use the existing session cookie.');
  await page.locator('#field-constraints').fill('Accessible\nNo new dependencies');
  await page.getByRole('button', { name: 'Run the band' }).click();
  await page.waitForURL(/\/sessions\/[0-9a-f-]+$/);

  // The page refreshes itself until the band has played.
  await eventually(
    async () => assert.equal(await page.getByTestId('session-status').getAttribute('data-status'), 'awaiting_review'),
    { timeout: 30_000 },
  );
  const cards = page.getByTestId('invocation');
  assert.equal(await cards.count(), 4);
  const roles = await cards.evaluateAll((els) => els.map((e) => e.dataset.role).sort());
  assert.deepEqual(roles, ['coder', 'conductor', 'designer', 'reviewer']);

  const coder = page.locator('[data-testid="invocation"][data-role="coder"]');
  assert.match(await coder.getByTestId('output').textContent(), /pub fn login/);
  assert.match(await coder.getByTestId('proposed-files').textContent(), /src\/login\.rs/);
  assert.match(await coder.getByTestId('provenance').textContent(), /claude-sonnet-4-5-20250929 · temperature 0\.2/);
  assert.match(await coder.getByTestId('confidence').textContent(), /^\d+ %$/);
  assert.match(await coder.textContent(), /160 tokens/);
  await coder.getByText('Reasoning').click();
  assert.match(await coder.getByTestId('reasoning').textContent(), /reviewer verdict approve/);
  assert.match(
    await page.locator('[data-testid="invocation"][data-role="reviewer"]').getByTestId('verdict').textContent(),
    /approve/,
  );

  // The designer's answer carried a <script>: shown as text, never run.
  const designer = page.locator('[data-testid="invocation"][data-role="designer"]');
  assert.match(await designer.getByTestId('output').textContent(), /<script>alert/);
  assert.equal(await designer.locator('script').count(), 0);
  assert.equal(dialogs, 0);

  const review = page.getByTestId('review-request');
  assert.equal(await review.getAttribute('data-kind'), 'final_approval');
  assert.match(await review.textContent(), /Nothing is applied until you approve it/);
  assert.match(await page.getByTestId('session-tokens').textContent(), /^640$/);
  assert.match(await page.getByTestId('session-budget').textContent(), /99,360 left this month/);
  await page.screenshot({ path: shot('band-session'), fullPage: true });

  // Reloading renders the same session on the server.
  await page.reload();
  assert.equal(await page.getByTestId('invocation').count(), 4);
});
