import { fireEvent, screen, waitFor, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { definition, fakeApi, problem, renderApp, run } from '../testing';

const clusters = { items: [{ name: 'default', max_running: 4, queued: 1, running: 2 }] };

describe('runs page', () => {
  it('shows active runs first, then the history', async () => {
    const { api, calls } = fakeApi({
      'GET /v1/clusters': () => clusters,
      'GET /v1/runs': (c) =>
        c.query.getAll('status').includes('RUNNING')
          ? { items: [run({ run_id: 'run_active', status: 'QUEUED', queue_position: 3, started_at: undefined })] }
          : { items: [run({ run_id: 'run_done', status: 'FAILED', reason_code: 'out_of_memory', finished_at: '2026-11-26T10:01:02Z' })] },
    });
    renderApp('/', api);
    const active = await screen.findByRole('table', { name: /active runs/i });
    const history = await screen.findByRole('table', { name: /finished runs/i });
    expect(active.compareDocumentPosition(history) & Node.DOCUMENT_POSITION_FOLLOWING).toBeTruthy();
    expect(within(active).getByText('run_active')).toBeTruthy();
    expect(within(active).getByText('#3 in line')).toBeTruthy();
    expect(within(history).getByText('out of memory')).toBeTruthy();
    expect(within(history).getByText('1m 0s')).toBeTruthy();
    const statuses = calls.filter((c) => c.path === '/v1/runs').map((c) => c.query.getAll('status').join(','));
    expect(statuses).toContain('WAITING,QUEUED,PENDING,RUNNING');
    expect(statuses).toContain('SUCCEEDED,FAILED,STOPPED');
  });

  it('takes its filters from the URL and writes them back', async () => {
    const { api, calls } = fakeApi({ 'GET /v1/clusters': () => clusters, 'GET /v1/runs': () => ({ items: [] }) });
    renderApp('/runs?status=FAILED&owner=ada', api);
    await screen.findByText('No finished runs match these filters.');
    // Only terminal statuses were chosen, so there is no active section.
    expect(screen.queryByRole('heading', { name: 'Active' })).toBeNull();
    const q = calls.find((c) => c.path === '/v1/runs')!.query;
    expect(q.getAll('status')).toEqual(['FAILED']);
    expect(q.get('owner')).toBe('ada');
    expect((screen.getByRole('checkbox', { name: 'FAILED' }) as HTMLInputElement).checked).toBe(true);

    // Filters apply without a button: a tick at once, typing once it pauses.
    fireEvent.click(screen.getByRole('checkbox', { name: 'STOPPED' }));
    await waitFor(() => expect(calls.some((c) => c.path === '/v1/runs' && c.query.getAll('status').join() === 'FAILED,STOPPED')).toBe(true));
    fireEvent.change(screen.getByLabelText('Definition'), { target: { value: 'hello' } });
    await waitFor(() => expect(calls.some((c) => c.path === '/v1/runs' && c.query.get('definition') === 'hello')).toBe(true));
    expect(calls.at(-1)!.query.get('owner')).toBe('ada');
  });

  it('shows an API failure as a readable message', async () => {
    const { api } = fakeApi({ 'GET /v1/clusters': () => clusters, 'GET /v1/runs': () => problem(503, 'Store unavailable', [], 'sqlite is locked') });
    renderApp('/runs', api);
    const alerts = await screen.findAllByRole('alert');
    expect(alerts[0].textContent).toContain('Store unavailable');
    expect(alerts[0].textContent).toContain('sqlite is locked');
  });
});

describe('run page', () => {
  const routes = (r: ReturnType<typeof run>, stops: string[] = []) => ({
    'GET /v1/runs/:id': () => r,
    'GET /v1/runs/:id/events': () => ({ items: [{ time: '2026-11-26T10:00:01Z', source: 'dispatcher', from: 'QUEUED', to: 'PENDING', attempt: 1 }] }),
    'GET /v1/runs/:id/logs': (c: { query: URLSearchParams }) =>
      c.query.get('next_token')
        ? { events: [], next_token: 'x', complete: r.status !== 'RUNNING' && r.status !== 'QUEUED' }
        : { events: [{ timestamp: '2026-11-26T10:00:03Z', message: 'hello from the job' }], next_token: 'x', complete: false },
    'POST /v1/runs/:id/stop': (c: { path: string }) => {
      stops.push(c.path);
      return problem(202, 'Accepted');
    },
  });

  it('shows why a queued run waits and where it is in line', async () => {
    const { api } = fakeApi(routes(run({ status: 'QUEUED', queue_position: 2, wait_reason: 'no_free_slot', started_at: undefined })));
    renderApp('/runs/run_01', api);
    const line = await screen.findByTestId('status-line');
    expect(line.textContent).toContain('#2 in line on default');
    expect(line.textContent).toContain('every slot of the cluster is busy');
  });

  it('shows a finished run with its reason, exit code, env, timeline and end of logs', async () => {
    const { api } = fakeApi(
      routes(run({ status: 'FAILED', exit_code: 137, reason_code: 'out_of_memory', status_reason: 'out of memory (limit 512 MiB)', finished_at: '2026-11-26T10:00:12Z' })),
    );
    renderApp('/runs/run_01', api);
    expect((await screen.findByTestId('status-line')).textContent).toBe('FAILED: exit code 137 · out of memory (limit 512 MiB)');
    expect(screen.getByText('137')).toBeTruthy();
    expect(screen.getByText('GREETING')).toBeTruthy();
    expect(screen.getByText('10s')).toBeTruthy();
    expect(screen.getByRole('list', { name: 'Attempt 1 timeline' }).textContent).toContain('Failed');
    expect(await screen.findByText('hello from the job')).toBeTruthy();
    expect((await screen.findByRole('note')).textContent).toContain('end of logs · FAILED · exit code 137');
    expect(screen.queryByRole('button', { name: 'Stop' })).toBeNull();
    expect(screen.getByRole('link', { name: 'Run again' }).getAttribute('href')).toBe('/launch/def_01?from=run_01');
  });

  it('links a run to its parent and its children, and shows its role and notify targets', async () => {
    const { api } = fakeApi(
      routes(run({ parent: 'run_00', task_role_arn: 'arn:aws:iam::123456789012:role/flotilla-job-prod-x', notify: [{ webhook: 'https://hooks.example/a?t=1', secret: 'ssm:/k' }, { email: 'ann@example.com' }] })),
    );
    renderApp('/runs/run_01', api);
    expect((await screen.findByRole('link', { name: 'run_00' })).getAttribute('href')).toBe('/runs/run_00');
    expect(screen.getByRole('link', { name: 'runs launched from this one' }).getAttribute('href')).toBe('/runs?parent=run_01');
    expect(screen.getByRole('link', { name: 'runs launched after this one' }).getAttribute('href')).toBe('/runs?after=run_01');
    expect(screen.getByText('arn:aws:iam::123456789012:role/flotilla-job-prod-x')).toBeTruthy();
    expect(screen.getByText('https://hooks.example/a (signed), ann@example.com')).toBeTruthy();
  });

  it('stops a running run only after confirmation', async () => {
    const stops: string[] = [];
    const { api } = fakeApi(routes(run(), stops));
    renderApp('/runs/run_01', api);
    fireEvent.click(await screen.findByRole('button', { name: 'Stop' }));
    const dialog = screen.getByRole('alertdialog', { name: 'Stop this run?' });
    fireEvent.click(within(dialog).getByRole('button', { name: 'Cancel' }));
    expect(stops).toEqual([]);
    fireEvent.click(screen.getByRole('button', { name: 'Stop' }));
    fireEvent.click(screen.getByRole('button', { name: 'Stop run' }));
    await waitFor(() => expect(stops).toEqual(['/v1/runs/run_01/stop']));
    await waitFor(() => expect(screen.queryByRole('alertdialog')).toBeNull());
  });

  it('says so when the run does not exist', async () => {
    const { api } = fakeApi({ 'GET /v1/runs/:id': () => problem(404, 'Not Found', [], 'run run_x not found') });
    renderApp('/runs/run_x', api);
    expect((await screen.findByRole('alert')).textContent).toContain('run run_x not found');
  });
});

describe('launch page', () => {
  it('pre-fills from the definition and shows API validation errors at the field', async () => {
    const launches: unknown[] = [];
    const { api } = fakeApi({
      'GET /v1/definitions/:ref': () => definition,
      'GET /v1/clusters': () => clusters,
      'POST /v1/runs': (c) => {
        launches.push(c.body);
        return problem(400, 'Invalid input', [{ field: 'cpu', message: 'cpu must be 256, 512, 1024, 2048, 4096, 8192 or 16384' }]);
      },
    });
    renderApp('/launch/hello', api);
    expect(((await screen.findByLabelText('Value of GREETING')) as HTMLInputElement).value).toBe('hi');
    expect(await screen.findByRole('option', { name: 'default — 1 queued, 2/4 running' })).toBeTruthy();
    const cpu = screen.getByLabelText('CPU units') as HTMLInputElement;
    expect(cpu.value).toBe('256');
    fireEvent.change(cpu, { target: { value: '300' } });
    fireEvent.click(screen.getByRole('button', { name: 'Launch' }));
    const msg = await screen.findByText('cpu must be 256, 512, 1024, 2048, 4096, 8192 or 16384', { selector: '.field-error' });
    expect(cpu.getAttribute('aria-describedby')).toContain(msg.id);
    expect(cpu.getAttribute('aria-invalid')).toBe('true');
    expect(launches[0]).toMatchObject({ definition: 'def_01', cpu: 300 });
    expect(launches[0]).not.toHaveProperty('env');
    expect(launches[0]).not.toHaveProperty('memory');
    expect((launches[0] as { idempotency_key: string }).idempotency_key).toBeTruthy();
  });

  it('checks the form before sending: every bad field at once, in words, focus on the first', async () => {
    const launches: unknown[] = [];
    const { api } = fakeApi({
      'GET /v1/definitions/:ref': () => definition,
      'GET /v1/clusters': () => clusters,
      'POST /v1/runs': (c) => {
        launches.push(c.body);
        return { run_id: 'run_x' };
      },
    });
    renderApp('/launch/hello', api);
    const cpu = (await screen.findByLabelText('CPU units')) as HTMLInputElement;
    fireEvent.change(cpu, { target: { value: 'abc' } });
    fireEvent.change(screen.getByLabelText('Memory (MiB)'), { target: { value: '99999999' } });
    fireEvent.change(screen.getByLabelText('Tags'), { target: { value: 'ok, -bad' } });
    fireEvent.click(screen.getByRole('button', { name: 'Launch' }));
    expect((await screen.findByText(/must be a whole number from 128 to 16384/)).className).toContain('field-error');
    expect(screen.getByText(/must be from 128 to 122,880/)).toBeTruthy();
    expect(screen.getByText(/“-bad” is not a tag/)).toBeTruthy();
    expect(screen.getByText('Not launched: 3 fields need a fix.')).toBeTruthy();
    await waitFor(() => expect(document.activeElement).toBe(cpu));
    expect(launches).toEqual([]);
  });

  it('shows an env error on its row and launches the overrides', async () => {
    let n = 0;
    const bodies: unknown[] = [];
    const { api } = fakeApi({
      'GET /v1/definitions/:ref': () => definition,
      'GET /v1/clusters': () => clusters,
      'GET /v1/runs/:id': () => run({ run_id: 'run_new', status: 'QUEUED' }),
      'GET /v1/runs/:id/events': () => ({ items: [] }),
      'GET /v1/runs/:id/logs': () => ({ events: [], complete: false }),
      'POST /v1/runs': (c) => {
        bodies.push(c.body);
        return n++ === 0 ? problem(400, 'Invalid input', [{ field: 'env.GREETING', message: 'too long' }]) : run({ run_id: 'run_new', status: 'QUEUED' });
      },
    });
    renderApp('/launch/hello', api);
    fireEvent.change(await screen.findByLabelText('Value of GREETING'), { target: { value: 'x'.repeat(10) } });
    fireEvent.change(screen.getByLabelText('Cluster'), { target: { value: 'default' } });
    fireEvent.click(screen.getByRole('button', { name: 'Launch' }));
    expect(await screen.findByText('too long', { selector: '.env-row .field-error' })).toBeTruthy();
    fireEvent.change(screen.getByLabelText('Value of GREETING'), { target: { value: 'bye' } });
    fireEvent.click(screen.getByRole('button', { name: 'Launch' }));
    await screen.findByRole('heading', { name: /hello/ , level: 1 });
    expect(bodies[1]).toMatchObject({ definition: 'def_01', cluster: 'default', env: { GREETING: 'bye' } });
    // A rejected launch created nothing, so the retry carries a fresh key.
    expect((bodies[0] as { idempotency_key: string }).idempotency_key).not.toBe((bodies[1] as { idempotency_key: string }).idempotency_key);
  });

  it('"Run again" pre-fills from the earlier run', async () => {
    const { api } = fakeApi({
      'GET /v1/definitions/:ref': () => definition,
      'GET /v1/clusters': () => clusters,
      'GET /v1/runs/:id': () => run({ cpu: 1024, memory: 2048, env: { GREETING: 'hi', EXTRA: '1' }, command: 'echo again', tags: ['x'] }),
    });
    renderApp('/launch/def_01?from=run_01', api);
    expect(((await screen.findByLabelText('CPU units')) as HTMLInputElement).value).toBe('1024');
    expect((screen.getByLabelText('Memory (MiB)') as HTMLInputElement).value).toBe('2048');
    expect((screen.getByLabelText('Command') as HTMLTextAreaElement).value).toBe('echo again');
    expect((screen.getByLabelText('Value of EXTRA') as HTMLInputElement).value).toBe('1');
    expect(screen.getByText(/pre-filled from run/)).toBeTruthy();
  });
});

describe('definitions', () => {
  it('searches by alias through the URL', async () => {
    const { api, calls } = fakeApi({ 'GET /v1/definitions': (c) => ({ items: c.query.get('alias') === 'hel' ? [definition] : [] }) });
    renderApp('/definitions?alias=hel', api);
    expect(await screen.findByRole('link', { name: 'hello' })).toBeTruthy();
    expect(calls[0].query.get('alias')).toBe('hel');
    expect((screen.getByLabelText('Alias') as HTMLInputElement).value).toBe('hel');
  });

  it('creates a definition and shows field errors from the API', async () => {
    const posts: Record<string, unknown>[] = [];
    const { api } = fakeApi({
      'POST /v1/definitions': (c) => {
        posts.push(c.body as Record<string, unknown>);
        return posts.length === 1 ? problem(409, 'Conflict', [{ field: 'alias', message: 'alias hello is taken' }]) : { ...definition, alias: 'hello2' };
      },
      'GET /v1/definitions/:ref': () => ({ ...definition, alias: 'hello2' }),
      'GET /v1/runs': () => ({ items: [] }),
    });
    renderApp('/definitions/new', api);
    fireEvent.change(screen.getByLabelText('Alias'), { target: { value: 'hello' } });
    fireEvent.change(screen.getByLabelText('Image'), { target: { value: 'alpine:3' } });
    fireEvent.change(screen.getByLabelText('Command'), { target: { value: 'echo hi' } });
    fireEvent.change(screen.getByLabelText('Tags'), { target: { value: 'a, b' } });
    fireEvent.click(screen.getByRole('button', { name: 'Add variable' }));
    fireEvent.change(screen.getByLabelText('Name of variable 1'), { target: { value: 'K' } });
    fireEvent.change(screen.getByLabelText('Value of K'), { target: { value: 'v' } });
    fireEvent.click(screen.getByRole('button', { name: 'Create definition' }));
    expect(await screen.findByText('alias hello is taken', { selector: '.field-error' })).toBeTruthy();
    expect(posts[0]).toMatchObject({ alias: 'hello', image: 'alpine:3', command: 'echo hi', cpu: 256, memory: 512, tags: ['a', 'b'], env: { K: 'v' } });
    fireEvent.change(screen.getByLabelText('Alias'), { target: { value: 'hello2' } });
    fireEvent.click(screen.getByRole('button', { name: 'Create definition' }));
    expect(await screen.findByRole('heading', { name: 'hello2', level: 1 })).toBeTruthy();
  });

  it("sets a definition's task role, out-of-memory retry and notify targets, and shows them", async () => {
    const patches: Record<string, unknown>[] = [];
    let current = definition;
    const { api } = fakeApi({
      'GET /v1/definitions/:ref': () => current,
      'PATCH /v1/definitions/:ref': (c) => {
        patches.push(c.body as Record<string, unknown>);
        if (patches.length === 1) {
          return problem(400, 'Invalid input', [{ field: 'notify[1].email', message: 'must be one e-mail address, like ann@example.com' }]);
        }
        current = { ...definition, ...(c.body as object), revision: 4 };
        return current;
      },
      'GET /v1/runs': () => ({ items: [] }),
    });
    renderApp('/definitions/hello/edit', api);
    fireEvent.change(await screen.findByLabelText('Task role ARN'), { target: { value: 'arn:aws:iam::123456789012:role/flotilla-job-prod-reports' } });
    fireEvent.change(screen.getByLabelText('Out of memory: retry with × memory'), { target: { value: '2' } });
    fireEvent.change(screen.getByLabelText('Notify when a run ends'), {
      target: { value: 'https://hooks.example/x?t=1,secret=ssm:/flotilla/prod/hook\nann(at)example.com' },
    });
    fireEvent.click(screen.getByRole('button', { name: 'Save revision' }));
    expect(await screen.findByText(/notify\[1\]\.email: must be one e-mail address/)).toBeTruthy();
    expect(patches[0]).toEqual({
      task_role_arn: 'arn:aws:iam::123456789012:role/flotilla-job-prod-reports',
      on_out_of_memory: { retry_with_memory_factor: 2 },
      notify: [{ webhook: 'https://hooks.example/x?t=1', secret: 'ssm:/flotilla/prod/hook' }, { webhook: 'ann(at)example.com' }],
    });
    fireEvent.change(screen.getByLabelText('Notify when a run ends'), {
      target: { value: 'https://hooks.example/x?t=1,secret=ssm:/flotilla/prod/hook\nann@example.com' },
    });
    fireEvent.click(screen.getByRole('button', { name: 'Save revision' }));
    expect(await screen.findByText('retry with 2× the memory')).toBeTruthy();
    expect(screen.getByText(/https:\/\/hooks\.example\/x \(signed\)/)).toBeTruthy();
    expect(screen.queryByText(/t=1/)).toBeNull();
  });

  it('edits with a PATCH of only the changed fields', async () => {
    const patches: unknown[] = [];
    const { api } = fakeApi({
      'GET /v1/definitions/:ref': () => definition,
      'PATCH /v1/definitions/:ref': (c) => {
        patches.push(c.body);
        return { ...definition, memory: 1024, revision: 4 };
      },
      'GET /v1/runs': () => ({ items: [] }),
    });
    renderApp('/definitions/hello/edit', api);
    fireEvent.change(await screen.findByLabelText('Memory (MiB)'), { target: { value: '1024' } });
    fireEvent.click(screen.getByRole('button', { name: 'Save revision' }));
    await waitFor(() => expect(patches).toEqual([{ memory: 1024 }]));
  });

  it('copies with an empty alias', async () => {
    const { api } = fakeApi({ 'GET /v1/definitions/:ref': () => definition });
    renderApp('/definitions/new?copy=hello', api);
    expect(await screen.findByRole('heading', { name: 'Copy of hello' })).toBeTruthy();
    expect((screen.getByLabelText('Alias') as HTMLInputElement).value).toBe('');
    expect((screen.getByLabelText('Image') as HTMLInputElement).value).toBe('alpine:3');
  });

  it('shows settings, recent runs and an old revision; deletes after confirmation', async () => {
    const deleted: string[] = [];
    const { api } = fakeApi({
      'GET /v1/definitions/:ref/revisions/:n': () => ({ ...definition, revision: 2, memory: 256 }),
      'GET /v1/definitions/:ref': () => definition,
      'GET /v1/definitions': () => ({ items: [] }),
      'DELETE /v1/definitions/:ref': (c) => {
        deleted.push(c.path);
        return new Response(null, { status: 204 });
      },
      'GET /v1/runs': () => ({ items: [run({ status: 'SUCCEEDED' })] }),
    });
    renderApp('/definitions/hello', api);
    expect(await screen.findByRole('heading', { name: 'hello', level: 1 })).toBeTruthy();
    expect(await screen.findByRole('table', { name: 'Latest 10 runs' })).toBeTruthy();
    fireEvent.change(screen.getByLabelText('Show revision'), { target: { value: '2' } });
    expect(await screen.findByRole('heading', { name: 'Revision 2' })).toBeTruthy();
    expect(screen.getByText('256 MiB')).toBeTruthy();
    fireEvent.click(screen.getByRole('button', { name: 'Delete' }));
    fireEvent.click(screen.getByRole('button', { name: 'Delete definition' }));
    await waitFor(() => expect(deleted).toEqual(['/v1/definitions/def_01']));
    expect(await screen.findByRole('heading', { name: 'Definitions' })).toBeTruthy();
  });
});

describe('other pages', () => {
  it('shows each cluster with queued and running/max', async () => {
    const { api } = fakeApi({ 'GET /v1/clusters': () => clusters });
    renderApp('/clusters', api);
    const row = (await screen.findByRole('rowheader', { name: 'default' })).closest('tr')!;
    expect(row.textContent).toContain('2/4');
    expect(within(row).getByRole('link', { name: '1' }).getAttribute('href')).toBe('/runs?cluster=default&status=QUEUED');
  });

  it('says when the server has no schedules API yet', async () => {
    const { api } = fakeApi({});
    renderApp('/schedules', api);
    expect((await screen.findByRole('alert')).textContent).toContain('Schedules are not available on this server yet.');
  });

  it('lists schedules with their next fire times', async () => {
    const { api } = fakeApi({
      'GET /v1/schedules': () => ({
        items: [{ schedule_id: 'sch_1', name: 'nightly', definition: 'hello', expression: 'cron(0 3 * * ? *)', timezone: 'UTC', enabled: true, next_fire_times: ['2026-11-27T03:00:00Z'] }],
      }),
    });
    renderApp('/schedules', api);
    expect(await screen.findByRole('rowheader', { name: 'nightly' })).toBeTruthy();
    expect(screen.getByText('cron(0 3 * * ? *)')).toBeTruthy();
  });

  it('creates a schedule and shows the API error at its field', async () => {
    const posts: unknown[] = [];
    let items: unknown[] = [];
    const { api } = fakeApi({
      'GET /v1/schedules': () => ({ items }),
      'GET /v1/definitions': () => ({ items: [definition] }),
      'POST /v1/schedules': (c) => {
        posts.push(c.body);
        if (posts.length === 1) return problem(400, 'Invalid input', [{ field: 'expression', message: 'not a cron() or rate() expression' }]);
        items = [{ schedule_id: 'sch_2', enabled: true, next_fire_times: [], ...(c.body as object) }];
        return items[0];
      },
    });
    renderApp('/schedules', api);
    fireEvent.click(await screen.findByRole('button', { name: 'New schedule' }));
    fireEvent.change(screen.getByLabelText('Name'), { target: { value: 'hourly' } });
    fireEvent.change(screen.getByLabelText('Definition'), { target: { value: 'hello' } });
    fireEvent.change(screen.getByLabelText('Expression'), { target: { value: 'every hour' } });
    fireEvent.change(screen.getByLabelText('Missed fire times'), { target: { value: 'latest' } });
    fireEvent.click(screen.getByRole('button', { name: 'Create schedule' }));
    expect(await screen.findByText('not a cron() or rate() expression', { selector: '.field-error' })).toBeTruthy();
    expect(posts[0]).toMatchObject({ name: 'hourly', definition: 'hello', expression: 'every hour', catch_up: 'latest', enabled: true });
    fireEvent.change(screen.getByLabelText('Expression'), { target: { value: 'rate(1 hour)' } });
    fireEvent.click(screen.getByRole('button', { name: 'Create schedule' }));
    expect(await screen.findByRole('rowheader', { name: 'hourly' })).toBeTruthy();
  });

  it('edits a schedule with a PATCH of the changed fields, previews fire times, runs it now and lists its runs', async () => {
    const patches: unknown[] = [];
    const sch = { schedule_id: 'sch_1', name: 'nightly', definition: 'def_01', cluster: 'default', expression: 'cron(0 3 * * ? *)', timezone: 'Europe/Paris', env: {}, enabled: true, catch_up: 'none', next_fire_times: ['2026-11-27T02:00:00Z'] };
    const { api, calls } = fakeApi({
      'GET /v1/schedules': () => ({ items: [sch] }),
      'GET /v1/definitions': () => ({ items: [definition] }),
      'GET /v1/schedules/preview': (c) => ({ expression: c.query.get('expression'), timezone: c.query.get('timezone'), next_fire_times: ['2026-11-27T05:30:00Z'] }),
      'PATCH /v1/schedules/:id': (c) => {
        patches.push(c.body);
        return { ...sch, ...(c.body as object) };
      },
      'POST /v1/schedules/:id/run': () => run({ run_id: 'run_now', schedule_id: 'sch_1' }),
      'GET /v1/runs': (c) => ({ items: c.query.get('schedule_id') === 'sch_1' ? [run({ run_id: 'run_now', schedule_id: 'sch_1' })] : [] }),
    });
    renderApp('/schedules', api);
    const row = (await screen.findByRole('rowheader', { name: 'nightly' })).closest('tr')!;
    // The next fire time in the schedule's own zone, which the row names.
    expect(within(row).getByText('2026-11-27 03:00')).toBeTruthy();
    expect(within(row).getByText('in Europe/Paris')).toBeTruthy();
    fireEvent.click(within(row).getByRole('button', { name: 'Edit' }));
    fireEvent.change(screen.getByLabelText('Expression'), { target: { value: 'cron(30 6 * * ? *)' } });
    expect(await screen.findByText('2026-11-27 06:30')).toBeTruthy();
    await waitFor(() =>
      expect(calls.some((c) => c.path === '/v1/schedules/preview' && c.query.get('expression') === 'cron(30 6 * * ? *)' && c.query.get('timezone') === 'Europe/Paris')).toBe(true),
    );
    fireEvent.click(screen.getByRole('button', { name: 'Save schedule' }));
    await waitFor(() => expect(patches).toEqual([{ expression: 'cron(30 6 * * ? *)' }]));
    fireEvent.click(within(row).getByRole('button', { name: 'Run now' }));
    expect(await within(row).findByRole('link', { name: 'run_now' })).toBeTruthy();
    fireEvent.click(within(row).getByRole('button', { name: 'Runs' }));
    const table = await screen.findByRole('table', { name: /runs of nightly/ });
    expect(table.querySelector('tr[data-run-id="run_now"]')).not.toBeNull();
  });

  it('shows costs grouped as the URL says', async () => {
    const { api, calls } = fakeApi({
      'GET /v1/costs': () => ({ group_by: 'owner', items: [{ key: 'ada', cost_usd: 1.5, runs: 3 }, { key: 'bob', cost_usd: 0.004, runs: 1 }], total_usd: 1.504 }),
    });
    renderApp('/costs?group_by=owner&since=168h', api);
    const row = (await screen.findByRole('rowheader', { name: 'ada' })).closest('tr')!;
    expect(row.textContent).toBe('ada3$1.50');
    expect(screen.getByRole('rowheader', { name: 'bob' }).closest('tr')!.textContent).toContain('$0.0040');
    expect(screen.getByRole('link', { name: 'ada' }).getAttribute('href')).toBe('/runs?owner=ada');
    expect(calls[0].query.get('since')).toBe('168h');
    expect(calls[0].query.get('group_by')).toBe('owner');
  });

  it('has a not-found page for unknown paths', () => {
    const { api } = fakeApi({});
    renderApp('/nope', api);
    expect(screen.getByRole('heading', { name: 'Page not found' })).toBeTruthy();
  });
});

describe('issue 15 list logic', () => {
  it('matches a definition by exact alias, then a part of it, then its letters in order', async () => {
    const { matchDefinitions } = await import('./RunsPage');
    const defs = [
      { definition_id: 'def_1', alias: 'train-model' },
      { definition_id: 'def_2', alias: 'train-eval' },
      { definition_id: 'def_3', alias: 'etl-daily' },
    ];
    expect(matchDefinitions('train-model', defs).map((d) => d.alias)).toEqual(['train-model']);
    expect(matchDefinitions('def_3', defs).map((d) => d.alias)).toEqual(['etl-daily']);
    expect(matchDefinitions('TRAIN', defs).map((d) => d.alias)).toEqual(['train-model', 'train-eval']);
    expect(matchDefinitions('etldly', defs).map((d) => d.alias)).toEqual(['etl-daily']);
    expect(matchDefinitions('zzz', defs)).toEqual([]);
  });
  it('puts running runs first, then the queue #1 first', async () => {
    const { activeOrder } = await import('./RunsPage');
    const r = (run_id: string, status: string, extra = {}) => ({ run_id, status, queued_at: '2026-11-26T10:00:00Z', ...extra }) as never;
    const got = activeOrder([r('q2', 'QUEUED', { queue_position: 2 }), r('run', 'RUNNING', { started_at: '2026-11-26T10:01:00Z' }), r('q1', 'QUEUED', { queue_position: 1 })]);
    expect(got.map((x: { run_id: string }) => x.run_id)).toEqual(['run', 'q1', 'q2']);
  });
});

describe('clusters', () => {
  it("names a Spot cluster's on-demand twin", async () => {
    const { api } = fakeApi({
      'GET /v1/clusters': () => ({
        items: [
          { name: 'spot', max_running: 50, queued: 0, running: 3, launch_type: 'FARGATE', spot_fallback: 'default' },
          { name: 'default', max_running: 10, queued: 0, running: 1, launch_type: 'FARGATE' },
        ],
      }),
    });
    renderApp('/clusters', api);
    expect(await screen.findByText('Spot; falls back to default')).toBeTruthy();
    expect(screen.getAllByText(/falls back to/).length).toBe(1);
  });
});
