// Client-side navigation must never kill the hydrated app. Each signed-in
// page is reached by clicking a link (the router, not a reload), while
// events keep arriving on the live socket: a task is created through the
// API before and after every step, so frames land on pages as they are
// being torn down. At the end the window is the one the walk started in,
// the board has picked up every task live, and a keyboard command still
// works. The shared fixture fails the test on any page or console error.

import assert from 'node:assert/strict';

import {
  BASE,
  apiCreateProject,
  apiCreateTask,
  apiSignUp,
  e2e,
  eventually,
  newUser,
  openLink,
  taskCard,
  unique,
  waitForHydration,
} from './helpers.mjs';

e2e(
  'clicking through every signed-in page while events arrive keeps the app alive',
  async ({ open }) => {
    const context = await open();
    const api = context.request;
    await apiSignUp(api, newUser('walk'));
    const project = await apiCreateProject(api, unique('Walk'));
    const task = await apiCreateTask(api, project.id, {
      title: 'Walk the stage',
      description: 'Tidy up. [critical]',
    });
    // A session stopped at the gate gives the review and session pages.
    const run = await api.post(`/api/v1/tasks/${task.id}/execute-ai`, {
      data: { intent: { action: 'generate_code' } },
    });
    assert.equal(run.status(), 202, await run.text());
    await eventually(
      async () => {
        const r = await api.get('/api/v1/reviews/pending');
        assert.equal((await r.json()).reviews.length, 1);
      },
      { timeout: 30_000 },
    );

    const page = await context.newPage();
    await page.goto(`${BASE}/`);
    await waitForHydration(page);
    await page.evaluate(() => {
      window.__walkMarker = 'same window';
    });

    let created = 0;
    const churn = async () => {
      created += 1;
      await apiCreateTask(api, project.id, { title: `Arrived during the walk ${created}` });
    };
    const visited = [];
    /** Clicks `link`, expects `path`, waits for `ready` on the new page. */
    const step = async (link, path, ready) => {
      await churn();
      await link.click();
      await page.waitForURL(`${BASE}${path}`);
      await ready.first().waitFor();
      visited.push(path);
      await churn();
    };

    const board = `/projects/${project.id}`;
    const home = page.locator('header a[href="/"]');
    await step(page.getByTestId('project-link'), board, page.locator('section[data-column="todo"]'));
    // Run the band sits in the opened card (a link to `?task=<id>`).
    await openLink(page, task.id).click();
    await step(
      taskCard(page, task.id).getByTestId('run-band'),
      `/tasks/${task.id}/band`,
      page.getByTestId('run-band-form'),
    );
    await step(page.getByText('← Back to the board'), board, page.locator('section[data-column]'));
    await step(page.getByTestId('reviews-link'), '/reviews', page.getByTestId('review-item'));
    const reviewHref = await page.getByTestId('review-link').getAttribute('href');
    await step(page.getByTestId('review-link'), reviewHref, page.getByTestId('approve-form'));
    const sessionLink = page.getByText('← The session');
    const sessionHref = await sessionLink.getAttribute('href');
    await step(sessionLink, sessionHref, page.getByTestId('session-status'));
    await step(page.getByTestId('interventions-link'), '/interventions', page.getByTestId('intervention-filter'));
    await step(page.getByTestId('settings-link'), '/settings', page.getByTestId('provider-health'));
    await step(home, '/', page.getByTestId('project-list'));
    await step(page.getByTestId('project-link'), board, page.locator('section[data-column="todo"]'));
    assert.equal(visited.length, 10);

    // The walk never reloaded the page: it is the same window.
    assert.equal(await page.evaluate(() => window.__walkMarker), 'same window');
    // The live socket still delivers: the board shows every task, the ones
    // created since it was opened included, without a reload.
    await churn();
    await eventually(async () =>
      assert.equal(await page.locator('li.task-card').count(), created + 1),
    );
    // And the app still answers the keyboard.
    await page.locator('body').click({ position: { x: 5, y: 5 } });
    await page.keyboard.press('?');
    await page.getByTestId('shortcuts').waitFor();
    await page.keyboard.press('Escape');
    await page.getByTestId('shortcuts').waitFor({ state: 'detached' });
  },
  { timeout: 150_000 },
);
