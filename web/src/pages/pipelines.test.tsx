// Issue 17 in the UI: WAITING, arrays (summary, grid of children, retry failed), dependencies, the launch form's array and "run after".
import { fireEvent, screen, waitFor, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { gridCells } from '../components/ArrayPanel';
import { definition, fakeApi, problem, renderApp, run } from '../testing';
import { afterIds, parseItems } from './LaunchPage';
import { activeOrder } from './RunsPage';
import type { Run } from '../api/types';

const clusters = { items: [{ name: 'default', max_running: 4, queued: 1, running: 2 }] };
const noEvents = { 'GET /v1/runs/:id/events': () => ({ items: [] }), 'GET /v1/runs/:id/logs': () => ({ events: [], complete: true }) };

/** child i of run_p with a status. */
function child(i: number, status: string) {
  return run({ run_id: `run_c${i}`, status, parent: 'run_p', array_index: i });
}

describe('WAITING everywhere', () => {
  it('lists WAITING runs in Active after the queue, with the status filter and the title', async () => {
    const { api, calls } = fakeApi({
      'GET /v1/clusters': () => clusters,
      'GET /v1/runs': (c) =>
        c.query.getAll('status').includes('WAITING')
          ? {
              items: [
                run({ run_id: 'run_w', status: 'WAITING', wait_reason: 'dependencies', after: ['run_a', 'run_b'], status_reason: 'waiting for run_a, run_b', started_at: undefined }),
                run({ run_id: 'run_q', status: 'QUEUED', queue_position: 1, started_at: undefined }),
                run({ run_id: 'run_r' }),
              ],
            }
          : { items: [] },
    });
    renderApp('/', api);
    const active = await screen.findByRole('table', { name: /active runs/i });
    const ids = within(active)
      .getAllByRole('row')
      .slice(1)
      .map((r) => r.getAttribute('data-run-id'));
    expect(ids).toEqual(['run_r', 'run_q', 'run_w']);
    const w = active.querySelector('tr[data-run-id="run_w"]')!;
    expect(w.querySelector('.status-waiting')!.textContent).toBe('WAITING');
    expect(within(w as HTMLElement).getByText('after 2 runs')).toBeTruthy();
    expect(screen.getByRole('checkbox', { name: 'WAITING' })).toBeTruthy();
    await waitFor(() => expect(document.title).toBe('Runs · 1 running, 1 queued, 1 waiting — Flotilla'));
    fireEvent.click(screen.getByRole('checkbox', { name: 'WAITING' }));
    await waitFor(() => expect(calls.some((c) => c.path === '/v1/runs' && c.query.getAll('status').join() === 'WAITING')).toBe(true));
  });

  it('orders the active list: started, then the queue, then what waits', () => {
    const r = (id: string, status: string, extra = {}) => run({ run_id: id, status, ...extra }) as unknown as Run;
    expect(activeOrder([r('w', 'WAITING'), r('q', 'QUEUED', { queue_position: 1 }), r('p', 'PENDING')]).map((x) => x.run_id)).toEqual(['p', 'q', 'w']);
  });

  it('filters the history by parent from the URL, and by typing a parent run', async () => {
    const { api, calls } = fakeApi({
      'GET /v1/clusters': () => clusters,
      'GET /v1/runs': (c) => (c.query.get('parent') === 'run_p' ? { items: [child(1, 'FAILED'), child(0, 'SUCCEEDED')] } : { items: [] }),
    });
    renderApp('/runs?parent=run_p', api);
    const history = await screen.findByRole('table', { name: /finished runs/i });
    expect(within(history).getAllByTestId('array-index').map((e) => e.textContent)).toEqual([' [1]', ' [0]']);
    expect(within(screen.getByTestId('relation-filter')).getByRole('link', { name: 'run_p' }).getAttribute('href')).toBe('/runs/run_p');
    expect((screen.getByLabelText('Parent run') as HTMLInputElement).value).toBe('run_p');
    expect(calls.filter((c) => c.path === '/v1/runs').every((c) => c.query.get('parent') === 'run_p')).toBe(true);
    fireEvent.change(screen.getByLabelText('Parent run'), { target: { value: 'run_other' } });
    await waitFor(() => expect(calls.some((c) => c.path === '/v1/runs' && c.query.get('parent') === 'run_other')).toBe(true));
  });

  it('shows what a WAITING run waits for, each a link with its status', async () => {
    const { api } = fakeApi({
      ...noEvents,
      'GET /v1/runs/:id': (c) =>
        ({
          '/v1/runs/run_01': run({ status: 'WAITING', wait_reason: 'dependencies', after: ['run_a', 'run_b'], status_reason: 'waiting for run_a', started_at: undefined }),
          '/v1/runs/run_a': run({ run_id: 'run_a', alias: 'extract', status: 'RUNNING' }),
          '/v1/runs/run_b': run({ run_id: 'run_b', alias: 'load', status: 'SUCCEEDED' }),
        })[c.path] ?? problem(404, 'Not Found'),
    });
    renderApp('/runs/run_01', api);
    expect((await screen.findByTestId('status-line')).textContent).toBe('WAITING: waiting for run_a');
    const waits = screen.getByRole('region', { name: 'Waits for' });
    expect(within(waits).getByRole('link', { name: 'run_a' }).getAttribute('href')).toBe('/runs/run_a');
    await within(waits).findByText('extract');
    expect(within(waits).getByText('RUNNING').className).toContain('status-running');
    expect(within(waits).getByText('SUCCEEDED')).toBeTruthy();
    expect(screen.getByRole('button', { name: 'Stop' })).toBeTruthy();
  });

  it("links a child to its array and shows its index and item", async () => {
    const { api } = fakeApi({ ...noEvents, 'GET /v1/runs/:id': () => run({ status: 'SUCCEEDED', parent: 'run_p', array_index: 7, array_item: { day: '2026-12-07' } }) });
    renderApp('/runs/run_01', api);
    expect((await screen.findByRole('link', { name: 'array run_p' })).getAttribute('href')).toBe('/runs/run_p');
    expect(screen.getByTestId('array-index').textContent).toContain('7');
    expect(screen.getByTestId('array-item').textContent).toBe('{"day":"2026-12-07"}');
  });
});

describe('an array parent', () => {
  const parent = (over: Record<string, unknown> = {}) =>
    run({
      run_id: 'run_p',
      status: 'FAILED',
      reason_code: 'children_failed',
      status_reason: 'children 1, 3 failed',
      started_at: undefined,
      array: { size: 600, created: 600, summary: { counts: { SUCCEEDED: 597, FAILED: 2, STOPPED: 1 }, ended: 600, failed_indexes: [1, 3, 599] } },
      ...over,
    });
  // 600 children over two pages of 500, newest (highest index) first.
  const all = Array.from({ length: 600 }, (_, i) => child(i, i === 1 || i === 3 ? 'FAILED' : i === 599 ? 'STOPPED' : 'SUCCEEDED')).reverse();
  const routes = (p: ReturnType<typeof parent>, retries: string[] = [], stops: string[] = []) => ({
    ...noEvents,
    'GET /v1/clusters': () => clusters,
    'GET /v1/runs/:id': (c: { path: string }) => (c.path === '/v1/runs/run_p' ? p : c.path === '/v1/runs/run_new' ? parent({ run_id: 'run_new', status: 'WAITING', array: { size: 3, created: 0, retry_of: 'run_p', listed: true } }) : run({ run_id: c.path.split('/')[3], status: 'FAILED' })),
    'GET /v1/runs': (c: { query: URLSearchParams }) => {
      if (c.query.get('parent') !== 'run_p') return { items: [] };
      const from = Number(c.query.get('next_token') ?? 0);
      const limit = Number(c.query.get('limit'));
      return { items: all.slice(from, from + limit), next_token: from + limit < all.length ? String(from + limit) : undefined };
    },
    'POST /v1/runs/:id/retry-failed': (c: { path: string }) => {
      retries.push(c.path);
      return parent({ run_id: 'run_new', status: 'WAITING', array: { size: 3, created: 0, retry_of: 'run_p', listed: true } });
    },
    'POST /v1/runs/:id/stop': (c: { path: string }) => {
      stops.push(c.path);
      return p;
    },
  });

  it('shows the summary, a progress bar and every child in a grid coloured by status, read 500 at a time', async () => {
    const { api, calls } = fakeApi(routes(parent()));
    renderApp('/runs/run_p', api);
    const grid = await screen.findByTestId('child-grid');
    await waitFor(() => expect(grid.querySelectorAll('a.cell').length).toBe(600));
    const pages = calls.filter((c) => c.path === '/v1/runs');
    expect(pages.map((c) => c.query.get('limit'))).toEqual(['500', '500']);
    expect(pages[1].query.get('next_token')).toBe('500');
    // In index order, each with its index and status, linking to the child.
    const cells = grid.querySelectorAll('a.cell');
    expect(cells[0].getAttribute('title')).toBe('0: SUCCEEDED');
    expect(cells[3].getAttribute('title')).toBe('3: FAILED');
    expect(cells[3].className).toBe('cell s-failed');
    expect(cells[599].className).toBe('cell s-stopped');
    expect(cells[3].getAttribute('href')).toBe('/runs/run_c3');
    expect(grid.querySelectorAll('.s-succeeded').length).toBe(597);
    // The summary: counts by status, a progress bar, the failed indexes as links.
    expect(screen.getByTestId('count-SUCCEEDED').textContent).toBe('597');
    expect(screen.getByTestId('count-FAILED').textContent).toBe('2');
    const bar = screen.getByRole('progressbar', { name: 'Children ended' });
    expect(bar.getAttribute('aria-valuenow')).toBe('600');
    expect(bar.getAttribute('aria-valuemax')).toBe('600');
    expect(within(screen.getByTestId('failed-indexes')).getByRole('link', { name: '599' }).getAttribute('href')).toBe('/runs/run_c599');
    expect(screen.getByRole('link', { name: 'All children' }).getAttribute('href')).toBe('/runs?parent=run_p');
    // A parent runs nothing itself: no log viewer.
    expect(screen.queryByTestId('log-scroll')).toBeNull();
    expect(calls.some((c) => c.path.endsWith('/logs'))).toBe(false);
  });

  it('opens a child from the grid by click and by keyboard (one Tab stop, arrows move)', async () => {
    const { api } = fakeApi(routes(parent()));
    renderApp('/runs/run_p', api);
    const grid = await screen.findByTestId('child-grid');
    await waitFor(() => expect(grid.querySelectorAll('a.cell').length).toBe(600));
    expect([...grid.querySelectorAll('[tabindex="0"]')].length).toBe(1);
    const first = grid.querySelector<HTMLElement>('[data-pos="0"]')!;
    first.focus();
    fireEvent.keyDown(first, { key: 'ArrowRight' });
    expect(document.activeElement?.getAttribute('title')).toBe('1: FAILED');
    fireEvent.keyDown(document.activeElement!, { key: 'End' });
    expect(document.activeElement?.getAttribute('title')).toBe('599: STOPPED');
    fireEvent.click(grid.querySelector('[data-index="3"]')!);
    await waitFor(() => expect(screen.getByText('run_c3', { selector: '.breadcrumb .mono' })).toBeTruthy());
  });

  it('retries the failed children and goes to the new array', async () => {
    const retries: string[] = [];
    const { api } = fakeApi(routes(parent(), retries));
    renderApp('/runs/run_p', api);
    fireEvent.click(await screen.findByRole('button', { name: 'Retry failed (3)' }));
    await waitFor(() => expect(retries).toEqual(['/v1/runs/run_p/retry-failed']));
    await waitFor(() => expect(screen.getByTestId('array-progress').textContent).toContain('runs again the failed children of run_p'));
    expect(within(screen.getByTestId('array-progress')).getByRole('link', { name: 'run_p' }).getAttribute('href')).toBe('/runs/run_p');
  });

  it('stops an active array after a confirmation that says its children stop too; no Retry while it runs', async () => {
    const stops: string[] = [];
    const active = parent({ status: 'WAITING', wait_reason: 'children', reason_code: undefined, status_reason: 'made 600 of its 600 children', array: { size: 600, created: 600, summary: { counts: { RUNNING: 2, QUEUED: 598 }, ended: 0, failed_indexes: [] } } });
    const { api } = fakeApi(routes(active, [], stops));
    renderApp('/runs/run_p', api);
    await screen.findByTestId('child-grid');
    expect(screen.queryByRole('button', { name: /Retry failed/ })).toBeNull();
    expect((await screen.findByTestId('status-line')).textContent).toBe('WAITING: made 600 of its 600 children');
    fireEvent.click(screen.getByRole('button', { name: 'Stop' }));
    const dialog = screen.getByRole('alertdialog', { name: 'Stop this run?' });
    expect(dialog.textContent).toContain('Its children that have not ended (600) are stopped too.');
    fireEvent.click(within(dialog).getByRole('button', { name: 'Stop run' }));
    await waitFor(() => expect(stops).toEqual(['/v1/runs/run_p/stop']));
  });

  it('lays out a retry (listed indexes) and children not made yet', () => {
    const cells = gridCells(3, true, [child(7, 'RUNNING'), child(2, 'QUEUED')] as unknown as Run[]);
    expect(cells.map((c) => c.index)).toEqual([2, 7, undefined]);
    const plain = gridCells(4, false, [child(1, 'RUNNING')] as unknown as Run[]);
    expect(plain.map((c) => c.run?.status ?? '-')).toEqual(['-', 'RUNNING', '-', '-']);
  });
});

describe('launch: array and run after', () => {
  const launchRoutes = (bodies: unknown[], answer: (n: number) => unknown = () => run({ run_id: 'run_new', status: 'WAITING' })) => ({
    ...noEvents,
    'GET /v1/definitions/:ref': () => definition,
    'GET /v1/clusters': () => clusters,
    'GET /v1/runs/:id': () => run({ run_id: 'run_new', status: 'WAITING' }),
    'POST /v1/runs': (c: { body: unknown }) => {
      bodies.push(c.body);
      return answer(bodies.length);
    },
  });

  it('launches an array of N children after other runs', async () => {
    const bodies: unknown[] = [];
    const { api } = fakeApi(launchRoutes(bodies));
    renderApp('/launch/hello', api);
    fireEvent.click(await screen.findByRole('radio', { name: 'An array of N children' }));
    fireEvent.change(screen.getByLabelText('Children'), { target: { value: '20' } });
    fireEvent.change(screen.getByLabelText('Run after'), { target: { value: 'run_a, run_b' } });
    fireEvent.click(screen.getByRole('button', { name: 'Launch' }));
    await waitFor(() => expect(bodies).toHaveLength(1));
    expect(bodies[0]).toMatchObject({ definition: 'def_01', array: { size: 20 }, after: ['run_a', 'run_b'] });
  });

  it('launches one child per item (JSON Lines too)', async () => {
    const bodies: unknown[] = [];
    const { api } = fakeApi(launchRoutes(bodies));
    renderApp('/launch/hello', api);
    fireEvent.click(await screen.findByRole('radio', { name: 'One child per item' }));
    fireEvent.change(screen.getByLabelText('Items (JSON)'), { target: { value: '{"day":"mon"}\n\n{"day":"tue"}' } });
    fireEvent.click(screen.getByRole('button', { name: 'Launch' }));
    await waitFor(() => expect(bodies).toHaveLength(1));
    expect(bodies[0]).toMatchObject({ array: { items: [{ day: 'mon' }, { day: 'tue' }] } });
    expect(bodies[0]).not.toHaveProperty('after');
  });

  it('checks the array and the run ids before sending, and shows the API errors at their box', async () => {
    const bodies: unknown[] = [];
    const { api } = fakeApi(launchRoutes(bodies, () => problem(400, 'Invalid input', [{ field: 'after[0]', message: 'no run run_gone' }])));
    renderApp('/launch/hello', api);
    fireEvent.click(await screen.findByRole('radio', { name: 'An array of N children' }));
    fireEvent.change(screen.getByLabelText('Children'), { target: { value: '10001' } });
    fireEvent.change(screen.getByLabelText('Run after'), { target: { value: 'nope' } });
    fireEvent.click(screen.getByRole('button', { name: 'Launch' }));
    expect(await screen.findByText(/a whole number from 1 to 10,000/)).toBeTruthy();
    expect(screen.getByText('“nope” is not a run id (run_…)')).toBeTruthy();
    expect(screen.getByText('Not launched: 2 fields need a fix.')).toBeTruthy();
    await waitFor(() => expect(document.activeElement?.getAttribute('name')).toBe('array.size'));
    expect(bodies).toEqual([]);
    fireEvent.change(screen.getByLabelText('Children'), { target: { value: '5' } });
    fireEvent.change(screen.getByLabelText('Run after'), { target: { value: 'run_gone' } });
    fireEvent.click(screen.getByRole('button', { name: 'Launch' }));
    expect(await screen.findByText('after[0]: no run run_gone', { selector: '.field-error' })).toBeTruthy();
    expect(screen.getByLabelText('Run after').getAttribute('aria-invalid')).toBe('true');
  });

  it('"Run again" of an array by size is an array of the same size', async () => {
    const bodies: unknown[] = [];
    const { api } = fakeApi({ ...launchRoutes(bodies), 'GET /v1/runs/:id': () => run({ run_id: 'run_p', status: 'SUCCEEDED', array: { size: 12, created: 12 } }) });
    renderApp('/launch/def_01?from=run_p', api);
    expect(((await screen.findByLabelText('Children')) as HTMLInputElement).value).toBe('12');
    expect((screen.getByRole('radio', { name: 'An array of N children' }) as HTMLInputElement).checked).toBe(true);
    fireEvent.click(screen.getByRole('button', { name: 'Launch' }));
    await waitFor(() => expect(bodies).toHaveLength(1));
    expect(bodies[0]).toMatchObject({ array: { size: 12 } });
  });

  it('reads items as a JSON array or JSON Lines, and says what is wrong', () => {
    expect(parseItems('[{"a":1},{"a":2}]').items).toEqual([{ a: 1 }, { a: 2 }]);
    expect(parseItems('{"a":1}\n{"a":2}\n').items).toHaveLength(2);
    expect(parseItems('[{"a":1}, 2]').error).toBe('item 1 is not a JSON object');
    expect(parseItems('{"a":1}\n{oops').error).toBe('line 2 is not JSON');
    expect(parseItems('[]').error).toBe('there are no items');
    expect(afterIds(' run_a,run_b  run_c ')).toEqual(['run_a', 'run_b', 'run_c']);
  });
});
