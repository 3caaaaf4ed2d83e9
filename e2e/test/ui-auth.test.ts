/**
 * Issue 17: the web UI against an admin API with bearer tokens, in a real browser (Debian's chromium through
 * playwright-core): /ui itself loads without a token, the views show the 401 message, and once the token is
 * typed into the header's box (kept in localStorage) every view loads.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hashToken } from '@stead/core';
import { Cleanup, ServiceProcess, type SteadUnderTest, startStead, TOPOLOGY, waitFor } from '@stead/testing';
import { type Browser, chromium, type Page } from 'playwright-core';

const HEADERS_SERVICE = new URL('../services/headers.ts', import.meta.url).pathname;
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const TOKEN = 'ui-reader-token';

// The UI talks to the admin API alone, which both topologies serve alike.
const describeHere = TOPOLOGY === 'single' ? describe : describe.skip;

describeHere('the web UI with authentication on', () => {
  const cleanup = new Cleanup();
  let server: SteadUnderTest;
  let browser: Browser;
  let page: Page;
  const seen: (string | undefined)[] = [];

  beforeAll(async () => {
    const file = join(cleanup.tempDir('stead-tokens-'), 'tokens.json');
    writeFileSync(
      file,
      JSON.stringify({
        tokens: [
          { name: 'ui', hash: hashToken(TOKEN), scopes: ['admin:read'] },
          { name: 'setup', hash: hashToken('setup-token'), scopes: ['admin:write'] },
        ],
      }),
    );
    server = await startStead(cleanup, ['--auth-tokens-file', file]);
    const svc = await ServiceProcess.start(cleanup, HEADERS_SERVICE);
    const reg = await fetch(`${server.adminUrl}/deployments`, {
      method: 'POST',
      headers: { authorization: 'Bearer setup-token', 'content-type': 'application/json' },
      body: JSON.stringify({ uri: svc.uri }),
    });
    expect(reg.status).toBe(201);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'], headless: true });
    cleanup.add(() => browser.close());
    page = await browser.newPage();
    page.setDefaultTimeout(10_000);
    page.on('request', (r) => {
      if (r.url().endsWith('/services')) seen.push(r.headers().authorization);
    });
  });
  afterAll(() => cleanup.run());

  const bodyText = (re: RegExp, what: string) =>
    waitFor(
      async () => {
        const text = (await page.locator('body').textContent()) ?? '';
        return re.test(text) ? text : undefined;
      },
      { what },
    );

  it('loads /ui without a token and shows the 401 message; with the token typed in, the overview loads', async () => {
    await page.goto(`${server.adminUrl}/ui/`);
    await bodyText(/authentication required/, 'the 401 message in the overview');
    expect(await page.locator('body').textContent()).not.toMatch(/Headers/);
    await page.fill('input[name=token]', TOKEN);
    await page.click('header form.token button[type=submit]');
    await bodyText(/Headers/, 'the service in the overview');
    await bodyText(/token set/, 'the header to show a stored token');
    expect(seen.at(-1)).toBe(`Bearer ${TOKEN}`);
    expect(seen[0]).toBeUndefined();

    await page.click('header .token button');
    await bodyText(/authentication required/, 'the 401 message again once the token is forgotten');
  });
});
