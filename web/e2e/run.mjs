// End-to-end journeys of the web UI against a real `flotilla serve`.
//
// Starts the server itself (FLOTILLA_BIN, else bin/flotilla, else `go run ./cmd/flotilla`)
// on a random port with a temporary data dir and the built UI (web/dist), drives Debian's
// chromium through playwright-core with a fresh profile, saves a screenshot of each page
// under web/e2e-screenshots/, and stops everything at the end.
//
//   npm run e2e          (after `npm run build`; or `make web-e2e` from the repo root)
import { createServer } from 'node:http';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CHROMIUM, launchBrowser, shots, startServer as startServerIn, stopServer as stopServerOf, webDir, journeys } from './harness.mjs';
import { templateJourneys } from './templates.mjs';
const suffix = Date.now().toString(36);
const alias = `e2e-hello-${suffix}`;

let server; // { proc, url, stderr }
let context;
let page;
let dataDir;
let profileDir;
const pageErrors = [];
const cspViolations = [];

const startServer = () => startServerIn(dataDir);
const stopServer = () => stopServerOf(server);

async function shot(name) {
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
}

async function api(path, init) {
  const res = await fetch(server.url + path, init);
  return { status: res.status, body: await res.json().catch(() => null) };
}

const nav = (name) => page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name, exact: true });
const statusLine = () => page.getByTestId('status-line');

async function waitForStatus(re, timeout) {
  await page.waitForFunction(
    (src) => new RegExp(src).test(document.querySelector('[data-testid="status-line"]')?.textContent ?? ''),
    re.source,
    { timeout },
  );
}

const journey = journeys('', () => page);

