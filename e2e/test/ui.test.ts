/**
 * Issue 16: the web UI at /ui of the admin API, driven in a real browser (Debian's chromium through
 * playwright-core) against a real Stead and a real SDK service process. Each test starts from the invocation
 * list or a page the list links to, as a user looking for a stuck invocation would.
 *
 * `STEAD_E2E_UI_SCREENSHOTS=1` also saves screenshots of the main pages to docs/ui/ (for the README).
 *
 * It runs against the one-process server only: the UI talks to the admin API alone, which both topologies serve
 * alike, and the cluster run (STEAD_E2E_TOPOLOGY=cluster) skips it rather than run it twice.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Cleanup, REPO, ServiceProcess, type SteadUnderTest, startStead, TOPOLOGY, waitFor } from '@stead/testing';
import { type Browser, chromium, type Locator, type Page } from 'playwright-core';

const SERVICES = new URL('../services/ui.ts', import.meta.url).pathname;
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SCREENSHOTS = process.env.STEAD_E2E_UI_SCREENSHOTS ? join(REPO, 'docs/ui') : undefined;
const HOUR_MS = 3_600_000;

const describeHere = TOPOLOGY === 'single' ? describe : describe.skip;

type Row = Record<string, unknown>;

describeHere('the web UI at /ui in a real browser', () => {
  const cleanup = new Cleanup();
  let server: SteadUnderTest;
  let svc: ServiceProcess;
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];
  const ids: Record<string, string> = {};
  let startedAtMs: number;

  const sql = async (query: string): Promise<Row[]> => {
    const res = await fetch(`${server.adminUrl}/query`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ query }),
    });
    if (res.status !== 200) throw new Error(`query ${query}: ${res.status} ${await res.text()}`);
    return ((await res.json()) as { rows: Row[] }).rows;
  };
  const statusOf = async (id: string) => (await sql(`SELECT status FROM sys_invocation WHERE id = '${id}'`))[0]?.status;

  /** Sends to a handler through the ingress (`/send`): answers the new invocation's id. */
  const send = async (path: string, body: unknown): Promise<string> => {
    const res = await fetch(`${server.ingressUrl}/${path}/send`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (res.status !== 202) throw new Error(`send ${path}: ${res.status} ${await res.text()}`);
    return ((await res.json()) as { invocationId: string }).invocationId;
  };
  const call = async (path: string, body: unknown) => {
    const res = await fetch(`${server.ingressUrl}/${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const text = await res.text();
    if (res.status !== 200) throw new Error(`call ${path}: ${res.status} ${text}`);
    return text === '' ? undefined : JSON.parse(text);
  };

  const open = async (path: string) => {
    await page.goto(`${server.adminUrl}/ui${path}`);
  };
  /** The text of `loc` once it matches `re` (polling: the pages load and refresh asynchronously). */
  const textMatching = async (loc: Locator, re: RegExp, what: string, timeoutMs = 10_000): Promise<string> => {
    let last = '';
    try {
      return await waitFor(
        async () => {
          last = (await loc.first().textContent({ timeout: 1000 })) ?? '';
          return re.test(last) ? last : undefined;
        },
        { timeoutMs, what },
      );
    } catch (err) {
      throw new Error(`${(err as Error).message}; last text: ${JSON.stringify(last)}`);
    }
  };
  const shot = async (name: string) => {
    if (SCREENSHOTS === undefined) return;
    await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
  };
  /** The ids of the rows of the invocation list, top to bottom. */
  const listedIds = async () =>
    page
      .locator('[data-testid=invocations] tbody tr')
      .evaluateAll((rows) => rows.map((r) => r.getAttribute('data-id')));

  beforeAll(async () => {
    startedAtMs = Date.now();
    server = await startStead(cleanup);
    svc = await ServiceProcess.start(cleanup, SERVICES);
    await server.register(svc.uri);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'], headless: true });
    cleanup.add(() => browser.close());
    page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
    // A step that cannot happen fails in 10 s with what it waited for, before the test's own timeout.
    page.setDefaultTimeout(10_000);
    page.on('pageerror', (err) => pageErrors.push(err.message));
    if (SCREENSHOTS) mkdirSync(SCREENSHOTS, { recursive: true });

    // Cart/bob: 30 completed invocations (two pages of the list) and some state; first, so that the newest
    // invocations, on the first page of the list, are the others.
    for (let i = 0; i < 30; i++) await call('Cart/bob/add', `item-${i}`);
    // A chain whose last callee waits for an approval: Orders.place → Payments.charge → Bank.authorize.
    ids.place = await send('Orders/place', { id: 'o-1001', amount: 42 });
    // A step that fails on every attempt.
    ids.label = await send('Shipping/label', { id: 'o-1000', amount: 10 });
    // Cart/alice: checkout holds the key's lock for an hour; two adds queue behind it.
    ids.checkout = await send('Cart/alice/checkout', { holdMs: HOUR_MS });
    ids.add1 = await send('Cart/alice/add', 'apples');
    ids.add2 = await send('Cart/alice/add', 'pears');
    // Workflows: one waiting on its promise, one whose promise was resolved.
    ids.ada = await send('Signup/ada/run', 'ada@example.com');
    ids.grace = await send('Signup/grace/run', 'grace@example.com');
    await call('Signup/grace/confirm', 'link-42');
    // A durable sleep of an hour, to be cancelled.
    ids.remind = await send('Reminders/remind', { inMs: HOUR_MS, text: 'renew passport' });

    // The handlers got to where they wait: the approval, the sleeps, the failing step.
    const idOf = async (target: string) =>
      (await sql(`SELECT id FROM sys_invocation WHERE target = '${target}'`))[0]?.id as string | undefined;
    ids.charge = await waitFor(() => idOf('Payments/charge'), { what: 'Payments/charge to be called' });
    ids.authorize = await waitFor(() => idOf('Bank/authorize'), { what: 'Bank/authorize to be called' });
    const journaled = async (id: string, type: string) => {
      const q = `SELECT count(*) AS n FROM sys_journal WHERE id = '${id}' AND entry_type = 'Command: ${type}'`;
      return Number((await sql(q))[0]?.n) > 0;
    };
    await waitFor(() => journaled(ids.authorize, 'Run'), { what: 'Bank/authorize to ask for approval' });
    await waitFor(() => journaled(ids.remind, 'Sleep'), { what: 'the reminder to sleep' });
    await waitFor(() => journaled(ids.checkout, 'Sleep'), { what: 'the checkout to hold the lock' });
    await waitFor(
      async () =>
        Number((await sql(`SELECT retry_count FROM sys_invocation WHERE id = '${ids.label}'`))[0]?.retry_count) >= 1,
      { timeoutMs: 15_000, what: 'the label step to fail and be retried' },
    );
  }, 90_000);
  afterAll(() => cleanup.run(), 30_000);

  it('shows services, deployments and invocation counts by status on the overview', async () => {
    await open('/');
    const services = page.getByTestId('services');
    await textMatching(services, /Reminders/, 'the services table');
    const names = await services
      .locator('tbody tr td:first-child')
      .evaluateAll((cells) => cells.map((c) => c.textContent));
    expect(names.sort()).toEqual(['Bank', 'Cart', 'Orders', 'Payments', 'Reminders', 'Shipping', 'Signup']);
    expect(await page.getByTestId('deployments').locator('tbody').textContent()).toContain(svc.uri);
    // The counts of the statuses that stay put while the test runs: 30 adds for bob, grace's run and confirm; the
    // two adds queued for alice.
    await textMatching(page.locator('[data-count=completed]'), /^32$/, 'the completed count');
    await textMatching(page.locator('[data-count=pending]'), /^2$/, 'the pending (queued) count');
    const total = Number((await sql('SELECT count(*) AS n FROM sys_invocation'))[0].n);
    await textMatching(page.locator('.count.total .n'), new RegExp(`^${total}$`), 'the total');
    await shot('overview');
  });

  it('goes from the list to an invocation and cancels it after confirming', async () => {
    await open('/invocations');
    await page.locator(`[data-testid=invocations] a:text-is("${ids.remind}")`).click();
    await page.waitForURL(`**/ui/invocations/${ids.remind}`);
    // Waiting on its sleep: running while the SDK keeps the attempt open, suspended after.
    await textMatching(page.locator('.inv-head .badge'), /^(running|suspended)$/, 'the status');
    await textMatching(page.getByTestId('verdict'), /(awaiting|waiting for) #\d+ sleep/, 'what it waits for');

    await page.locator('[data-action=cancel]').click();
    const dialog = page.locator('dialog.confirm');
    await dialog.waitFor({ state: 'visible' });
    expect(await dialog.locator('h3').textContent()).toBe(`Cancel ${ids.remind}?`);
    // Backing out of the dialog cancels nothing.
    await dialog.getByText('Back').click();
    await dialog.waitFor({ state: 'hidden' });
    expect(await statusOf(ids.remind)).toMatch(/^(running|suspended)$/);

    await page.locator('[data-action=cancel]').click();
    await dialog.locator('[data-confirm]').click();
    await dialog.waitFor({ state: 'hidden' });
    await textMatching(page.getByRole('status'), /Cancel: done/, 'the notice');
    await textMatching(page.locator('.inv-head .badge'), /^completed · failed$/, 'the cancelled status', 15_000);
    const row = (await sql(`SELECT status, completion_result FROM sys_invocation WHERE id = '${ids.remind}'`))[0];
    expect(row).toEqual({ status: 'completed', completion_result: 'failure' });
    // Completed: cancel no longer applies, purge does.
    expect(await page.locator('[data-action=cancel]').isDisabled()).toBe(true);
    expect(await page.locator('[data-action=purge]').isEnabled()).toBe(true);

    // Restarted from a journal prefix: entry 3 is the sleep the cancellation interrupted (it never completed), so
    // the server refuses, and the dialog shows why and stays open.
    await page.locator('[data-action=restart-as-new]').click();
    await dialog.getByTestId('restart-from').fill('3');
    await dialog.locator('[data-confirm]').click();
    await textMatching(dialog.locator('.error'), /journal entry 3 .*has not been completed/, 'the refusal');
    // From entry 2 (the result of the `schedule` step), the new invocation starts with entries 0..2.
    await dialog.getByTestId('restart-from').fill('2');
    await dialog.getByTestId('restart-deployment').selectOption('keep');
    await dialog.locator('[data-confirm]').click();
    const fromPrefix = await textMatching(page.getByRole('status'), /Restarted as inv_\w+/, 'the restart from entry 2');
    const prefixed = /Restarted as (inv_\w+)/.exec(fromPrefix)?.[1] ?? '';
    const copied = await sql(
      `SELECT index, entry_type FROM sys_journal WHERE id = '${prefixed}' AND index <= 2 ORDER BY index`,
    );
    expect(copied.map((r) => r.entry_type)).toEqual(['Command: Input', 'Command: Run', 'Notification: Run']);
    await page.getByText('dismiss').click();

    // Restarted as new: another invocation of the handler with the same input, linked from the notice.
    await page.locator('[data-action=restart-as-new]').click();
    await dialog.locator('[data-confirm]').click();
    const notice = await textMatching(page.getByRole('status'), /Restarted as inv_\w+/, 'the new invocation');
    const restarted = /Restarted as (inv_\w+)/.exec(notice)?.[1] ?? '';
    const copy = await sql(`SELECT target, restarted_from FROM sys_invocation WHERE id = '${restarted}'`);
    expect(copy).toEqual([{ target: 'Reminders/remind', restarted_from: ids.remind }]);
  });

  it('filters the list by service, status, key and creation time, and pages through it', async () => {
    await open('/invocations');
    await textMatching(page.getByTestId('page-info'), /^1–25 of \d+$/, 'the first page of all invocations');
    await shot('invocations');
    const filters = page.getByTestId('filters');
    await filters.locator('select[name=service] option', { hasText: 'Cart' }).waitFor({ state: 'attached' });
    await filters.locator('select[name=service]').selectOption('Cart');
    await filters.getByLabel('pending', { exact: true }).check();
    await filters.getByText('Apply').click();
    await page.waitForURL(/service=Cart&status=pending/);
    await textMatching(page.getByTestId('page-info'), /^1–2 of 2$/, 'two queued adds');
    expect(await listedIds()).toEqual([ids.add2, ids.add1]);

    // Key bob, any status: 30 invocations on two pages of 25, newest first.
    await filters.getByLabel('pending', { exact: true }).uncheck();
    await filters.locator('input[name=key]').fill('bob');
    await filters.getByText('Apply').click();
    await textMatching(page.getByTestId('page-info'), /^1–25 of 30$/, 'the first page');
    const first = await listedIds();
    await page.getByText('Older →').click();
    await textMatching(page.getByTestId('page-info'), /^26–30 of 30$/, 'the second page');
    const second = await listedIds();
    expect(new Set([...first, ...second]).size).toBe(30);
    const bob = await sql("SELECT id FROM sys_invocation WHERE target_service_key = 'bob' ORDER BY created_at DESC");
    expect([...first, ...second].sort()).toEqual(bob.map((r) => r.id).sort());

    // Created before the test started: nothing.
    const d = new Date(startedAtMs - 60_000);
    const local = new Date(d.getTime() - d.getTimezoneOffset() * 60_000).toISOString().slice(0, 19);
    await filters.locator('input[name=to]').fill(local);
    await filters.getByText('Apply').click();
    await page.waitForURL(/to=/);
    await textMatching(page.getByTestId('page-info'), /^0–0 of 0$/, 'an empty list');
  });

  it('shows the attempts, the failing step, its error and the next retry of a failing invocation', async () => {
    await open('/invocations?service=Shipping');
    await page.locator(`[data-testid=invocations] a:text-is("${ids.label}")`).click();
    const retries = page.locator('[data-panel=retries]');
    await textMatching(retries.getByTestId('last-failure'), /label printer offline \(order o-1000\)/, 'the error');
    const count = Number(await textMatching(retries.getByTestId('retry-count'), /^[1-9]\d*$/, 'a retry count'));
    expect(Number(await retries.getByTestId('attempts').textContent())).toBe(count + 1);
    await textMatching(retries.getByTestId('failing-entry'), /print-label/, 'the failing step');
    // It retries with backoff: a next retry time appears while it backs off.
    await textMatching(retries.getByTestId('next-retry'), /\d{4}-\d\d-\d\d .*\((in|.* ago)/, 'the next retry', 20_000);
    const failing = page.locator('[data-testid=timeline] li.failing');
    expect(await failing.count()).toBe(1);
    expect(await failing.textContent()).toContain('print-label');
    expect(await failing.textContent()).toContain('label printer offline');
    await shot('invocation-retries');
  });

  it('shows which invocation holds the lock of a key and the queue in front of a waiting one', async () => {
    await open(`/invocations?service=Cart&key=alice`);
    await page.locator(`[data-testid=invocations] a:text-is("${ids.add2}")`).click();
    const blocking = page.locator('[data-panel=blocking]');
    await textMatching(
      blocking.getByTestId('verdict'),
      new RegExp(`held by ${ids.checkout} \\(1 ahead of it in the queue\\)`),
      'the verdict',
    );
    expect(await blocking.getByTestId('lock-holder').textContent()).toContain(ids.checkout);
    const queue = await blocking
      .locator('[data-testid=inbox] li')
      .evaluateAll((items) => items.map((li) => li.querySelector('a, strong')?.textContent));
    expect(queue).toEqual([ids.add1, ids.add2]);
    await shot('invocation-blocked');

    // One click to the holder: it holds the lock itself and waits on its sleep.
    await blocking.getByTestId('lock-holder').locator('a').click();
    await page.waitForURL(`**/ui/invocations/${ids.checkout}`);
    await textMatching(page.getByTestId('lock-holder'), /\(this invocation\)/, 'the holder itself');

    // The state page shows the same per key.
    await open('/state?service=Cart');
    const alice = page.locator('[data-key=alice]');
    await textMatching(alice, new RegExp(`Locked by ${ids.checkout}.*2 queued`), 'alice locked with 2 queued');
    await textMatching(page.locator('[data-key=bob]'), /items.*item-0/, "bob's items");
    await shot('state');
  });

  it('shows the call tree with callers and callees and where the chain waits', async () => {
    await open('/invocations?service=Payments');
    await page.locator(`[data-testid=invocations] a:text-is("${ids.charge}")`).click();
    const tree = page.getByTestId('calltree');
    const leaf = tree.locator(
      `li[data-node="${ids.place}"] > ul > li[data-node="${ids.charge}"] > ul > li[data-node="${ids.authorize}"]`,
    );
    await leaf.waitFor({ state: 'attached' });
    expect(await tree.locator('.node.current').textContent()).toContain('Payments/charge');
    // Only the bottom of the chain waits on something other than a callee.
    const stuck = await tree.locator('.node.stuck').evaluateAll((nodes) => nodes.map((n) => n.textContent));
    expect(stuck).toHaveLength(1);
    expect(stuck[0]).toContain('Bank/authorize');
    expect(stuck[0]).toMatch(/running|suspended/);
    await shot('call-tree');
    // The callee's link leads to it, and its caller is named.
    await leaf.locator(`a:text-is("${ids.authorize}")`).click();
    await page.waitForURL(`**/ui/invocations/${ids.authorize}`);
    await textMatching(page.locator('[data-panel=summary]'), new RegExp(`Invoked by${ids.charge}`), 'the caller');
  });

  it('lists workflow promises', async () => {
    await open('/promises');
    const grace = page.locator('[data-testid=promises] tr', { hasText: 'grace' });
    await textMatching(grace, /email-confirmed.*completed.*link-42/, "grace's resolved promise");
  });

  it('runs SQL in the console and shows the engine error of a bad query', async () => {
    await open('/sql');
    const q =
      "SELECT target_service_key AS k, count(*) AS n FROM sys_invocation WHERE target_service_name = 'Cart' GROUP BY 1 ORDER BY 1";
    await page.locator('textarea[name=sql]').fill(q);
    await page.getByTestId('run-sql').click();
    await textMatching(page.getByTestId('sql-summary'), /^2 row\(s\)/, 'two rows');
    const cells = await page
      .locator('table.grid tbody tr')
      .evaluateAll((rows) => rows.map((r) => [...r.querySelectorAll('td')].map((td) => td.textContent)));
    expect(cells).toEqual([
      ['alice', '3'],
      ['bob', '30'],
    ]);
    await shot('sql');

    await page.locator('textarea[name=sql]').fill('SELECT no_such_column FROM sys_invocation');
    await page.getByTestId('run-sql').click();
    await textMatching(page.getByRole('alert'), /Query failed: .*no_such_column/, 'the engine error');
  });

  it('lists cron schedules, pauses, resumes and deletes one', async () => {
    const res = await fetch(`${server.adminUrl}/schedules`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      // Once a year: it never fires while the other tests count invocations.
      body: JSON.stringify({
        id: 'new-year',
        cron: '0 0 1 1 *',
        timeZone: 'Europe/Berlin',
        target: { service: 'Shipping', handler: 'label' },
      }),
    });
    expect(res.status).toBe(201);
    await open('/schedules');
    const row = page.locator('[data-schedule=new-year]');
    await textMatching(
      row,
      /new-year0 0 1 1 \* Europe\/Berlin.*Shipping\/label.*skip.*0 \/ 0 \/ 0.*active/,
      'the schedule row',
    );
    await row.locator('button[data-action=pause]').click();
    await textMatching(row, /paused/, 'the paused schedule');
    await row.locator('button[data-action=resume]').click();
    await textMatching(row, /active/, 'the resumed schedule');
    await shot('schedules');
    await row.locator('button[data-action=delete]').click();
    await page.locator('dialog.confirm button[data-confirm]').click();
    await waitFor(async () => (await page.locator('[data-schedule=new-year]').count()) === 0, {
      what: 'the row to go',
    });
    expect((await fetch(`${server.adminUrl}/schedules/new-year`)).status).toBe(404);
  });

  it('ran without a script error in the page', () => {
    expect(pageErrors).toEqual([]);
  });
});
