// The main journey, hydrated: sign up, create a project, fill its board,
// move cards by drag and drop and by keyboard, search, reload, sign out.

import assert from 'node:assert/strict';

import {
  BASE,
  addTaskInBrowser,
  column,
  columnCounts,
  columnOf,
  createProjectInBrowser,
  e2e,
  eventually,
  newUser,
  signUpInBrowser,
  taskCard,
  unique,
  visibleTitles,
  waitForCardIn,
  waitForHydration,
} from './helpers.mjs';

e2e(
  'sign up, build a board, drag, keyboard-move, search, reload, sign out',
  async ({ open }) => {
    const context = await open();
    const page = await context.newPage();
    const user = newUser('ada');

    // Sign up: the header greets the new user by name.
    await signUpInBrowser(page, user);

    // Create a project and open its board.
    const projectName = unique('Blue Bebop');
    const projectId = await createProjectInBrowser(page, projectName);
    await page.getByTestId('project-link').getByText(projectName, { exact: true }).click();
    await page.waitForURL(`${BASE}/projects/${projectId}`);
    await eventually(async () =>
      assert.equal(await page.getByTestId('board-title').textContent(), projectName),
    );
    await waitForHydration(page);
    assert.deepEqual(await columnCounts(page), { todo: 0, in_progress: 0, review: 0, done: 0 });

    // Three tasks, one with a description.
    const trumpet = await addTaskInBrowser(page, 'Tune the trumpet');
    const venue = await addTaskInBrowser(page, 'Book the venue', 'Call the club about Friday night');
    const setlist = await addTaskInBrowser(page, 'Print the setlists');
    await eventually(async () =>
      assert.deepEqual(await columnCounts(page), { todo: 3, in_progress: 0, review: 0, done: 0 }),
    );
    assert.match(await taskCard(page, venue).textContent(), /Call the club about Friday night/);

    // Drag and drop (Playwright's dragTo delivers real HTML5 drag events:
    // dragstart sets the id in dataTransfer, the column's drop reads it).
    await taskCard(page, trumpet).dragTo(column(page, 'done'));
    await waitForCardIn(page, trumpet, 'done');
    await eventually(async () =>
      assert.deepEqual(await columnCounts(page), { todo: 2, in_progress: 0, review: 0, done: 1 }),
    );

    // Keyboard: Shift+ArrowRight three times, each a move, focus kept on the card.
    await taskCard(page, setlist).focus();
    for (const status of ['in_progress', 'review', 'done']) {
      await page.keyboard.press('Shift+ArrowRight');
      await waitForCardIn(page, setlist, status);
      await eventually(async () =>
        assert.equal(
          await page.evaluate(() => document.activeElement?.getAttribute('data-task-id')),
          setlist,
          `focus should return to the moved card (now in ${status})`,
        ),
      );
    }
    await eventually(async () =>
      assert.deepEqual(await columnCounts(page), { todo: 1, in_progress: 0, review: 0, done: 2 }),
    );
    // Shift+ArrowRight in the last column is a no-op.
    await page.keyboard.press('Shift+ArrowRight');
    await page.waitForTimeout(300);
    assert.equal(await columnOf(page, setlist), 'done');

    // Search (once hydrated, input updates ?q= and filters): only the
    // matching card remains; clearing restores all. `fill` sends one input
    // event; keystroke-by-keystroke typing is covered by search.test.mjs.
    const search = page.getByTestId('search');
    await search.fill('trumpet');
    await eventually(async () => assert.equal(page.url(), `${BASE}/projects/${projectId}?q=trumpet`));
    await eventually(async () => assert.deepEqual(await visibleTitles(page), ['Tune the trumpet']));
    await search.fill('');
    await eventually(async () => assert.equal(page.url(), `${BASE}/projects/${projectId}`));
    await eventually(async () => assert.equal((await visibleTitles(page)).length, 3));
    // Description words are searchable too.
    await search.fill('friday');
    await eventually(async () => assert.deepEqual(await visibleTitles(page), ['Book the venue']));
    await search.fill('');
    await eventually(async () => assert.equal((await visibleTitles(page)).length, 3));

    // Reload: everything was saved on the server.
    await page.reload();
    await eventually(async () =>
      assert.equal(await page.getByTestId('board-title').textContent(), projectName),
    );
    assert.equal(await columnOf(page, trumpet), 'done');
    assert.equal(await columnOf(page, setlist), 'done');
    assert.equal(await columnOf(page, venue), 'todo');
    assert.deepEqual(await columnCounts(page), { todo: 1, in_progress: 0, review: 0, done: 2 });
    assert.match(await taskCard(page, venue).textContent(), /Call the club about Friday night/);

    // Sign out: the project list now sends us to sign in.
    await waitForHydration(page);
    await page.getByTestId('sign-out').click();
    await page.waitForURL(`${BASE}/login`);
    // (Accept: text/html as a browser sends it; leptos_axum answers other
    // clients with 200 and a `serverfnredirect` header instead of a 302.)
    const redirect = await context.request.get('/', {
      maxRedirects: 0,
      headers: { accept: 'text/html' },
    });
    assert.equal(redirect.status(), 302);
    assert.equal(new URL(redirect.headers().location, BASE).pathname, '/login');
    await page.goto('/');
    assert.equal(new URL(page.url()).pathname, '/login');
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
  },
  { timeout: 120_000 },
);
