// The opened card: "Open" (a plain link to `?task=<id>`) opens that card
// and only that one, with its actions (move, run the band) and its edit
// form; a move from inside it leaves it open, Save applies the change and
// closes it, Close closes it unchanged, Delete (inside it) removes the task.

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
  openLink,
  taskCard,
  unique,
  waitForCardIn,
  waitForHydration,
} from './helpers.mjs';

e2e('open a card: move, save, close, delete', async ({ open }) => {
  const context = await open();
  const api = context.request;
  await apiSignUp(api, newUser('edit'));
  const project = await apiCreateProject(api, unique('Edits'));
  const task = await apiCreateTask(api, project.id, { title: 'Tune the bass', description: 'Low E is flat' });
  const other = await apiCreateTask(api, project.id, { title: 'Polish the cymbals' });
  const board = `${BASE}/projects/${project.id}`;

  const page = await context.newPage();
  await page.goto(board);
  await waitForHydration(page);
  assert.equal(await page.getByTestId('task-detail').count(), 0, 'no card open until asked');
  assert.equal(await page.getByTestId('run-band').count(), 0, 'a closed card has no actions');

  // Open opens this card only.
  await openLink(page, task.id).click();
  await page.waitForURL(`${board}?task=${task.id}`);
  const form = taskCard(page, task.id).getByTestId('edit-form');
  await form.waitFor();
  assert.equal(await page.getByTestId('task-detail').count(), 1);
  assert.equal(await taskCard(page, other.id).getByTestId('task-detail').count(), 0);
  assert.equal(await openLink(page, task.id).count(), 0);

  // A move from inside the opened card leaves it open.
  await taskCard(page, task.id).getByRole('button', { name: 'Move to In progress' }).click();
  await waitForCardIn(page, task.id, 'in_progress');
  assert.equal((await apiGetTask(api, task.id)).status, 'in_progress');
  assert.ok(page.url().includes(`task=${task.id}`), page.url());
  await form.waitFor();

  // Save applies the change and closes the form.
  await form.getByLabel('Title').fill('Tune the bass guitar');
  await form.getByRole('button', { name: 'Save' }).click();
  await eventually(async () => assert.ok(!page.url().includes('task='), page.url()));
  await eventually(async () =>
    assert.equal(await taskCard(page, task.id).locator('.card-title').textContent(), 'Tune the bass guitar'),
  );
  assert.equal(await page.getByTestId('edit-form').count(), 0);
  assert.equal((await apiGetTask(api, task.id)).title, 'Tune the bass guitar');

  // Close closes it unchanged.
  await openLink(page, task.id).click();
  await form.waitFor();
  await form.getByLabel('Title').fill('Never saved');
  await form.getByTestId('close-task').click();
  await form.waitFor({ state: 'detached' });
  assert.equal((await apiGetTask(api, task.id)).title, 'Tune the bass guitar');

  // Delete sits inside the opened card.
  await openLink(page, other.id).click();
  await taskCard(page, other.id).getByRole('button', { name: 'Delete Polish the cymbals' }).click();
  await eventually(async () => assert.equal(await taskCard(page, other.id).count(), 0));
  const gone = await api.get(`/api/v1/tasks/${other.id}`);
  assert.equal(gone.status(), 404);
});
