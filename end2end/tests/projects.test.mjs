// Renaming a project and changing its status from the project list.

import assert from 'node:assert/strict';

import {
  apiCreateProject,
  apiGetProject,
  apiSignUp,
  e2e,
  eventually,
  newUser,
  projectCard,
  unique,
  waitForHydration,
} from './helpers.mjs';

e2e('rename a project, describe it and pause it', async ({ open }) => {
  const context = await open();
  // context.request shares the browser context's cookies: the page is signed in too.
  await apiSignUp(context.request, newUser('ada'));
  const oldName = unique('Working Title');
  const project = await apiCreateProject(context.request, oldName);
  const other = await apiCreateProject(context.request, unique('Side Project'));

  const page = await context.newPage();
  await page.goto('/');
  await waitForHydration(page);
  const card = page.locator(`[data-testid="project-card"][data-project-id="${project.id}"]`);
  assert.equal(await card.locator('.badge').textContent(), 'active');

  await card.getByText('Edit name, description or status').click();
  const newName = unique('Kind of Blue');
  await card.locator('input[name="name"]').fill(newName);
  await card.locator('textarea[name="description"]').fill('Modal jazz, recorded in two sessions');
  await card.locator('select[name="status"]').selectOption('paused');
  await card.getByRole('button', { name: 'Save' }).click();

  const renamed = projectCard(page, newName);
  await renamed.waitFor();
  await eventually(async () => assert.equal(await renamed.locator('.badge').textContent(), 'paused'));
  assert.match(await renamed.getByTestId('project-description').textContent(), /Modal jazz/);
  assert.equal(await projectCard(page, oldName).count(), 0);
  // The other project is untouched.
  const otherCard = page.locator(`[data-testid="project-card"][data-project-id="${other.id}"]`);
  assert.equal(await otherCard.locator('.badge').textContent(), 'active');

  // Saved on the server: survives a reload and shows in the API.
  await page.reload();
  assert.equal(await projectCard(page, newName).locator('.badge').textContent(), 'paused');
  const saved = await apiGetProject(context.request, project.id);
  assert.equal(saved.name, newName);
  assert.equal(saved.status, 'paused');
  assert.equal(saved.description, 'Modal jazz, recorded in two sessions');
});
