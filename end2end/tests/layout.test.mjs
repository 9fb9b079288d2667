// Responsive board: the four columns stack on a phone and sit side by side
// on a desktop. Saves screenshots of both.

import assert from 'node:assert/strict';

import {
  STATUSES,
  apiCreateProject,
  apiCreateTask,
  apiSignUp,
  column,
  e2e,
  newUser,
  shot,
  unique,
  waitForHydration,
} from './helpers.mjs';

async function columnBoxes(page) {
  const boxes = [];
  for (const status of STATUSES) {
    const box = await column(page, status).boundingBox();
    assert.ok(box, `column ${status} should be visible`);
    boxes.push(box);
  }
  return boxes;
}

e2e('the board stacks its columns on a phone and spreads them on a desktop', async ({ open }) => {
  const phone = await open({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2 });
  await apiSignUp(phone.request, newUser('ada'));
  const project = await apiCreateProject(phone.request, unique('Phone Gig'));
  const tasks = [
    { title: 'Write the chart', description: 'Lead sheet in B flat', status: 'todo' },
    { title: 'Copy the parts', status: 'todo' },
    { title: 'Rehearse the horns', status: 'in_progress' },
    { title: 'Check the mix', description: 'Bass too loud in the bridge', status: 'review' },
    { title: 'Book the studio', status: 'done' },
  ];
  for (const task of tasks) await apiCreateTask(phone.request, project.id, task);

  // Phone: one column under the other, same x, growing y, no sideways scroll.
  const page = await phone.newPage();
  await page.goto(`/projects/${project.id}`);
  await waitForHydration(page);
  assert.equal(await page.locator('li.task-card').count(), tasks.length);
  const stacked = await columnBoxes(page);
  for (let i = 1; i < stacked.length; i++) {
    assert.ok(Math.abs(stacked[i].x - stacked[0].x) < 1, `column ${STATUSES[i]} x ${stacked[i].x} ≠ ${stacked[0].x}`);
    assert.ok(Math.abs(stacked[i].width - stacked[0].width) < 1, `column ${STATUSES[i]} width differs`);
    assert.ok(
      stacked[i].y >= stacked[i - 1].y + stacked[i - 1].height,
      `column ${STATUSES[i]} should start below ${STATUSES[i - 1]}`,
    );
  }
  assert.ok(stacked[0].width > 300, `columns should span the phone (${stacked[0].width}px)`);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `page scrolls sideways by ${overflow}px on a phone`);
  await page.screenshot({ path: shot('board-phone'), fullPage: true });

  // Desktop (same session): four columns in one row.
  const desktop = await open({
    viewport: { width: 1280, height: 800 },
    storageState: await phone.storageState(),
  });
  const wide = await desktop.newPage();
  await wide.goto(`/projects/${project.id}`);
  await waitForHydration(wide);
  const row = await columnBoxes(wide);
  for (let i = 1; i < row.length; i++) {
    assert.ok(Math.abs(row[i].y - row[0].y) < 1, `column ${STATUSES[i]} should share the first row`);
    assert.ok(row[i].x >= row[i - 1].x + row[i - 1].width, `column ${STATUSES[i]} should sit right of ${STATUSES[i - 1]}`);
  }
  await wide.screenshot({ path: shot('board-desktop'), fullPage: true });
});
