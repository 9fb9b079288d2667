// A project's repository page: link a new repository, then a local one
// inside the directory the server allows (checked with the git CLI), see
// the user's own edit reported as a changed file, be refused a path
// outside the allowed directories, and unlink — the files stay.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import {
  BASE,
  apiCreateProject,
  apiSignUp,
  e2e,
  eventually,
  newUser,
  rejected,
  unique,
  waitForHydration,
} from './helpers.mjs';

/** The git CLI, isolated from the machine's configuration. */
function git(dir, args) {
  return execFileSync('git', args, {
    cwd: dir,
    encoding: 'utf8',
    env: {
      ...process.env,
      GIT_CONFIG_GLOBAL: '/dev/null',
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_AUTHOR_NAME: 'Ada',
      GIT_AUTHOR_EMAIL: 'ada@example.com',
      GIT_COMMITTER_NAME: 'Ada',
      GIT_COMMITTER_EMAIL: 'ada@example.com',
    },
  }).trim();
}

e2e('link a new repository, then a local one; unlinking keeps the files', async ({ open }) => {
  const roots = process.env.EXITON_REPO_ROOTS;
  assert.ok(roots, 'EXITON_REPO_ROOTS must name a directory (scripts/test sets it)');
  const context = await open({ allowErrors: [rejected(422, '/api/link_repository')] });
  const api = context.request;
  await apiSignUp(api, newUser('repo'));
  const project = await apiCreateProject(api, unique('Repo'));

  const page = await context.newPage();
  await page.goto(`${BASE}/projects/${project.id}`);
  await waitForHydration(page);
  await page.getByTestId('repo-settings').click();
  await page.waitForURL(`${BASE}/projects/${project.id}/repository`);
  await page.getByTestId('repo-none').waitFor();

  // A new repository, made in the data directory with a first commit.
  await page.getByTestId('repo-kind-select').selectOption('new');
  await page.getByTestId('repo-link').click();
  await page.getByTestId('repo-linked').waitFor();
  assert.equal(await page.getByTestId('repo-kind').textContent(), 'new');
  assert.equal(await page.getByTestId('repo-base').textContent(), 'main');
  const made = await page.getByTestId('repo-path').textContent();
  assert.equal(git(made, ['rev-parse', '--abbrev-ref', 'HEAD']), 'main');

  // A local repository inside the allowed directory.
  const dir = join(roots.split(':')[0], unique('app'));
  mkdirSync(dir, { recursive: true });
  git(dir, ['init', '-q', '-b', 'trunk']);
  writeFileSync(join(dir, 'README.md'), '# Blue Bebop\n');
  git(dir, ['add', '.']);
  git(dir, ['commit', '-q', '-m', 'Start']);
  await page.getByTestId('repo-kind-select').selectOption('local');
  await page.getByTestId('repo-path-input').fill(dir);
  await page.getByTestId('repo-link').click();
  await eventually(async () =>
    assert.equal(await page.getByTestId('repo-path').textContent(), realpathSync(dir)),
  );
  assert.equal(await page.getByTestId('repo-kind').textContent(), 'local');
  assert.equal(await page.getByTestId('repo-base').textContent(), 'trunk');
  assert.equal(
    await page.getByTestId('repo-base-commit').textContent(),
    git(dir, ['rev-parse', '--short=8', 'trunk']),
  );
  assert.equal(await page.getByTestId('repo-state').textContent(), 'clean');

  // The user's own edit shows, and is never touched.
  writeFileSync(join(dir, 'README.md'), '# Blue Bebop, edited\n');
  await page.reload();
  await eventually(async () =>
    assert.equal(await page.getByTestId('repo-state').textContent(), '1 changed file'),
  );

  // Outside the allowed directory: refused, the link unchanged.
  await waitForHydration(page);
  await page.getByTestId('repo-kind-select').selectOption('local');
  await page.getByTestId('repo-path-input').fill('/etc');
  await page.getByTestId('repo-link').click();
  await eventually(async () =>
    assert.match(await page.getByTestId('repo-error').textContent(), /outside the directories/),
  );
  assert.equal(await page.getByTestId('repo-path').textContent(), realpathSync(dir));

  // Unlink: the repository's files stay, the edit included.
  await page.getByTestId('repo-unlink').click();
  await page.getByTestId('repo-none').waitFor();
  assert.equal(readFileSync(join(dir, 'README.md'), 'utf8'), '# Blue Bebop, edited\n');
  assert.ok(existsSync(join(dir, '.git')));
  assert.ok(existsSync(join(made, '.git')));
});
