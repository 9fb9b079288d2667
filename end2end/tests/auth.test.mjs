// Sign-up validation and bad sign-in credentials, through the hydrated forms.

import assert from 'node:assert/strict';

import { BASE, e2e, eventually, newApiClient, newUser, rejected, waitForHydration } from './helpers.mjs';

e2e('sign-up with a short password shows the field error and creates nothing', async ({ open }) => {
  const context = await open({ allowErrors: [rejected(422, '/api/sign_up')] });
  const page = await context.newPage();
  const user = newUser('ada');

  await page.goto('/signup');
  await waitForHydration(page);
  await page.locator('#field-name').fill(user.name);
  await page.locator('#field-email').fill(user.email);
  await page.locator('#field-password').fill('short');
  await page.getByRole('button', { name: 'Sign up' }).click();

  const error = page.locator('[data-field-error="password"]');
  await error.waitFor();
  assert.match(await error.textContent(), /at least 8 characters/);
  assert.equal(await page.locator('#field-password').getAttribute('aria-invalid'), 'true');
  // Only the password is flagged.
  assert.equal(await page.locator('[data-field-error="email"], [data-field-error="name"]').count(), 0);
  assert.equal(new URL(page.url()).pathname, '/signup');

  // No session was started...
  const me = await context.request.get('/api/v1/auth/me');
  assert.equal(me.status(), 401);
  // ...and no account exists: the valid password cannot sign in with it.
  const api = await newApiClient();
  try {
    const login = await api.post('/api/v1/auth/login', {
      data: { email: user.email, password: user.password },
    });
    assert.equal(login.status(), 401);
  } finally {
    await api.dispose();
  }

  // Correcting the password succeeds with the same email (it was not taken).
  await page.locator('#field-password').fill(user.password);
  await page.getByRole('button', { name: 'Sign up' }).click();
  await page.waitForURL(`${BASE}/`);
  await eventually(async () =>
    assert.equal(await page.getByTestId('user-name').textContent(), user.name),
  );
});

e2e('sign-in with a wrong password shows an error under the password field', async ({ open }) => {
  const context = await open({ allowErrors: [rejected(422, '/api/sign_in')] });
  const user = newUser('grace');
  // The account exists (made through the API with its own cookie jar).
  const api = await newApiClient();
  try {
    const r = await api.post('/api/v1/auth/signup', { data: user });
    assert.equal(r.status(), 201);
  } finally {
    await api.dispose();
  }

  const page = await context.newPage();
  await page.goto('/login');
  await waitForHydration(page);
  await page.locator('#field-email').fill(user.email);
  await page.locator('#field-password').fill('not the password');
  await page.getByRole('button', { name: 'Sign in' }).click();

  const error = page.locator('[data-field-error="password"]');
  await error.waitFor();
  assert.match(await error.textContent(), /invalid email or password/);
  assert.equal(new URL(page.url()).pathname, '/login');
  assert.equal((await context.request.get('/api/v1/auth/me')).status(), 401);

  // The right password gets in.
  await page.locator('#field-password').fill(user.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(`${BASE}/`);
  await eventually(async () =>
    assert.equal(await page.getByTestId('user-name').textContent(), user.name),
  );
});
