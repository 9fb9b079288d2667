// The review gate in the browser. A task marked `[critical]` makes the
// fake vendor's coder answer with a `DROP TABLE`, so the gate stops the
// band before synthesis. The human finds the review in the one queue (the
// header's badge counts it), edits the coder's output with the keyboard
// (`M`, then Ctrl+Enter), the conductor synthesises the edited work, and
// the final approval (`A`) completes the session and moves the task to
// Done; the modification is shown as a line diff. A rejection needs a
// reason (`R`), stops the session, and the reason reaches the interventions
// log, which filters by agent and type and shows approval rates.

import assert from 'node:assert/strict';

import {
  BASE,
  apiCreateProject,
  apiCreateTask,
  apiGetTask,
  apiSignUp,
  e2e,
  eventually,
  newUser,
  shot,
  unique,
  waitForCardIn,
  waitForHydration,
} from './helpers.mjs';

/** The session page's status, as its badge reports it. */
async function sessionStatus(page) {
  return page.getByTestId('session-status').getAttribute('data-status');
}

/** Starts the band on a task through the REST API; answers the session id. */
async function apiRunBand(api, taskId) {
  const r = await api.post(`/api/v1/tasks/${taskId}/execute-ai`, {
    data: { intent: { action: 'generate_code', context: 'Use the existing session cookie.' } },
  });
  assert.equal(r.status(), 202, await r.text());
  return (await r.json()).session_id;
}

/** Waits until a session has stopped for a human. */
async function apiAwaitReview(api, sessionId) {
  await eventually(
    async () => {
      const r = await api.get(`/api/v1/ai/session/${sessionId}`);
      assert.equal((await r.json()).session.status, 'awaiting_review');
    },
    { timeout: 30_000, interval: 250 },
  );
}

/** The id at the end of the page's URL. */
const idOf = (page) => page.url().split('/').pop();

