// Shared helpers for the end-to-end tests: one Chromium per test file,
// unique accounts per test, polling assertions, and page/board shortcuts.
// Not a test file itself (run.mjs only picks up `*.test.mjs`).

import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { chromium, request } from 'playwright-core';

export const BASE = `http://${process.env.LEPTOS_SITE_ADDR ?? '127.0.0.1:3000'}`;

export const SCREENSHOTS = fileURLToPath(new URL('../screenshots/', import.meta.url));
mkdirSync(SCREENSHOTS, { recursive: true });

/** Where a screenshot called `name` (without extension) is saved. */
export const shot = (name) => `${SCREENSHOTS}${name}.png`;

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

/** How long to wait for the WebAssembly bundle (a debug build is large). */
export const HYDRATION_TIMEOUT = 60_000;

let browserPromise;

/** The file's browser, launched on first use and closed after the file. */
export function browser() {
  browserPromise ??= chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: CHROMIUM_ARGS,
  });
  return browserPromise;
}

after(async () => {
  if (browserPromise) await (await browserPromise).close();
});

/**
 * A fresh browser context (its own cookie jar) aimed at the app. Every page
 * opened in it records its uncaught errors and console errors in
 * `context.browserErrors` (`e2e` fails the test on any); messages matching
 * one of `allowErrors` (regular expressions) are expected by the test and
 * not recorded.
 */
export async function newContext({ allowErrors = [], ...options } = {}) {
  const context = await (await browser()).newContext({ baseURL: BASE, ...options });
  context.setDefaultTimeout(20_000);
  context.setDefaultNavigationTimeout(30_000);
  context.browserErrors = [];
  const record = (page, kind, text) => {
    if (allowErrors.some((re) => re.test(text))) return;
    context.browserErrors.push(`${kind} on ${page.url()}: ${text}`);
  };
  context.on('page', (page) => {
    page.on('pageerror', (error) => record(page, 'page error', `${error.message}\n${error.stack ?? ''}`));
    page.on('console', (message) => {
      if (message.type() !== 'error') return;
      const where = message.location()?.url ? ` (${message.location().url})` : '';
      record(page, 'console error', `${message.text()}${where}`);
    });
  });
  return context;
}

/**
 * For `allowErrors`: the console error Chromium logs for a response with
 * `status` from a URL matching `path` (a string, matched as a prefix after
 * the origin). A test that provokes such an answer on purpose (bad input, a
 * foreign id) names exactly that one; anything else still fails it.
 */
export const rejected = (status, path) =>
  new RegExp(
    `^Failed to load resource: the server responded with a status of ${status} .*\\(${BASE.replace(/[.]/g, '\\.')}${path}`,
  );

/** Fails when any page of `contexts` raised an error or logged one. */
export function assertNoBrowserErrors(contexts) {
  const errors = contexts.flatMap((c) => c.browserErrors ?? []);
  assert.deepEqual(errors, [], `the browser reported errors:\n${errors.join('\n')}`);
}

/** A cookie-keeping HTTP client outside any browser, for seeding data. */
export function newApiClient() {
  return request.newContext({ baseURL: BASE });
}

/**
 * A test with its own browser contexts: `open(options)` makes one, and all
 * are closed afterwards. Any page error or console error in them fails the
 * test (after its own assertions; see `newContext` for `allowErrors`). On
 * failure every open page is screenshotted to
 * `screenshots/failed-<test>-<n>.png` before the error is rethrown.
 */
export function e2e(name, fn, { timeout = 90_000 } = {}) {
  test(name, { timeout }, async (t) => {
    const contexts = [];
    const open = async (options) => {
      const context = await newContext(options);
      contexts.push(context);
      return context;
    };
    try {
      await fn({ t, open });
      assertNoBrowserErrors(contexts);
    } catch (error) {
      const slug = name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
      let n = 0;
      for (const context of contexts) {
        for (const page of context.pages()) {
          n += 1;
          await page.screenshot({ path: shot(`failed-${slug}-${n}`), fullPage: true }).catch(() => {});
        }
      }
      throw error;
    } finally {
      await Promise.all(contexts.map((c) => c.close().catch(() => {})));
    }
  });
}

