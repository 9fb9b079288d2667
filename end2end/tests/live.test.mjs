// Live updates in the browser, over the WebSocket: with the board open in
// one tab and the review queue in a second, a band run whose coder proposes
// a critical operation raises a review that appears in the second tab
// without a reload — with the bell's count and a toast. The human modifies
// and approves there; the final approval completes the session, and the
// first tab's board moves the card to Done by itself. Neither tab is ever
// reloaded: a marker set on each window survives to the end.

import assert from 'node:assert/strict';

import {
  BASE,
  apiCreateProject,
  apiCreateTask,
  apiSignUp,
  e2e,
  eventually,
  newUser,
  shot,
  unique,
  waitForCardIn,
  waitForHydration,
} from './helpers.mjs';

/** Marks the window, to prove later that the page was not reloaded. */
async function mark(page) {
  await page.evaluate(() => {
    window.__exitonMarker = 'still here';
  });
}

async function stillMarked(page) {
  assert.equal(await page.evaluate(() => window.__exitonMarker), 'still here', 'no reload');
}

/** Waits until the page's live socket has said it is ready. */
async function waitForLive(page) {
  await page.getByTestId('bell').waitFor();
  await eventually(async () => assert.equal(await page.getByTestId('live-offline').count(), 0));
}

e2e(
  'a review raised by the band appears live in a second tab, and approving it moves the card on the first',
  async ({ open }) => {
    const context = await open();
    await apiSignUp(context.request, newUser('live'));
    const project = await apiCreateProject(context.request, unique('Live stand'));
    const task = await apiCreateTask(context.request, project.id, {
      title: 'Drop the legacy table',
      description: 'Clean up. [critical]',
    });

    // Tab 1: the board. Tab 2: the (empty) review queue.
    const board = await context.newPage();
    await board.goto(`${BASE}/projects/${project.id}`);
    await waitForHydration(board);
    await waitForLive(board);
    await waitForCardIn(board, task.id, 'todo');
    await mark(board);

    const queue = await context.newPage();
    await queue.goto(`${BASE}/reviews`);
    await waitForHydration(queue);
    await waitForLive(queue);
    assert.equal(await queue.getByTestId('review-item').count(), 0);
    await mark(queue);

    // The band runs (through the API, as another client would start it).
    const r = await context.request.post(`/api/v1/tasks/${task.id}/execute-ai`, {
      data: { intent: { action: 'generate_code' } },
    });
    assert.equal(r.status(), 202, await r.text());
    const sessionId = (await r.json()).session_id;

    // The review appears in the second tab by itself, with the bell and a toast.
    await queue.getByTestId('review-item').waitFor({ timeout: 30_000 });
    assert.equal(await queue.getByTestId('review-item').getAttribute('data-kind'), 'gate');
    await eventually(async () => assert.equal(await queue.getByTestId('bell-count').textContent(), '1'));
    await eventually(async () => assert.equal(await queue.getByTestId('review-count').textContent(), '1'));
    assert.match(await queue.getByTestId('toast').first().textContent(), /needs your review/);
    await queue.screenshot({ path: shot('live-review-arrived'), fullPage: true });
    await stillMarked(queue);

    // Modify and approve in the second tab (client-side navigation only).
    await queue.getByTestId('review-link').click();
    await queue.waitForURL(/\/reviews\/[0-9a-f-]+$/);
    await queue.getByTestId('modify-text').waitFor();
    const original = await queue.getByTestId('modify-text').inputValue();
    await queue.getByTestId('modify-text').fill(original.replace(/DROP TABLE[^;]*;/, '-- keep it'));
    await queue.getByTestId('modify').click();
    await queue.waitForURL(`${BASE}/sessions/${sessionId}`);

    // The synthesis lands on the session page live; approve it.
    const finalNote = queue.locator('[data-testid="review-request"][data-kind="final_approval"]');
    await finalNote.waitFor({ timeout: 30_000 });
    await finalNote.getByTestId('open-review').click();
    await queue.waitForURL(/\/reviews\/[0-9a-f-]+$/);
    await queue.getByTestId('approve').click();
    await queue.waitForURL(`${BASE}/sessions/${sessionId}`);
    await eventually(async () =>
      assert.equal(await queue.getByTestId('session-status').getAttribute('data-status'), 'completed'),
    );

    // The first tab's board moved the card to Done on its own.
    await waitForCardIn(board, task.id, 'done', 30_000);
    await stillMarked(board);
    assert.match(await board.getByTestId('toast').last().textContent(), /completed/);
    await board.screenshot({ path: shot('live-board-done'), fullPage: true });
  },
  { timeout: 150_000 },
);
