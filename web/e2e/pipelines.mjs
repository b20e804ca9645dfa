// Issue 17's journeys: arrays and dependencies in the browser, against real
// `flotilla serve` processes (process engine: children are real `sh -c`
// processes that read FLOTILLA_ARRAY_INDEX).
//
//   1. launch an array of 20 from the form, some children fail; the grid fills
//      and colours; a failed cell opens its child; back; all children in the
//      history; Retry failed → the new array, whose children now succeed.
//   2. a run launched "after" another is WAITING with a link to it, then runs.
//   3. those pages fit a 390×844 phone.
//   4. a 10,000-child array (on a second server with max_running 1, so nearly
//      all stay QUEUED): the time until all 10,000 cells are drawn, the longest
//      main-thread task meanwhile, a click through, and Stop of the whole array.
//
// With FLOTILLA_BENCH_OUT set it merges ui_array_grid_10k_render_ms,
// ui_array_grid_10k_longest_task_ms and ui_array_grid_10k_click_ms into that file.
//
//   npm run e2e:pipelines   (after `npm run build`; `make web-e2e` runs it too)
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CHROMIUM, launchBrowser, recordBench, shots, startServer, stopServer, webDir, journeys } from './harness.mjs';

const DESKTOP = { width: 1400, height: 900 };
const PHONE = { width: 390, height: 844 };
const sfx = Date.now().toString(36).slice(-5);
const D = { flaky: `flaky-${sfx}`, slow: `slow-${sfx}`, next: `next-${sfx}`, big: `big-${sfx}` };

let server;
let big; // the second server, for the 10,000-child array
let context;
let profileDir;
const dirs = [];
let page;
const pageErrors = [];
const bench = {};
const seen = {}; // ids found along the way

async function api(srv, path, init = {}) {
  const res = await fetch(srv.url + path, {
    ...init,
    headers: init.body ? { 'Content-Type': 'application/json' } : undefined,
    body: init.body ? JSON.stringify(init.body) : undefined,
  });
  return { status: res.status, body: await res.json().catch(() => null) };
}

async function must(srv, status, path, init) {
  const r = await api(srv, path, init);
  assert.equal(r.status, status, `${init?.method ?? 'GET'} ${path}: ${JSON.stringify(r.body)}`);
  return r.body;
}

const statusLine = () => page.getByTestId('status-line').textContent();
const waitStatusLine = (re, timeout = 60_000) =>
  page.waitForFunction((src) => new RegExp(src).test(document.querySelector('[data-testid="status-line"]')?.textContent ?? ''), re.source, { timeout, polling: 200 });
const overflow = () => page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
const cssColour = (expr) =>
  page.evaluate((e) => {
    const probe = document.createElement('span');
    probe.style.color = e;
    document.body.append(probe);
    const c = getComputedStyle(probe).color;
    probe.remove();
    return c;
  }, expr);

async function shot(name) {
  await page.screenshot({ path: join(shots, `pipelines-${name}.png`), fullPage: true });
}

const journey = journeys('pipelines-', () => page);

