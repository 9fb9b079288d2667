// Search as you type, keystroke by keystroke, on a hydrated board: the
// search box must keep focus while the list refreshes under it.

import assert from 'node:assert/strict';

import {
  BASE,
  apiCreateProject,
  apiCreateTask,
  apiSignUp,
  e2e,
  eventually,
  newUser,
  taskCard,
  unique,
  visibleTitles,
  waitForCardIn,
  waitForHydration,
} from './helpers.mjs';

/** A signed-in context on a board with three tasks; returns the page and ids. */
async function seededBoard(open) {
  const context = await open();
  await apiSignUp(context.request, newUser('ada'));
  const project = await apiCreateProject(context.request, unique('Search Party'));
  const ids = {};
  for (const title of ['Tune the trumpet', 'Book the venue', 'Print the setlists']) {
    ids[title] = (await apiCreateTask(context.request, project.id, { title })).id;
  }
  const page = await context.newPage();
  await page.goto(`/projects/${project.id}`);
  await waitForHydration(page);
  return { page, project, ids };
}

const focusedTestId = (page) =>
  page.evaluate(() => {
    const el = document.activeElement;
    return el?.getAttribute('data-testid') ?? el?.getAttribute('data-task-id') ?? el?.tagName;
  });

async function typeAndCheck(page, project, word) {
  const search = page.getByTestId('search');
  await search.click();
  for (const ch of word) {
    await page.keyboard.type(ch);
    // Let the list refresh under the cursor before the next key.
    await page.waitForTimeout(150);
    assert.equal(await focusedTestId(page), 'search', `search box lost focus after typing "${ch}"`);
  }
  assert.equal(await search.inputValue(), word);
  await eventually(async () => assert.equal(page.url(), `${BASE}/projects/${project.id}?q=${word}`));
  await eventually(async () => assert.deepEqual(await visibleTitles(page), ['Tune the trumpet']));
}

e2e('typing in the search box keeps focus and filters as you type', async ({ open }) => {
  const { page, project } = await seededBoard(open);
  await typeAndCheck(page, project, 'trumpet');
});

e2e('after a keyboard move, typing in the search box keeps focus', async ({ open }) => {
  const { page, project, ids } = await seededBoard(open);
  const id = ids['Print the setlists'];
  await taskCard(page, id).focus();
  await page.keyboard.press('Shift+ArrowRight');
  await waitForCardIn(page, id, 'in_progress');
  await eventually(async () => assert.equal(await focusedTestId(page), id));
  // The moved card no longer holds on to focus once the user is elsewhere.
  await typeAndCheck(page, project, 'trumpet');
});
