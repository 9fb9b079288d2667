// One user cannot see another's projects: not in the list, not by URL,
// not through the API.

import assert from 'node:assert/strict';

import {
  apiCreateProject,
  apiSignUp,
  e2e,
  rejected,
  eventually,
  newUser,
  signUpInBrowser,
  unique,
} from './helpers.mjs';

e2e("another user's board is a 404 in the UI and the API", async ({ open }) => {
  // User A (own browser context) has a project and can open it.
  const contextA = await open();
  await apiSignUp(contextA.request, newUser('ada'));
  const projectName = unique('Private Sessions');
  const project = await apiCreateProject(contextA.request, projectName);
  const pageA = await contextA.newPage();
  const responseA = await pageA.goto(`/projects/${project.id}`);
  assert.equal(responseA.status(), 200);
  assert.equal(await pageA.getByTestId('board-title').textContent(), projectName);
  assert.equal((await contextA.request.get(`/api/v1/projects/${project.id}`)).status(), 200);

  // User B signs up in another context and sees an empty project list.
  const contextB = await open({ allowErrors: [rejected(404, '/projects/')] });
  const pageB = await contextB.newPage();
  const userB = newUser('bix');
  await signUpInBrowser(pageB, userB);
  await pageB.getByText('No projects yet').waitFor();
  assert.equal(await pageB.getByTestId('project-card').count(), 0);
  assert.equal(await pageB.getByText(projectName).count(), 0);

  // A's board URL is the 404 page for B.
  const responseB = await pageB.goto(`/projects/${project.id}`);
  assert.equal(responseB.status(), 404);
  await eventually(async () =>
    assert.equal(await pageB.getByRole('heading', { level: 1 }).textContent(), 'Off the chart'),
  );
  assert.equal(await pageB.getByTestId('board-title').count(), 0);
  assert.equal(await pageB.getByText(projectName).count(), 0);

  // And the API says the same, in its JSON error shape.
  const api = await contextB.request.get(`/api/v1/projects/${project.id}`);
  assert.equal(api.status(), 404);
  assert.match(api.headers()['content-type'], /application\/json/);
  const body = await api.json();
  assert.equal(body.error.code, 'not_found');
  assert.equal(typeof body.error.message, 'string');
  const tasks = await contextB.request.get(`/api/v1/projects/${project.id}/tasks`);
  assert.equal(tasks.status(), 404);
  const list = await (await contextB.request.get('/api/v1/projects')).json();
  assert.equal(list.total, 0);
});