before(async () => {
  assert.ok(existsSync(join(webDir, 'dist', 'index.html')), 'web/dist is missing: run `npm run build` (or `make web-build`) first');
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install -y chromium`);
  mkdirSync(shots, { recursive: true });
  const dataDir = mkdtempSync(join(tmpdir(), 'flotilla-e2e-pipelines-'));
  const marks = mkdtempSync(join(tmpdir(), 'flotilla-e2e-marks-'));
  dirs.push(dataDir, marks);
  server = await startServer(dataDir);
  ({ context, profileDir } = await launchBrowser(DESKTOP));
  dirs.push(profileDir);
  page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(15_000);
  page.on('pageerror', (e) => pageErrors.push(e.message));
  const def = (alias, command, env) => must(server, 201, '/v1/definitions', { method: 'POST', body: { alias, image: 'alpine:3', command, cpu: 256, memory: 512, env } });
  // Children 3, 7 and 12 fail the first time (a mark file remembers), so a retry succeeds.
  await def(
    D.flaky,
    'echo "child $FLOTILLA_ARRAY_INDEX"; case "$FLOTILLA_ARRAY_INDEX" in 3|7|12) m="$MARKS/$FLOTILLA_ARRAY_INDEX"; if [ ! -e "$m" ]; then touch "$m"; echo "failing once" >&2; exit 2; fi;; esac',
    { MARKS: marks },
  );
  await def(D.slow, 'sleep 4; echo slow done');
  await def(D.next, 'echo next ran');
});

after(async () => {
  recordBench(bench);
  await context?.close().catch(() => {});
  await stopServer(server);
  await stopServer(big);
  if (process.exitCode && server) console.error('--- flotilla serve output ---\n' + server.stderr.slice(-4000));
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('issue 17: arrays and dependencies in the UI', { concurrency: false }, () => {
  journey('1. an array of 20 with failures: the grid fills and colours, a failed child, all children, retry failed', { timeout: 180_000 }, async () => {
    await page.setViewportSize(DESKTOP);
    await page.goto(`${server.url}/launch/${D.flaky}`);
    await page.getByRole('radio', { name: 'An array of N children' }).check();
    await page.getByLabel('Children', { exact: true }).fill('20');
    await page.getByRole('button', { name: 'Launch', exact: true }).click();
    await page.waitForURL(/\/runs\/run_/);
    const parent = page.url().split('/runs/')[1];
    seen.parent = parent;
    const grid = page.getByTestId('child-grid');
    // The grid fills as children are made and read.
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="child-grid"] a.cell').length === 20, null, { timeout: 30_000 });
    await shot('array-running');
    await waitStatusLine(/^FAILED: /, 120_000);
    assert.match(await statusLine(), /3, 7, 12/, 'the status line names the failed indexes');
    // Colours: 17 green, 3 red (once the grid has read them after the end).
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="child-grid"] a.s-failed').length === 3, null, { timeout: 20_000 });
    assert.equal(await grid.locator('a.s-succeeded').count(), 17);
    const failedCell = grid.locator('a[data-index="7"]');
    assert.equal(await failedCell.getAttribute('title'), '7: FAILED');
    assert.equal(await failedCell.evaluate((el) => getComputedStyle(el).backgroundColor), await cssColour('var(--danger)'));
    assert.equal(await grid.locator('a[data-index="8"]').evaluate((el) => getComputedStyle(el).backgroundColor), await cssColour('var(--ok)'));
    assert.equal(await page.getByTestId('count-SUCCEEDED').textContent(), '17');
    assert.equal(await page.getByTestId('count-FAILED').textContent(), '3');
    assert.equal(await page.getByRole('progressbar', { name: 'Children ended' }).getAttribute('aria-valuenow'), '20');
    assert.equal(await page.getByTestId('failed-indexes').textContent(), 'Failed or stopped: 3, 7, 12');
    await shot('array-failed');

    // A failed cell opens its child: its index, its output, a link back.
    await failedCell.click();
    await page.waitForURL((u) => !u.pathname.endsWith(parent));
    const childId = page.url().split('/runs/')[1];
    assert.match(await page.getByTestId('array-index').textContent(), /^7 /);
    await page.locator('.log-line', { hasText: 'failing once' }).waitFor({ timeout: 20_000 });
    assert.equal(await page.getByRole('link', { name: `array ${parent}` }).getAttribute('href'), `/runs/${parent}`);
    assert.match(await statusLine(), /^FAILED: exit code 2/);
    await shot('array-child');
    await page.goBack();
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="child-grid"] a.cell').length === 20);

    // All children: the history filtered by parent.
    await page.getByRole('link', { name: 'All children' }).click();
    await page.waitForURL((u) => u.searchParams.get('parent') === parent);
    const history = page.getByRole('table', { name: /finished runs/i });
    await history.locator(`tr[data-run-id="${childId}"]`).waitFor();
    assert.equal(await history.locator('tbody tr').count(), 20);
    assert.equal(await page.getByLabel('Parent run').inputValue(), parent);
    assert.equal(await history.locator('tbody tr').first().getByTestId('array-index').textContent(), ' [19]', 'highest index first');
    await page.goBack();

    // Retry failed: a new array of the three, which now succeed.
    await page.getByRole('button', { name: 'Retry failed (3)' }).click();
    await page.waitForURL((u) => /\/runs\/run_/.test(u.pathname) && !u.pathname.endsWith(parent));
    const retry = page.url().split('/runs/')[1];
    seen.retry = retry;
    await page.getByTestId('array-progress').getByText(`runs again the failed children of ${parent}`).waitFor();
    await waitStatusLine(/^SUCCEEDED: /, 60_000);
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="child-grid"] a.s-succeeded').length === 3, null, { timeout: 20_000 });
    const titles = await grid.locator('a.cell').evaluateAll((els) => els.map((e) => e.getAttribute('title')));
    assert.deepEqual(titles, ['3: SUCCEEDED', '7: SUCCEEDED', '12: SUCCEEDED']);
    await shot('array-retried');
    // Asking again gives the same new array (the API answers 200).
    const again = await api(server, `/v1/runs/${parent}/retry-failed`, { method: 'POST', body: {} });
    assert.equal(again.status, 200);
    assert.equal(again.body.run_id, retry);
  });

  journey('2. a run after another is WAITING, links to what it waits for, then runs', { timeout: 90_000 }, async () => {
    await page.setViewportSize(DESKTOP);
    const slow = (await must(server, 202, '/v1/runs', { method: 'POST', body: { definition: D.slow } })).run_id;
    await page.goto(`${server.url}/launch/${D.next}`);
    await page.getByLabel('Run after').fill(slow);
    await page.getByRole('button', { name: 'Launch', exact: true }).click();
    await page.waitForURL((u) => /\/runs\/run_/.test(u.pathname));
    const waiting = page.url().split('/runs/')[1];
    seen.waiting = waiting;
    await waitStatusLine(/^WAITING: /, 10_000);
    const waits = page.getByRole('region', { name: 'Waits for' });
    const link = waits.getByRole('link', { name: slow });
    assert.equal(await link.getAttribute('href'), `/runs/${slow}`);
    await waits.locator('.status').filter({ hasText: /QUEUED|PENDING|RUNNING/ }).waitFor();
    assert.equal(await page.locator('h1 .status').textContent(), 'WAITING');
    assert.equal(await page.locator('h1 .status').evaluate((el) => getComputedStyle(el).color), await cssColour('var(--wait)'));
    await shot('waiting');
    // In the runs list it is active, WAITING, after the queue.
    await page.goto(`${server.url}/`);
    const row = page.getByRole('table', { name: /active runs/i }).locator(`tr[data-run-id="${waiting}"]`);
    await row.getByText('WAITING', { exact: true }).waitFor();
    assert.equal(await row.getByTestId('outcome').textContent(), 'after 1 run');
    // Then it runs, once what it waited for succeeded.
    await page.goto(`${server.url}/runs/${waiting}`);
    await waitStatusLine(/^SUCCEEDED: /, 30_000);
    await page.locator('.log-line', { hasText: 'next ran' }).waitFor();
    await page.getByRole('region', { name: 'Launched after' }).getByText('SUCCEEDED').waitFor();
    await page.getByRole('region', { name: 'Launched after' }).getByRole('link', { name: slow }).click();
    await page.waitForURL(`${server.url}/runs/${slow}`);
    await page.getByRole('link', { name: 'runs launched after this one' }).click();
    await page.getByRole('table', { name: /finished runs/i }).locator(`tr[data-run-id="${waiting}"]`).waitFor();
  });

  journey('3. the array, child, waiting and launch pages fit a 390 px phone', { timeout: 60_000 }, async () => {
    await page.setViewportSize(PHONE);
    const wide = [];
    for (const path of [`/runs/${seen.parent}`, `/runs/${seen.retry}`, `/runs/${seen.waiting}`, `/runs?parent=${seen.parent}`]) {
      await page.goto(server.url + path);
      await page.locator('main h1').first().waitFor();
      await page.waitForLoadState('networkidle').catch(() => {});
      if ((await overflow()) > 0) wide.push(path);
      await shot(`phone${path.replace(/[^a-z0-9]+/gi, '-').slice(0, 40)}`);
    }
    await page.goto(`${server.url}/launch/${D.flaky}`);
    await page.getByRole('radio', { name: 'One child per item' }).check();
    await page.getByLabel('Items (JSON)').fill('[{"day": "2026-12-01"}, {"day": "2026-12-02"}]');
    await page.getByLabel('Run after').fill('run_0123456789ABCDEFGHJKMNPQRS run_0123456789ABCDEFGHJKMNPQRT');
    if ((await overflow()) > 0) wide.push('/launch (array items)');
    await shot('phone-launch-array');
    assert.deepEqual(wide, [], 'pages wider than 390 px');
    await page.setViewportSize(DESKTOP);
  });

  journey('4. a grid of 10,000 children: drawn, usable, and stopped as a whole', { timeout: 420_000 }, async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'flotilla-e2e-pipelines-10k-'));
    dirs.push(dataDir);
    // One slot, and children that sleep: one runs, the rest stay QUEUED.
    big = await startServer(dataDir, ['--max-running', '1']);
    await must(big, 201, '/v1/definitions', { method: 'POST', body: { alias: D.big, image: 'alpine:3', command: 'sleep 600', cpu: 256, memory: 512 } });
    const t0 = Date.now();
    const parent = (await must(big, 202, '/v1/runs', { method: 'POST', body: { definition: D.big, array: { size: 10000 } } })).run_id;
    for (;;) {
      const r = await must(big, 200, `/v1/runs/${parent}`);
      if (r.array.created === 10000) break;
      assert.ok(Date.now() - t0 < 120_000, `only ${r.array.created} of 10,000 children made after 2 min`);
      await new Promise((res) => setTimeout(res, 250));
    }
    console.log(`# 10,000 children made in ${Date.now() - t0} ms (API, seen by polling)`);

    await page.setViewportSize(DESKTOP);
    await page.goto(`${big.url}/`); // a page of the same origin, so the next load is a fresh navigation
    // Long main-thread tasks (over 50 ms) during the load say whether the page stayed responsive.
    await page.addInitScript(() => {
      window.__tasks = [];
      new PerformanceObserver((l) => window.__tasks.push(...l.getEntries().map((e) => e.duration))).observe({ type: 'longtask', buffered: true });
    });
    // When the last page of children arrived: what follows it is drawing alone.
    let lastPageAt = 0;
    let pagesRead = 0;
    const onResponse = (res) => {
      if (res.url().includes(`parent=${parent}`)) {
        lastPageAt = Date.now();
        pagesRead++;
      }
    };
    page.on('response', onResponse);
    const start = Date.now();
    await page.goto(`${big.url}/runs/${parent}`);
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="child-grid"] a.cell').length === 10000, null, { timeout: 120_000, polling: 50 });
    const doneAt = Date.now();
    page.off('response', onResponse);
    const renderMs = doneAt - start;
    const drawMs = doneAt - lastPageAt;
    const tasks = await page.evaluate(() => window.__tasks);
    const longest = Math.round(Math.max(0, ...tasks));
    const cells = page.getByTestId('child-grid').locator('a.cell');
    assert.equal(await cells.count(), 10000);
    assert.ok((await page.getByTestId('child-grid').locator('a.s-queued').count()) >= 9990, 'nearly all children wait in the queue');
    console.log(`# 10,000-cell grid: ${renderMs} ms from navigation until every cell was drawn (${pagesRead} pages of 500 read); ${drawMs} ms of it after the last page arrived; longest task ${longest} ms; ${tasks.length} long tasks`);
    bench.ui_array_grid_10k_render_ms = {
      value: renderMs,
      unit: 'ms, navigation to all 10,000 cells drawn (20 API pages of 500)',
      note: `${drawMs} ms after the last page arrived; longest main-thread task ${longest} ms, ${tasks.length} tasks over 50 ms`,
    };
    bench.ui_array_grid_10k_longest_task_ms = { value: longest, unit: 'ms, longest main-thread task while the grid loads' };
    await shot('grid-10k');

    // Usable: hovering names a cell, a click deep in the grid opens that child.
    const last = page.getByTestId('child-grid').locator('a[data-index="9999"]');
    assert.equal(await last.getAttribute('title'), '9999: QUEUED');
    const clickAt = Date.now();
    await last.click();
    await page.getByTestId('array-index').getByText(/^9999 /).waitFor();
    const clickMs = Date.now() - clickAt;
    bench.ui_array_grid_10k_click_ms = { value: clickMs, unit: 'ms, click on cell 9,999 until its child page shows its index' };
    console.log(`# click on cell 9999 → child page in ${clickMs} ms`);
    await page.goBack();
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="child-grid"] a.cell').length === 10000, null, { timeout: 60_000 });

    // Stop the whole array from its page.
    await page.getByRole('button', { name: 'Stop', exact: true }).click();
    const dialog = page.getByRole('alertdialog', { name: 'Stop this run?' });
    await dialog.getByText(/Its children that have not ended \(10,000\) are stopped too\./).waitFor();
    await dialog.getByRole('button', { name: 'Stop run' }).click();
    await waitStatusLine(/^STOPPED: /, 180_000);
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="child-grid"] a.s-stopped').length === 10000, null, { timeout: 120_000 });
    assert.equal(await page.getByTestId('count-STOPPED').textContent(), '10,000');
    await shot('grid-10k-stopped');
    assert.deepEqual(pageErrors, [], 'no uncaught errors in the page');
  });
});