before(async () => {
  assert.ok(existsSync(join(webDir, 'dist', 'index.html')), 'web/dist is missing: run `npm run build` (or `make web-build`) first');
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install -y chromium`);
  mkdirSync(shots, { recursive: true });
  dataDir = mkdtempSync(join(tmpdir(), 'flotilla-e2e-data-'));
  server = await startServer();
  ({ context, profileDir } = await launchBrowser({ width: 1280, height: 900 }));
  page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(15_000);
  page.on('pageerror', (e) => pageErrors.push(e.message));
  // The server's Content-Security-Policy must let the built app do all it does.
  page.on('console', (m) => {
    if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
  });
});

after(async () => {
  await context?.close().catch(() => {});
  await stopServer();
  if (process.exitCode && server) console.error('--- flotilla serve output ---\n' + server.stderr.slice(-4000));
  for (const d of [dataDir, profileDir]) if (d) rmSync(d, { recursive: true, force: true });
});

describe('flotilla web UI', { concurrency: false }, () => {
  journey('serves the runs page at / and lists the clusters', { timeout: 30_000 }, async () => {
    await page.goto(server.url + '/');
    await page.getByRole('heading', { name: 'Runs', level: 1 }).waitFor();
    await page.getByText(/No active runs/).waitFor();
    await shot('01-runs-empty');
    await nav('Clusters').click();
    await page.getByRole('heading', { name: 'Clusters' }).waitFor();
    await page.getByRole('rowheader', { name: 'default' }).waitFor();
    await shot('02-clusters');
  });

  journey('creates a definition in the UI', { timeout: 30_000 }, async () => {
    await nav('Definitions').click();
    await page.getByRole('link', { name: 'New definition' }).click();
    await page.getByLabel('Alias').fill(alias);
    await page.getByLabel('Group').fill('e2e');
    await page.getByLabel('Image').fill('alpine:3');
    await page
      .getByLabel('Command')
      .fill('for i in 1 2 3 4 5 6; do echo "line $i of $GREETING"; sleep 1; done; printf "\\033[32mall green\\033[0m <b>not bold</b>\\n"');
    await page.getByLabel('Tags').fill('e2e, demo');
    await page.getByRole('button', { name: 'Add variable' }).click();
    await page.getByLabel('Name of variable 1').fill('GREETING');
    await page.getByLabel('Value of GREETING').fill('the e2e test');
    await shot('03-definition-form');
    await page.getByRole('button', { name: 'Create definition' }).click();
    await page.getByRole('heading', { name: alias, level: 1 }).waitFor();
    await page.getByText('Never run yet.').waitFor();
    await shot('04-definition');
    const { status, body } = await api(`/v1/definitions/${alias}`);
    assert.equal(status, 200);
    assert.deepEqual(body.env, { GREETING: 'the e2e test' });
  });

  journey('launches it and shows its log lines live until it succeeds', { timeout: 90_000 }, async () => {
    await page.getByRole('link', { name: 'Launch', exact: true }).click();
    await page.getByRole('heading', { name: `Launch ${alias}` }).waitFor();
    assert.equal(await page.getByLabel('Value of GREETING').inputValue(), 'the e2e test');
    await page.getByLabel('Cluster').selectOption('default');
    await shot('05-launch');
    await page.getByRole('button', { name: 'Launch', exact: true }).click();
    await page.waitForURL(/\/runs\/[^/]+$/);

    // The first line shows while the job is still going: logs follow live.
    await page.locator('.log-line', { hasText: 'line 1 of the e2e test' }).waitFor({ timeout: 45_000 });
    const endShown = await page.locator('.log-end').count();
    const status = await statusLine().textContent();
    assert.equal(endShown, 0, 'the end marker must not show while the job runs');
    assert.match(status, /^(QUEUED|PENDING|RUNNING)/, `status while the first line arrived: ${status}`);
    await shot('06-run-live');

    await waitForStatus(/^SUCCEEDED/, 45_000);
    await page.locator('.log-end', { hasText: 'end of logs · SUCCEEDED' }).waitFor({ timeout: 15_000 });
    for (let i = 1; i <= 6; i++) await page.locator('.log-line', { hasText: `line ${i} of the e2e test` }).waitFor();
    // ANSI colour applied; markup in the output stays text.
    const green = page.locator('.log-text span', { hasText: 'all green' });
    assert.equal(await green.evaluate((el) => getComputedStyle(el).color), 'rgb(13, 188, 121)');
    assert.equal(await page.locator('.log-line b').count(), 0);
    await page.locator('.log-line', { hasText: '<b>not bold</b>' }).waitFor();
    assert.match(await page.locator('dl.facts').textContent(), /Exit code0/);
    await shot('07-run-succeeded');

    // The run's URL survives a reload (the server falls back to the app).
    await page.reload();
    await waitForStatus(/^SUCCEEDED/, 15_000);
  });

  journey('filters the history to find it, with the filter in a shareable URL', { timeout: 30_000 }, async () => {
    await nav('Runs').click();
    await page.getByRole('checkbox', { name: 'SUCCEEDED' }).check();
    await page.getByLabel('Definition').fill(alias);
    await page.waitForURL((u) => u.searchParams.get('status') === 'SUCCEEDED' && u.searchParams.get('definition') === alias);
    const history = page.getByRole('table', { name: /finished runs/i });
    await history.getByRole('link', { name: alias }).waitFor();
    assert.equal(await page.getByRole('heading', { name: 'Active' }).count(), 0);
    await shot('08-runs-filtered');

    await page.reload();
    await page.getByRole('table', { name: /finished runs/i }).getByRole('link', { name: alias }).waitFor();
    assert.equal(await page.getByRole('checkbox', { name: 'SUCCEEDED' }).isChecked(), true);

    // A filter that matches nothing says so.
    await page.goto(`${server.url}/runs?status=FAILED&definition=${alias}`);
    await page.getByText('No finished runs match these filters.').waitFor();
  });

  journey('launches a long job and stops it after confirmation', { timeout: 90_000 }, async () => {
    await page.goto(`${server.url}/launch/${alias}`);
    await page.getByLabel('Command').fill('echo started; sleep 300');
    await page.getByRole('button', { name: 'Launch', exact: true }).click();
    await page.waitForURL(/\/runs\/[^/]+$/);
    await page.locator('.log-line', { hasText: 'started' }).waitFor({ timeout: 45_000 });
    await waitForStatus(/^RUNNING/, 30_000);
    await page.getByRole('button', { name: 'Stop', exact: true }).click();
    await page.getByRole('alertdialog', { name: 'Stop this run?' }).waitFor();
    await shot('09-stop-confirm');
    await page.getByRole('button', { name: 'Stop run' }).click();
    await waitForStatus(/^STOPPED/, 45_000);
    await page.locator('.log-end', { hasText: 'STOPPED' }).waitFor({ timeout: 20_000 });
    assert.equal(await page.getByRole('button', { name: 'Stop', exact: true }).count(), 0);
    await shot('10-run-stopped');

    // "Run again" opens the launch form pre-filled from this run.
    await page.getByRole('link', { name: 'Run again' }).click();
    await page.getByText(/pre-filled from run/).waitFor();
    assert.equal(await page.getByLabel('Command').inputValue(), 'echo started; sleep 300');
  });

  journey('shows a waiting run its place in line while the cluster is full', { timeout: 60_000 }, async () => {
    const clusters = (await api('/v1/clusters')).body.items;
    const max = clusters.find((c) => c.name === 'default').max_running;
    const launch = async () => {
      const { status, body } = await api('/v1/runs', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ definition: alias, cluster: 'default', command: 'sleep 120' }),
      });
      assert.equal(status, 202, JSON.stringify(body));
      return body.run_id;
    };
    const ids = [];
    try {
      for (let i = 0; i < max; i++) ids.push(await launch());
      const waiting = await launch();
      ids.push(waiting);
      await page.goto(`${server.url}/runs/${waiting}`);
      await waitForStatus(/^QUEUED: .*#1 in line on default/, 20_000);
      await shot('11-run-waiting');
      await nav('Runs').click();
      // The list shows the waiting run among the active ones (its place in line too, when the list API carries it).
      await page.getByRole('table', { name: /active runs/i }).locator(`tr[data-run-id="${waiting}"]`).getByText('QUEUED').waitFor();
      await shot('11-runs-active');
    } finally {
      for (const id of ids) await api(`/v1/runs/${id}/stop`, { method: 'POST' });
    }
    await page.goto(`${server.url}/runs/${ids.at(-1)}`);
    await waitForStatus(/^STOPPED/, 20_000);
  });

  journey('shows the error for a bad cpu value at the field (checked by the form itself)', { timeout: 30_000 }, async () => {
    await page.goto(`${server.url}/launch/${alias}`);
    const cpu = page.getByLabel('CPU units');
    await cpu.fill('-1');
    await page.getByRole('button', { name: 'Launch', exact: true }).click();
    await page.locator('.field-invalid .field-error').first().waitFor();
    assert.equal(await cpu.getAttribute('aria-invalid'), 'true');
    const described = await cpu.getAttribute('aria-describedby');
    const message = await page.locator(`[id="${described.split(' ')[0]}"]`).textContent();
    assert.ok(message && message.length > 0, 'the cpu field has an error message');
    await shot('12-launch-validation');
  });

  templateJourneys(journey, { page: () => page, url: () => server.url, api, shot });

  journey('edits a definition into a new revision, copies it, and deletes the copy', { timeout: 45_000 }, async () => {
    await page.goto(`${server.url}/definitions/${alias}`);
    await page.getByRole('link', { name: 'Edit' }).click();
    await page.getByLabel('Memory (MiB)').fill('1024');
    await page.getByRole('button', { name: 'Save revision' }).click();
    await page.getByText(/Current: revision 2/).waitFor();
    await page.getByLabel('Show revision').selectOption('1');
    await page.getByRole('heading', { name: 'Revision 1' }).waitFor();
    assert.ok((await page.locator('dl.props .changed').count()) >= 1, 'the changed memory row is highlighted');
    await shot('12-definition-revisions');

    await page.getByRole('link', { name: 'Copy' }).click();
    await page.getByRole('heading', { name: `Copy of ${alias}` }).waitFor();
    assert.equal(await page.getByLabel('Alias').inputValue(), '');
    await page.getByLabel('Alias').fill(`${alias}-copy`);
    await page.getByRole('button', { name: 'Create definition' }).click();
    await page.getByRole('heading', { name: `${alias}-copy`, level: 1 }).waitFor();
    await page.getByRole('button', { name: 'Delete' }).click();
    await page.getByRole('alertdialog').waitFor();
    await page.getByRole('button', { name: 'Delete definition' }).click();
    await page.getByRole('heading', { name: 'Definitions', level: 1 }).waitFor();
    await page.getByRole('link', { name: alias, exact: true }).waitFor();
    assert.equal(await page.getByRole('link', { name: `${alias}-copy`, exact: true }).count(), 0);
    assert.equal((await api(`/v1/definitions/${alias}-copy`)).status, 404);
  });

  journey('shows 100,000 log lines with only the visible rows in the page', { timeout: 180_000 }, async () => {
    const { status, body } = await api('/v1/runs', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ definition: alias, command: 'seq 1 100000' }),
    });
    assert.equal(status, 202, JSON.stringify(body));
    await page.goto(`${server.url}/runs/${body.run_id}`);
    await page.locator('.log-end').waitFor({ timeout: 150_000 });
    assert.match(await page.locator('.log-count').textContent(), /^100,000 lines/);
    const rows = await page.locator('.log-line').count();
    assert.ok(rows < 200, `${rows} rows in the DOM`);
    // Scroll through the middle in 40 jumps; each must put the right rows on screen quickly
    // (measured from the scroll to the row being in the DOM, not to the next vsync).
    const perStep = await page.evaluate(async () => {
      const el = document.querySelector('[data-testid="log-scroll"]');
      const shown = (n) => [...el.querySelectorAll('.log-line')].some((r) => r.lastChild.textContent === String(n));
      const tick = () => new Promise((r) => setTimeout(r, 0));
      let total = 0;
      for (let i = 0; i < 40; i++) {
        const line = 40_000 + i * 500;
        const t0 = performance.now();
        el.scrollTop = 18 * line;
        for (let k = 0; k < 100 && !shown(line + 1); k++) await tick();
        total += performance.now() - t0;
      }
      return total / 40;
    });
    // The output of each row, without its line-number gutter.
    const texts = await page.locator('.log-line').evaluateAll((rows) => rows.map((r) => r.lastChild.textContent));
    assert.ok(texts.includes('59500') && !texts.includes('1'), `rows at the scroll position: ${texts[0]}…${texts.at(-1)}`);
    console.log(`# 100,000 lines: ${rows} rows in the DOM, ${perStep.toFixed(1)} ms per scroll jump`);
    assert.ok(perStep < 100, `${perStep} ms per scroll step`);
    await page.getByLabel('Find in logs').fill('77777');
    await page.getByRole('button', { name: 'Next', exact: true }).click();
    await page.locator('.log-hit', { hasText: '77777' }).waitFor();
    await shot('13-run-100k-lines');
  });

  journey('manages schedules, or says plainly that the server has none', { timeout: 45_000 }, async () => {
    await nav('Schedules').click();
    await page.getByRole('heading', { name: 'Schedules', level: 1 }).waitFor();
    if ((await api('/v1/schedules')).status === 404) {
      await page.getByText('Schedules are not available on this server yet.').waitFor();
      await shot('14-schedules-missing');
      return;
    }
    await page.getByRole('button', { name: 'New schedule' }).click();
    await page.getByLabel('Name').fill(`nightly-${suffix}`);
    await page.getByLabel('Definition').fill(alias);
    await page.getByLabel('Expression').fill('every night');
    await page.getByRole('button', { name: 'Create schedule' }).click();
    await page.locator('.field-invalid .field-error').first().waitFor();
    await shot('14-schedule-invalid');
    await page.getByLabel('Expression').fill('cron(0 3 * * ? *)');
    await page.getByLabel('Time zone').fill('Europe/Paris');
    await page.getByRole('button', { name: 'Create schedule' }).click();
    const row = page.getByRole('row', { name: new RegExp(`nightly-${suffix}`) });
    await row.waitFor();
    await row.locator('time').first().waitFor();
    await shot('15-schedules');
    await row.getByRole('link', { name: alias }).waitFor();
    await row.getByRole('checkbox').click();
    await row.locator('label', { hasText: 'paused' }).waitFor();
    await page.waitForFunction(() => !document.querySelector('tbody input[type=checkbox]:disabled'));
    assert.equal((await api('/v1/schedules')).body.items.find((x) => x.name === `nightly-${suffix}`).enabled, false);
    await row.getByRole('button', { name: 'Delete' }).click();
    await page.getByRole('button', { name: 'Delete schedule' }).click();
    await page.getByRole('row', { name: new RegExp(`nightly-${suffix}`) }).waitFor({ state: 'detached' });
  });

  journey('shows the other pages readably, and keyboard users can skip to the content', { timeout: 30_000 }, async () => {
    await page.goto(`${server.url}/definitions`);
    await page.getByRole('link', { name: alias, exact: true }).waitFor();
    await shot('16-definitions');
    await page.goto(`${server.url}/definitions/${alias}`);
    await page.getByRole('table', { name: 'Latest 10 runs' }).waitFor();
    await shot('17-definition-with-runs');
    await page.goto(`${server.url}/runs`);
    await page.getByRole('table', { name: /finished runs/i }).waitFor();
    await shot('18-runs');
    await page.goto(`${server.url}/costs?group_by=definition&since=24h`);
    await page.getByRole('rowheader', { name: alias }).waitFor();
    await shot('19-costs');
    await page.goto(`${server.url}/runs/run_does_not_exist`);
    await page.getByRole('alert').waitFor();
    await shot('20-run-missing');

    await page.goto(`${server.url}/clusters`);
    await page.getByRole('rowheader', { name: 'default' }).waitFor();
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Skip to content');
    assert.deepEqual(pageErrors, [], 'no uncaught errors in the page');
    assert.deepEqual(cspViolations, [], 'the UI breaks none of its Content-Security-Policy');
    const res = await fetch(`${server.url}/`);
    assert.match(res.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/);
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
  });

  // A page the user visits on another origin (here: another loopback port,
  // the closest a test gets to a foreign site) tries every way a page can
  // make the browser send a write without a CORS preflight, plus a
  // preflighted JSON fetch. Nothing may be created, stopped or read.
  journey('a page from another origin cannot create, launch, stop or read anything', { timeout: 60_000 }, async () => {
    const before = (await api('/v1/runs?limit=500')).body.items.length;
    const target = (await api('/v1/runs?limit=1')).body.items[0];
    const tag = `pwn-${suffix}`;
    const body = JSON.stringify({ alias: tag, image: 'alpine:3', command: 'id', cpu: 256, memory: 128 });
    const launch = JSON.stringify({ definition: alias, command: 'echo pwned' });
    const evil = `<!doctype html><html><body><h1>cat pictures</h1>
<iframe name="sink" style="display:none"></iframe>
<form id="f1" method="POST" action="${server.url}/v1/definitions" enctype="text/plain" target="sink"><input name='${body.slice(0, -1)},"x":"' value='"}'></form>
<form id="f2" method="POST" action="${server.url}/v1/runs" enctype="application/x-www-form-urlencoded" target="sink"><input name="definition" value="${alias}"></form>
<script>
window.results = {};
(async () => {
  const u = ${JSON.stringify(server.url)};
  const tries = {
    textPlain: () => fetch(u + '/v1/definitions', { method: 'POST', mode: 'no-cors', headers: { 'Content-Type': 'text/plain' }, body: ${JSON.stringify(body)} }),
    launchTextPlain: () => fetch(u + '/v1/runs', { method: 'POST', mode: 'no-cors', headers: { 'Content-Type': 'text/plain' }, body: ${JSON.stringify(launch)} }),
    stop: () => fetch(u + '/v1/runs/${target?.run_id}/stop', { method: 'POST', mode: 'no-cors' }),
    json: () => fetch(u + '/v1/definitions', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: ${JSON.stringify(body)} }),
    read: () => fetch(u + '/v1/runs').then((r) => r.text()),
    beacon: async () => navigator.sendBeacon(u + '/v1/runs', new Blob([${JSON.stringify(launch)}], { type: 'text/plain' })),
  };
  for (const [k, f] of Object.entries(tries)) {
    try { const r = await f(); window.results[k] = typeof r === 'string' ? 'READ:' + r.slice(0, 40) : String(r?.type ?? r); }
    catch (e) { window.results[k] = 'error: ' + e.message; }
  }
  document.getElementById('f1').submit();
  setTimeout(() => { document.getElementById('f2').submit(); window.results.done = true; }, 300);
})();
</script></body></html>`;
    const evilServer = createServer((req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/html' });
      res.end(evil);
    });
    await new Promise((r) => evilServer.listen(0, '127.0.0.1', r));
    const evilUrl = `http://127.0.0.1:${evilServer.address().port}/`;
    try {
      const evilPage = await context.newPage();
      await evilPage.goto(evilUrl);
      await evilPage.waitForFunction(() => window.results?.done === true, null, { timeout: 20_000 });
      await evilPage.waitForTimeout(1500); // let the form posts land
      const results = await evilPage.evaluate(() => window.results);
      await evilPage.close();
      assert.ok(!String(results.read).startsWith('READ:'), `the foreign page read the runs: ${results.read}`);
      assert.match(String(results.json), /error/, `a preflighted JSON write was let through: ${results.json}`);
      assert.equal((await api(`/v1/definitions/${tag}`)).status, 404, 'a foreign page created a definition');
      const after = (await api('/v1/runs?limit=500')).body.items;
      assert.equal(after.length, before, `a foreign page launched runs: ${JSON.stringify(results)}`);
      if (target) assert.equal(after.find((r) => r.run_id === target.run_id).status, target.status, 'a foreign page stopped a run');
    } finally {
      evilServer.close();
    }
  });
});
