// Negative control: with the WebAssembly blocked, the plain forms still
// work (sign in, move buttons, search on Enter), while client-only behaviour
// (the hydration marker, keyboard moves) is absent. This is what makes the
// hydrated tests meaningful.

import assert from 'node:assert/strict';

import {
  BASE,
  apiCreateProject,
  apiCreateTask,
  apiGetTask,
  apiSignUp,
  columnCounts,
  columnOf,
  e2e,
  isHydrated,
  newApiClient,
  newUser,
  openLink,
  taskCard,
  unique,
  visibleTitles,
  waitForCardIn,
} from './helpers.mjs';

e2e('without WebAssembly: forms work, keyboard moves do not', async ({ open }) => {
  // Seed an account with a project and two tasks through the API.
  const user = newUser('ada');
  const api = await newApiClient();
  try {
    await apiSignUp(api, user);
    const project = await apiCreateProject(api, unique('Unplugged'));
    const gig = await apiCreateTask(api, project.id, { title: 'Soundcheck the piano' });
    await apiCreateTask(api, project.id, { title: 'Rehearse the bridge' });

    // The WebAssembly is blocked on purpose: its failed fetch (and the
    // loader's rejected promise) are what this test expects.
    const context = await open({
      allowErrors: [/^Failed to load resource: net::ERR_FAILED .*\.wasm\)$/, /^Failed to fetch\n/],
    });
    let blocked = 0;
    await context.route('**/*.wasm', (route) => {
      blocked += 1;
      return route.abort();
    });
    const page = await context.newPage();

    // Sign in with a native form post.
    await page.goto('/login');
    await page.locator('#field-email').fill(user.email);
    await page.locator('#field-password').fill(user.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`${BASE}/`);
    assert.equal(await page.getByTestId('user-name').textContent(), user.name);

    // The board, server-rendered.
    await page.goto(`/projects/${project.id}`);
    assert.equal(await columnOf(page, gig.id), 'todo');
    assert.deepEqual(await columnCounts(page), { todo: 2, in_progress: 0, review: 0, done: 0 });

    // The app did ask for its WebAssembly, and never hydrated.
    assert.ok(blocked > 0, 'the page should have requested a .wasm file');
    assert.equal(await isHydrated(page), false);

    // Opening the card is a plain link; its "Move to In progress" posts
    // the form, and the server redirects back.
    await openLink(page, gig.id).click();
    await page.waitForURL(`${BASE}/projects/${project.id}?task=${gig.id}`);
    assert.equal(await isHydrated(page), false);
    const posted = page.waitForResponse((r) => r.request().method() === 'POST');
    await taskCard(page, gig.id).getByRole('button', { name: 'Move to In progress' }).click();
    const post = await posted;
    assert.ok([302, 303].includes(post.status()), `form post answered ${post.status()}`);
    await waitForCardIn(page, gig.id, 'in_progress');
    await page.reload();
    assert.equal(await columnOf(page, gig.id), 'in_progress');
    assert.equal((await apiGetTask(api, gig.id)).status, 'in_progress');

    // Shift+ArrowRight on a focused card does nothing without the WebAssembly.
    await taskCard(page, gig.id).focus();
    assert.equal(
      await page.evaluate(() => document.activeElement?.getAttribute('data-task-id')),
      gig.id,
    );
    await page.keyboard.press('Shift+ArrowRight');
    await page.waitForTimeout(1_500);
    assert.equal(await columnOf(page, gig.id), 'in_progress');
    assert.equal((await apiGetTask(api, gig.id)).status, 'in_progress');
    await page.reload();
    assert.equal(await columnOf(page, gig.id), 'in_progress');

    // Search is a GET form: Enter filters without the WebAssembly.
    await page.getByTestId('search').fill('piano');
    await page.getByTestId('search').press('Enter');
    await page.waitForURL(`${BASE}/projects/${project.id}?q=piano`);
    assert.deepEqual(await visibleTitles(page), ['Soundcheck the piano']);
    assert.equal(await page.getByTestId('search').inputValue(), 'piano');

    assert.equal(await isHydrated(page), false);
  } finally {
    await api.dispose();
  }
});
