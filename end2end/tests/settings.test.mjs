// AI settings: choose providers per role, tone and the review threshold;
// the page says which provider each role actually uses and why; bad input
// is refused with a message; the choice persists. API keys: created in the
// page, shown once, usable as a bearer, revoked.

import assert from 'node:assert/strict';

import {
  BASE,
  rejected,
  apiSignUp,
  e2e,
  eventually,
  newApiClient,
  newUser,
  waitForHydration,
} from './helpers.mjs';

e2e('AI settings: bindings explained, saved, validated', async ({ open }) => {
  const context = await open({ allowErrors: [rejected(422, '/api/save_ai_settings')] });
  await apiSignUp(context.request, newUser('conductor'));
  const page = await context.newPage();
  await page.goto(`${BASE}/`);
  await waitForHydration(page);
  await page.getByTestId('settings-link').click();
  await page.waitForURL(`${BASE}/settings`);
  await page.getByRole('heading', { name: 'AI settings' }).waitFor();

  // This test server has one provider, Claude (the loopback Messages API
  // of fake-anthropic.mjs): every role uses it, and the page says why.
  const bindings = page.getByTestId('binding');
  await bindings.first().waitFor();
  assert.equal(await bindings.count(), 4);
  assert.match(await bindings.first().textContent(), /Claude \(Anthropic\) — the best configured provider for the coder role/);
  // The provider health panel lists it, circuit closed, with its locked models.
  await eventually(async () => {
    const health = await page.getByTestId('provider-health').textContent();
    assert.match(health, /Claude \(Anthropic\)/);
    assert.match(health, /coder: claude-sonnet-4-5-20250929/);
  });
  assert.equal(await page.locator('[data-provider="anthropic"] [data-testid="circuit"]').textContent(), 'closed');

  // A new user's month: nothing used yet, the free tier's limits shown.
  await eventually(async () =>
    assert.match(await page.getByTestId('budget').textContent(), /0 of 100,000 tokens used this month/),
  );

  await page.locator('#role-coder').selectOption('gpt');
  await page.locator('#role-designer').selectOption('gemini');
  await page.locator('#tone').selectOption('casual');
  await page.locator('#confidence_threshold').fill('0.9');
  await page.getByRole('button', { name: 'Save settings' }).click();
  await page.getByTestId('saved').waitFor();

  // Out of range: refused, shown next to the field, nothing saved.
  await page.locator('#confidence_threshold').fill('1.5');
  // The browser's own min/max check would block the form; bypass it to reach the server's.
  await page.evaluate(() => document.querySelector('#confidence_threshold').closest('form').setAttribute('novalidate', ''));
  await page.getByRole('button', { name: 'Save settings' }).click();
  await page.locator('[data-field-error="confidence_threshold"]').waitFor();

  await page.reload();
  await waitForHydration(page);
  await page.locator('#role-coder').waitFor();
  assert.equal(await page.locator('#role-coder').inputValue(), 'gpt');
  assert.equal(await page.locator('#role-designer').inputValue(), 'gemini');
  assert.equal(await page.locator('#role-reviewer').inputValue(), '');
  assert.equal(await page.locator('#tone').inputValue(), 'casual');
  assert.equal(await page.locator('#confidence_threshold').inputValue(), '0.9');
  // The unconfigured choice is explained on the page, with the fallback.
  assert.match(
    await page.locator('[data-role="coder"]').textContent(),
    /you chose GPT \(OpenAI\), which is not configured \(set OPENAI_API_KEY\); using Claude \(Anthropic\) instead/,
  );

  const me = await (await context.request.get(`${BASE}/api/v1/auth/me`)).json();
  await eventually(async () => assert.equal(me.ai_preferences.default_coder, 'gpt'));
  assert.equal(me.ai_preferences.confidence_threshold, 0.9);
});

e2e('API keys: created, shown once, used as a bearer, revoked', async ({ open }) => {
  const context = await open();
  await apiSignUp(context.request, newUser('script'));
  const page = await context.newPage();
  await page.goto(`${BASE}/settings`);
  await waitForHydration(page);
  await page.getByTestId('api-keys').waitFor();

  await page.getByTestId('api-key-name').fill('CI deploy');
  await page.getByTestId('api-key-create').click();
  const secret = page.getByTestId('api-key-secret');
  await secret.waitFor();
  const key = await secret.inputValue();
  assert.match(key, /^exk_[0-9A-Za-z]{8}_[0-9A-Za-z]{40}$/);
  assert.match(await page.getByTestId('api-keys').textContent(), /copy it now, it will not be shown again/);
  const row = page.getByTestId('api-key-row').filter({ hasText: 'CI deploy' });
  await row.waitFor();
  assert.ok((await row.textContent()).includes(`${key.slice(0, 12)}…`));
  assert.match(await row.textContent(), /never used/);

  // A client with nothing but the key acts as the user.
  const api = await newApiClient();
  try {
    const bearer = { authorization: `Bearer ${key}` };
    assert.equal((await api.get('/api/v1/projects', { headers: bearer })).status(), 200);

    // Shown once: after a reload only the prefix is left, and the use is recorded.
    await page.reload();
    await waitForHydration(page);
    await row.waitFor();
    assert.equal(await page.getByTestId('api-key-secret').count(), 0);
    assert.ok(!(await page.content()).includes(key.slice(13)));
    assert.match(await row.textContent(), /last used/);

    await row.getByTestId('api-key-revoke').click();
    await eventually(async () => assert.equal(await row.getAttribute('data-revoked'), 'true'));
    assert.match(await row.textContent(), /revoked/);
    assert.equal(await row.getByTestId('api-key-revoke').count(), 0);

    const refused = await api.get('/api/v1/projects', { headers: bearer });
    assert.equal(refused.status(), 401);
    assert.equal((await refused.json()).error.code, 'unauthenticated');
  } finally {
    await api.dispose();
  }
});