e2e(
  'a critical change stops at the gate; the human edits it, approves the synthesis, and the task is done',
  async ({ open }) => {
    const context = await open();
    await apiSignUp(context.request, newUser('conductor'));
    const project = await apiCreateProject(context.request, unique('Review stand'));
    const task = await apiCreateTask(context.request, project.id, {
      title: 'Reset the sign-in',
      description: 'Email and password. [critical]',
    });

    const page = await context.newPage();
    let dialogs = 0;
    page.on('dialog', async (d) => {
      dialogs += 1;
      await d.dismiss();
    });

    // Run the band from its form; the session stops at the gate.
    await page.goto(`${BASE}/tasks/${task.id}/band`);
    await waitForHydration(page);
    await page.locator('#band-action').selectOption('generate_code');
    await page.getByRole('button', { name: 'Run the band' }).click();
    await page.waitForURL(/\/sessions\/[0-9a-f-]+$/);
    const sessionId = idOf(page);
    await eventually(async () => assert.equal(await sessionStatus(page), 'awaiting_review'), { timeout: 30_000 });
    const gateNote = page.getByTestId('review-request');
    assert.equal(await gateNote.getAttribute('data-kind'), 'gate');
    assert.match(await gateNote.textContent(), /a critical operation/);
    assert.equal(await gateNote.getByTestId('open-review').count(), 1);

    // The one queue: the header counts the review, the list shows it.
    await page.getByTestId('reviews-link').click();
    await page.waitForURL(`${BASE}/reviews`);
    await eventually(async () => assert.equal(await page.getByTestId('review-count').textContent(), '1'));
    const items = page.getByTestId('review-item');
    assert.equal(await items.count(), 1);
    assert.equal(await items.getAttribute('data-kind'), 'gate');
    assert.equal(await items.getAttribute('data-status'), 'pending_review');
    const itemText = await items.textContent();
    assert.match(itemText, /Reset the sign-in/);
    assert.match(itemText, /a critical operation/);
    assert.match(itemText, /average confidence \d+ %/);
    assert.match(itemText, /expires \d{4}-\d{2}-\d{2}/);
    await page.screenshot({ path: shot('reviews-queue'), fullPage: true });

    // Open it: it is now under review and shows the first round.
    await items.getByTestId('review-link').click();
    await page.waitForURL(/\/reviews\/[0-9a-f-]+$/);
    const gateId = idOf(page);
    await eventually(async () =>
      assert.equal(await page.getByTestId('review-status').getAttribute('data-status'), 'under_review'),
    );
    const cards = page.getByTestId('invocation');
    assert.deepEqual((await cards.evaluateAll((els) => els.map((e) => e.dataset.role))).sort(), [
      'coder',
      'designer',
      'reviewer',
    ]);
    const coder = page.locator('[data-testid="invocation"][data-role="coder"]');
    assert.match(await coder.getByTestId('safety').textContent(), /DROP TABLE users;/);
    // Agent output stays inert text (the designer's answer carries a <script>).
    const designer = page.locator('[data-testid="invocation"][data-role="designer"]');
    assert.match(await designer.getByTestId('output').textContent(), /<script>alert/);
    assert.equal(await page.locator('[data-testid="invocation"] script').count(), 0);
    for (const id of ['approve', 'reject-reason', 'modify-text']) {
      assert.ok(await page.getByTestId(id).getAttribute('aria-keyshortcuts'), `${id} announces its key`);
    }

    // The flagged coder output is the one proposed for editing.
    assert.equal(await page.getByTestId('modify-role').inputValue(), 'coder');
    const original = await page.getByTestId('modify-text').inputValue();
    assert.match(original, /DROP TABLE users;/);

    // `M` goes to the edit box without typing an "m" into it.
    await page.locator('body').click({ position: { x: 2, y: 2 } });
    await page.keyboard.press('m');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'modify-text');
    assert.equal(await page.getByTestId('modify-text').inputValue(), original);
    // Keys do nothing while typing: an "a" in the box is just an "a".
    await page.keyboard.press('End');
    await page.keyboard.type('a');
    assert.match(page.url(), /\/reviews\//);
    const edited = original.replace('DROP TABLE users;', '-- keep the users table');
    await page.getByTestId('modify-text').fill(edited);
    await page.screenshot({ path: shot('review-modify'), fullPage: true });
    await page.keyboard.press('Control+Enter');

    // Back on the session: the conductor synthesises the edited work.
    await page.waitForURL(`${BASE}/sessions/${sessionId}`);
    const finalNote = page.locator('[data-testid="review-request"][data-kind="final_approval"]');
    await finalNote.waitFor({ timeout: 30_000 });
    assert.equal(await sessionStatus(page), 'awaiting_review');
    assert.equal(
      await page.locator('[data-testid="review-request"][data-kind="gate"]').getAttribute('data-status'),
      'modified',
    );

    // The final approval: one output, the synthesis; `A` approves it.
    await finalNote.getByTestId('open-review').click();
    await page.waitForURL(/\/reviews\/[0-9a-f-]+$/);
    assert.notEqual(idOf(page), gateId);
    await eventually(async () =>
      assert.equal(await page.getByTestId('review-kind').getAttribute('data-kind'), 'final_approval'),
    );
    assert.deepEqual(await cards.evaluateAll((els) => els.map((e) => e.dataset.role)), ['conductor']);
    // Versions across agents: the synthesis against the coder's proposal.
    const compare = page.getByTestId('compare');
    await compare.locator('summary').click();
    assert.match(await page.locator('#compare-old option:checked').textContent(), /coder/);
    assert.match(await page.locator('#compare-new option:checked').textContent(), /conductor/);
    assert.ok((await compare.locator('[data-change="added"]').count()) > 0);
    assert.ok((await compare.locator('[data-change="removed"]').count()) > 0);
    await page.locator('body').click({ position: { x: 2, y: 2 } });
    await page.keyboard.press('a');
    await page.waitForURL(`${BASE}/sessions/${sessionId}`);
    await eventually(async () => assert.equal(await sessionStatus(page), 'completed'));

    // The task is delivered: Done on the board (moved by the task-progress
    // reaction to the completion, so a moment after the decision).
    await eventually(async () =>
      assert.equal((await apiGetTask(context.request, task.id)).status, 'done'),
    );
    const delivered = await apiGetTask(context.request, task.id);
    assert.equal(delivered.ai_generated, true);
    assert.equal(delivered.human_review_required, false);
    await page.goto(`${BASE}/projects/${project.id}`);
    await waitForCardIn(page, task.id, 'done');
    // Nothing waits any more.
    assert.equal(await page.getByTestId('review-count').count(), 0);

    // The gate's review shows the decision and the AI's output against the edit.
    await page.goto(`${BASE}/reviews/${gateId}`);
    const decision = page.getByTestId('decision');
    assert.equal(await decision.getAttribute('data-status'), 'modified');
    assert.match(await decision.textContent(), /your changes to the coder output/);
    const diff = page.locator('[data-testid="diff"][data-role="coder"]');
    assert.equal(await diff.locator('[data-change="removed"]').count(), 1);
    assert.match(await diff.locator('[data-change="removed"]').textContent(), /DROP TABLE users;/);
    assert.match(await diff.locator('[data-change="added"]').textContent(), /-- keep the users table/);
    assert.ok((await diff.locator('[data-change="same"]').count()) > 3, 'unchanged lines are kept as context');
    assert.equal(await page.getByTestId('approve-form').count(), 0, 'a decided review takes no new decision');
    await page.screenshot({ path: shot('review-diff'), fullPage: true });

    await page.goto(`${BASE}/reviews`);
    assert.equal(await page.getByTestId('review-item').count(), 0);
    assert.equal(await page.getByTestId('no-reviews').count(), 1);
    assert.equal(dialogs, 0);
  },
  { timeout: 150_000 },
);

