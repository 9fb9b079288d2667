// Editing a card: "Edit" opens that card's form (and only that one) at
// `?edit=<id>`, a plain link; Save applies the change and closes the form,
// Cancel closes it unchanged, Delete (inside the form) removes the task.

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
  taskCard,
  unique,
  waitForHydration,
} from './helpers.mjs';

e2e('edit a card: open, save, cancel, delete', async ({ open }) => {
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
  assert.equal(await page.getByTestId('edit-form').count(), 0, 'no form until asked');

  // Edit opens this card's form only.
  await taskCard(page, task.id).getByTestId('edit-task').click();
  await page.waitForURL(`${board}?edit=${task.id}`);
  const form = taskCard(page, task.id).getByTestId('edit-form');
  await form.waitFor();
  assert.equal(await page.getByTestId('edit-form').count(), 1);
  assert.equal(await taskCard(page, other.id).getByTestId('edit-form').count(), 0);

  // Save applies the change and closes the form.
  await form.getByLabel('Title').fill('Tune the bass guitar');
  await form.getByRole('button', { name: 'Save' }).click();
  await eventually(async () => assert.ok(!page.url().includes('edit='), page.url()));
  await eventually(async () =>
    assert.equal(await taskCard(page, task.id).getByTestId('task-title').textContent(), 'Tune the bass guitar'),
  );
  assert.equal(await page.getByTestId('edit-form').count(), 0);
  assert.equal((await apiGetTask(api, task.id)).title, 'Tune the bass guitar');

  // Cancel closes it unchanged.
  await taskCard(page, task.id).getByTestId('edit-task').click();
  await form.waitFor();
  await form.getByLabel('Title').fill('Never saved');
  await form.getByTestId('cancel-edit').click();
  await form.waitFor({ state: 'detached' });
  assert.equal((await apiGetTask(api, task.id)).title, 'Tune the bass guitar');

  // Delete sits inside the form.
  await taskCard(page, other.id).getByTestId('edit-task').click();
  await taskCard(page, other.id).getByRole('button', { name: 'Delete Polish the cymbals' }).click();
  await eventually(async () => assert.equal(await taskCard(page, other.id).count(), 0));
  const gone = await api.get(`/api/v1/tasks/${other.id}`);
  assert.equal(gone.status(), 404);
});
