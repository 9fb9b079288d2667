// The default configuration, in the browser: a second EXITON server started
// with no API key and no Ollama — only the built-in local model the set-up
// installs — plays the band on a task. Real local output arrives on the
// session page (labelled as local, with the model file in its provenance),
// stops at the human gate as a small model's work should, and is approved
// through to the final answer and a task in Done.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before } from 'node:test';

import {
  apiCreateProject,
  apiCreateTask,
  apiGetTask,
  apiSignUp,
  e2e,
  eventually,
  newUser,
  shot,
  waitForHydration,
} from './helpers.mjs';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const ADDR = `127.0.0.1:${process.env.LOCAL_E2E_PORT ?? '3004'}`;
const LOCAL = `http://${ADDR}`;
const MODEL =
  process.env.EXITON_TEST_LOCAL_MODEL ?? join(ROOT, 'data/models/SmolLM2-135M-Instruct.Q4_1.gguf');

let server;
let dataDir;

before(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'exiton-local-e2e-'));
  // The default configuration: every vendor variable removed.
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !/^(ANTHROPIC|OPENAI|GEMINI|OLLAMA)_/.test(k)),
  );
  Object.assign(env, {
    LEPTOS_SITE_ADDR: ADDR,
    LEPTOS_SITE_ROOT: join(ROOT, 'target/site'),
    LEPTOS_SITE_PKG_DIR: 'pkg',
    LEPTOS_OUTPUT_NAME: 'exiton',
    // The site is built with hash-files (Cargo.toml): the page must name
    // the hashed bundle, read from the hash file beside the binary.
    LEPTOS_HASH_FILES: 'true',
    EXITON_DATA_DIR: dataDir,
    EXITON_LOCAL_MODEL: MODEL,
    // Short answers keep the test quick; what matters is the loop.
    EXITON_MAX_TOKENS: '40',
    EXITON_AGENT_TIMEOUT_SECS: '900',
  });
  // The binary the suite was built as (the release site, as scripts/test
  // builds it: its hash file must match the bundle's names).
  const binary = process.env.EXITON_E2E_SERVER_BIN ?? join(ROOT, 'target/release/server');
  server = spawn(binary, [], { cwd: ROOT, env, stdio: ['ignore', 'ignore', 'inherit'] });
  await eventually(
    async () => assert.ok((await fetch(`${LOCAL}/api/health`)).ok),
    { timeout: 60_000, interval: 250 },
  );
});

after(() => {
  server?.kill();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

const sessionStatus = (page) => page.getByTestId('session-status').getAttribute('data-status');

e2e(
  'With no key, the built-in model plays the band and its work waits for approval',
  async ({ open }) => {
    const context = await open({ baseURL: LOCAL });
    await apiSignUp(context.request, newUser('offline'));
    const project = await apiCreateProject(context.request, 'Offline band');
    const task = await apiCreateTask(context.request, project.id, {
      title: 'Add two numbers',
      description: 'A Rust function add(a: i32, b: i32) -> i32',
    });

    const page = await context.newPage();
    // Settings say who plays and why.
    await page.goto(`${LOCAL}/settings`);
    await eventually(async () => assert.match(await page.locator('body').textContent(), /built-in local model/));

    await page.goto(`${LOCAL}/tasks/${task.id}/band`);
    await waitForHydration(page);
    await page.locator('#band-action').selectOption('generate_code');
    await page.getByRole('button', { name: 'Run the band' }).click();
    await page.waitForURL(/\/sessions\/[0-9a-f-]+$/);
    const sessionId = page.url().split('/').pop();

    // Real local output arrives and stops at the gate.
    await eventually(async () => assert.equal(await sessionStatus(page), 'awaiting_review'), { timeout: 240_000 });
    const cards = page.getByTestId('invocation');
    assert.ok((await cards.count()) >= 3);
    for (const card of await cards.all()) {
      assert.equal(await card.getByTestId('local-label').count(), 1);
      assert.match(await card.getByTestId('provenance').textContent(), /SmolLM2-135M-Instruct\.Q4_1\.gguf@sha256:/);
    }
    const coder = page.locator('[data-testid="invocation"][data-role="coder"]');
    assert.ok((await coder.getByTestId('output').textContent()).trim().length > 0, 'the model wrote something');
    await page.screenshot({ path: shot('local-band'), fullPage: true });

    // Approve at the gate: the conductor (the same local model) synthesises.
    const gate = page.locator('[data-testid="review-request"][data-kind="gate"]');
    await gate.getByTestId('open-review').click();
    await page.waitForURL(/\/reviews\/[0-9a-f-]+$/);
    await waitForHydration(page);
    await page.locator('body').click({ position: { x: 2, y: 2 } });
    await page.keyboard.press('a');
    await page.waitForURL(`${LOCAL}/sessions/${sessionId}`);
    const finalNote = page.locator('[data-testid="review-request"][data-kind="final_approval"]');
    await finalNote.waitFor({ timeout: 240_000 });

    // The final approval completes the session and delivers the task.
    await finalNote.getByTestId('open-review').click();
    await page.waitForURL(/\/reviews\/[0-9a-f-]+$/);
    await waitForHydration(page);
    await page.locator('body').click({ position: { x: 2, y: 2 } });
    await page.keyboard.press('a');
    await page.waitForURL(`${LOCAL}/sessions/${sessionId}`);
    await eventually(async () => assert.equal(await sessionStatus(page), 'completed'), { timeout: 30_000 });
    assert.equal((await apiGetTask(context.request, task.id)).status, 'done');
  },
  { timeout: 600_000 },
);