e2e('a rejection needs a reason, stops the session and is logged with it', async ({ open }) => {
  const context = await open();
  await apiSignUp(context.request, newUser('critic'));
  const project = await apiCreateProject(context.request, unique('Reject stand'));
  const task = await apiCreateTask(context.request, project.id, {
    title: 'Clean up the accounts',
    description: '[critical] Remove stale accounts.',
  });
  const sessionId = await apiRunBand(context.request, task.id);
  await apiAwaitReview(context.request, sessionId);

  const page = await context.newPage();
  await page.goto(`${BASE}/reviews`);
  await waitForHydration(page);
  assert.equal(await page.getByTestId('review-count').textContent(), '1');
  await page.getByTestId('review-item').getByTestId('review-link').click();
  await page.waitForURL(/\/reviews\/[0-9a-f-]+$/);
  await page.getByTestId('reject-form').waitFor();

  // `R` goes to the reason box; an empty reason is not sent.
  await page.locator('body').click({ position: { x: 2, y: 2 } });
  await page.keyboard.press('r');
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'reject-reason');
  assert.equal(await page.getByTestId('reject-reason').inputValue(), '');
  await page.keyboard.press('Control+Enter');
  await page.waitForTimeout(500);
  assert.match(page.url(), /\/reviews\/[0-9a-f-]+$/);
  assert.equal(
    await page.getByTestId('reject-reason').evaluate((el) => el.validity.valueMissing),
    true,
    'the browser asks for the reason',
  );

  const reason = 'It drops the users table: we never delete accounts in a migration.';
  await page.keyboard.type(reason);
  await page.keyboard.press('Control+Enter');
  await page.waitForURL(`${BASE}/sessions/${sessionId}`);
  await eventually(async () => assert.equal(await sessionStatus(page), 'failed'));
  assert.match(await page.getByTestId('session-failure').textContent(), /we never delete accounts/);
  // The run had moved the card to Review (task progress); a rejection
  // leaves it there for the human to move, and nothing waits any more.
  await eventually(async () => {
    const rejected = await apiGetTask(context.request, task.id);
    assert.equal(rejected.status, 'review');
    assert.equal(rejected.human_review_required, false);
  });

  // The interventions log: the rejection with its reason, and the rates.
  await page.goto(`${BASE}/interventions`);
  const rows = page.getByTestId('intervention-row');
  assert.equal(await rows.count(), 1);
  assert.equal(await rows.getAttribute('data-type'), 'rejection');
  assert.equal(await rows.getAttribute('data-agent'), 'claude');
  assert.equal(await rows.getByTestId('intervention-reason').textContent(), reason);
  assert.match(await rows.textContent(), /Clean up the accounts/);
  assert.match(await rows.textContent(), /coder/i);
  const stats = page.getByTestId('intervention-stats');
  const claude = stats.locator('tr[data-label="claude"]');
  assert.match(await claude.textContent(), /Claude \(Anthropic\)\s*1\s*0\s*0\s*1\s*0 %/);
  await page.screenshot({ path: shot('interventions'), fullPage: true });

  // Filters are a GET form: by type, then by agent.
  await page.locator('#filter-type').selectOption('approval');
  await page.getByRole('button', { name: 'Filter' }).click();
  await page.waitForURL(/type=approval/);
  assert.equal(await page.getByTestId('intervention-row').count(), 0);
  assert.equal(await page.getByTestId('no-interventions').count(), 1);
  // The rates cover every decision, whatever the filter.
  assert.match(await page.getByTestId('intervention-stats').textContent(), /Claude/);
  await page.goto(`${BASE}/interventions?agent=claude&type=rejection`);
  assert.equal(await page.getByTestId('intervention-row').count(), 1);
  assert.equal(await page.locator('#filter-agent').inputValue(), 'claude');
  await page.goto(`${BASE}/interventions?agent=gpt`);
  assert.equal(await page.getByTestId('intervention-row').count(), 0);

  // The session page links the decided review; it shows the rejection.
  await page.goto(`${BASE}/sessions/${sessionId}`);
  await page.getByTestId('see-decision').click();
  await page.waitForURL(/\/reviews\/[0-9a-f-]+$/);
  const decision = page.getByTestId('decision');
  await decision.waitFor();
  assert.equal(await decision.getAttribute('data-status'), 'rejected');
  assert.match(await decision.textContent(), /we never delete accounts/);
  assert.equal(await page.getByTestId('diff').count(), 0);

  // Run again: a new session linked to the rejected one, the reason in
  // every prompt the band gets.
  await page.goto(`${BASE}/sessions/${sessionId}`);
  await waitForHydration(page);
  assert.equal(await page.getByTestId('cancel-session').count(), 0, 'nothing to cancel');
  await page.getByTestId('retry-session').click();
  await page.waitForURL((url) => /\/sessions\/[0-9a-f-]+$/.test(url.href) && !url.href.endsWith(sessionId));
  const retried = idOf(page);
  await page.getByTestId('retry-of').waitFor();
  assert.equal(await page.getByTestId('retry-of').getAttribute('href'), `/sessions/${sessionId}`);
  await apiAwaitReview(context.request, retried);
  const view = await (await context.request.get(`/api/v1/ai/session/${retried}`)).json();
  assert.equal(view.session.retry_of, sessionId);
  const coder = view.invocations.find((i) => i.role === 'coder');
  assert.ok(coder.prompt.includes(`Rejected: ${reason}`), coder.prompt);
});

