// The board's keyboard grammar: `/` search, `c` new task, `j`/`k` between
// cards, `?` cheat sheet (also behind a visible button) — and none of them
// fire while the user types in a field.

import assert from 'node:assert/strict';

import {
  BASE,
  apiCreateProject,
  apiCreateTask,
  apiSignUp,
  e2e,
  eventually,
  newUser,
  unique,
  waitForHydration,
} from './helpers.mjs';

const focusedId = (page) => page.evaluate(() => document.activeElement?.id ?? '');
const focusedCard = (page) => page.evaluate(() => document.activeElement?.getAttribute('data-task-id') ?? '');

e2e('board shortcuts: / search, c new task, j/k cards, ? help', async ({ open }) => {
  const context = await open();
  await apiSignUp(context.request, newUser('kbd'));
  const project = await apiCreateProject(context.request, unique('Keys'));
  const first = await apiCreateTask(context.request, project.id, { title: 'First take' });
  const second = await apiCreateTask(context.request, project.id, { title: 'Second take' });
  const page = await context.newPage();
  await page.goto(`${BASE}/projects/${project.id}`);
  await waitForHydration(page);

  await page.keyboard.press('/');
  assert.equal(await focusedId(page), 'board-search');
  // Typing in the search box types; it does not trigger shortcuts.
  await page.keyboard.type('cj');
  assert.equal(await page.getByTestId('search').inputValue(), 'cj');
  assert.equal(await focusedId(page), 'board-search');
  await page.getByTestId('search').fill('');
  await eventually(async () => assert.equal(page.url(), `${BASE}/projects/${project.id}`));
  await page.locator('body').click({ position: { x: 5, y: 5 } });

  await page.keyboard.press('c');
  assert.equal(await focusedId(page), 'field-title');
  await page.keyboard.type('Third take');
  await page.keyboard.press('Enter');
  await eventually(async () => assert.equal(await page.locator('li.task-card').count(), 3));
  await page.locator('body').click({ position: { x: 5, y: 5 } });

  await page.keyboard.press('j');
  assert.equal(await focusedCard(page), first.id);
  await page.keyboard.press('j');
  assert.equal(await focusedCard(page), second.id);
  await page.keyboard.press('k');
  assert.equal(await focusedCard(page), first.id);
  await page.keyboard.press('k');
  assert.equal(await focusedCard(page), first.id, 'k stops at the first card');

  const help = page.getByTestId('shortcuts');
  assert.equal(await help.count(), 0);
  await page.keyboard.press('?');
  await help.waitFor();
  assert.match(await help.textContent(), /Search tasks/);
  await page.keyboard.press('Escape');
  await help.waitFor({ state: 'detached' });
  // The visible button does the same.
  await page.getByTestId('shortcuts-button').click();
  await help.waitFor();
  await help.getByRole('button', { name: 'Close' }).click();
  await help.waitFor({ state: 'detached' });
});