/** `prefix-<time>-<random>`: unique across runs sharing one database. */
export function unique(prefix) {
  return `${prefix}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
}

/** A new user's details, with an email no earlier run has used. */
export function newUser(first = 'ada') {
  const tag = unique(first);
  return {
    name: `${first[0].toUpperCase()}${first.slice(1)} ${tag.slice(first.length + 1)}`,
    email: `${tag}@example.com`,
    password: 'correct horse battery',
  };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Retries `fn` (which asserts) until it passes or `timeout` ms elapse. */
export async function eventually(fn, { timeout = 15_000, interval = 100 } = {}) {
  const deadline = Date.now() + timeout;
  for (;;) {
    try {
      return await fn();
    } catch (error) {
      if (Date.now() > deadline) throw error;
    }
    await sleep(interval);
  }
}

/** Waits until the WebAssembly has hydrated the page (`body[data-hydrated]`). */
export async function waitForHydration(page) {
  await page
    .locator('body[data-hydrated="true"]')
    .waitFor({ state: 'attached', timeout: HYDRATION_TIMEOUT });
}

/** Whether the page has hydrated. */
export async function isHydrated(page) {
  return (await page.locator('body').getAttribute('data-hydrated')) === 'true';
}

// ---------------------------------------------------------------- accounts

/** Signs up through the form (hydrated) and lands on the project list. */
export async function signUpInBrowser(page, user) {
  await page.goto('/signup');
  await waitForHydration(page);
  await page.locator('#field-name').fill(user.name);
  await page.locator('#field-email').fill(user.email);
  await page.locator('#field-password').fill(user.password);
  await page.getByRole('button', { name: 'Sign up' }).click();
  await page.waitForURL(`${BASE}/`);
  await eventually(async () =>
    assert.equal(await page.getByTestId('user-name').textContent(), user.name),
  );
}

async function expectStatus(response, status) {
  assert.equal(
    response.status(),
    status,
    `${response.url()} answered ${response.status()}: ${await response.text()}`,
  );
  return response;
}

/** Signs up through the REST API; `api` keeps the session cookie. */
export async function apiSignUp(api, user) {
  const r = await api.post('/api/v1/auth/signup', { data: user });
  return (await expectStatus(r, 201)).json();
}

export async function apiCreateProject(api, name) {
  const r = await api.post('/api/v1/projects', { data: { name } });
  return (await expectStatus(r, 201)).json();
}

export async function apiCreateTask(api, projectId, task) {
  const r = await api.post(`/api/v1/projects/${projectId}/tasks`, { data: task });
  return (await expectStatus(r, 201)).json();
}

export async function apiGetTask(api, id) {
  const r = await api.get(`/api/v1/tasks/${id}`);
  return (await expectStatus(r, 200)).json();
}

export async function apiGetProject(api, id) {
  const r = await api.get(`/api/v1/projects/${id}`);
  return (await expectStatus(r, 200)).json();
}

// ---------------------------------------------------------------- projects

/** The project card showing `name` on the list page. */
export function projectCard(page, name) {
  return page
    .getByTestId('project-card')
    .filter({ has: page.getByTestId('project-link').getByText(name, { exact: true }) });
}

/** Creates a project with the list page's form; returns its id. */
export async function createProjectInBrowser(page, name) {
  const form = page.getByTestId('new-project');
  await form.locator('input[name="name"]').fill(name);
  await form.getByRole('button', { name: 'Create' }).click();
  const card = projectCard(page, name);
  await card.waitFor();
  const href = await card.getByTestId('project-link').getAttribute('href');
  const match = /^\/projects\/([0-9a-f-]{36})$/.exec(href);
  assert.ok(match, `unexpected project link ${href}`);
  return match[1];
}

// ------------------------------------------------------------------- board

export const STATUSES = ['todo', 'in_progress', 'review', 'done'];

export const column = (page, status) => page.locator(`section[data-column="${status}"]`);

export const taskCard = (page, id) => page.locator(`li.task-card[data-task-id="${id}"]`);

/** A closed card's one link, which opens it (`?task=<id>`). */
export const openLink = (page, id) => taskCard(page, id).getByRole('link', { name: 'Open', exact: true });

/** The column each listed task id sits in, read from the DOM. */
export async function columnOf(page, id) {
  return page
    .locator(`li.task-card[data-task-id="${id}"]`)
    .evaluate((el) => el.closest('section[data-column]')?.dataset.column ?? null);
}

/** The counts shown in the four column headers, by status. */
export async function columnCounts(page) {
  const counts = {};
  for (const s of STATUSES) {
    counts[s] = Number(await column(page, s).getByTestId('count').textContent());
  }
  return counts;
}

/** Titles of the cards on the board, top to bottom, column by column. */
export async function visibleTitles(page) {
  return page.locator('li.task-card .card-title').allTextContents();
}

/** Waits until task `id` is rendered in column `status` (and only there). */
export async function waitForCardIn(page, id, status, timeout = 15_000) {
  await column(page, status)
    .locator(`li.task-card[data-task-id="${id}"][data-status="${status}"]`)
    .waitFor({ timeout });
  assert.equal(await page.locator(`li.task-card[data-task-id="${id}"]`).count(), 1);
}

/** Adds a task with the board's form (hydrated); returns the new card's id. */
export async function addTaskInBrowser(page, title, description = '') {
  const form = page.getByTestId('new-task');
  await form.locator('input[name="title"]').fill(title);
  await form.locator('input[name="description"]').fill(description);
  await form.getByRole('button', { name: 'Add task' }).click();
  const card = column(page, 'todo')
    .locator('li.task-card')
    .filter({ has: page.locator('.card-title').getByText(title, { exact: true }) });
  await card.waitFor();
  const id = await card.getAttribute('data-task-id');
  assert.match(id, /^[0-9a-f-]{36}$/);
  return id;
}