e2e('a playing session is cancelled from its page', async ({ open }) => {
  const context = await open();
  await apiSignUp(context.request, newUser('canceller'));
  const project = await apiCreateProject(context.request, unique('Cancel stand'));
  // The loopback vendor holds the reviewer's answer for a while on [slow].
  const task = await apiCreateTask(context.request, project.id, {
    title: 'Tune the horns',
    description: '[slow] Take your time.',
  });
  const sessionId = await apiRunBand(context.request, task.id);
  const page = await context.newPage();
  await page.goto(`${BASE}/sessions/${sessionId}`);
  await waitForHydration(page);
  assert.equal(await sessionStatus(page), 'executing');
  await page.getByTestId('cancel-session').click();
  await eventually(async () => assert.equal(await sessionStatus(page), 'cancelled'));
  assert.match(await page.getByTestId('session-failure').textContent(), /cancelled by its owner/);
  const view = await (await context.request.get(`/api/v1/ai/session/${sessionId}`)).json();
  assert.equal(view.session.status, 'cancelled');
  const budget = await (await context.request.get('/api/v1/budget')).json();
  assert.equal(budget.reserved_tokens, 0, 'the reservation was released');
  assert.equal(budget.used_this_month, view.session.total_tokens_used);
  // A cancelled session can be run again.
  assert.equal(await page.getByTestId('retry-session').count(), 1);
});
