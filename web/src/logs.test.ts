import { describe, expect, it } from 'vitest';
import { fakeApi, problem } from './testing';
import { followLogs, LogBuffer } from './logs';

describe('LogBuffer', () => {
  it('splits messages into lines, keeps the last redraw of a \\r line, and carries colour', () => {
    const b = new LogBuffer();
    b.append([
      { timestamp: 1, message: 'one\ntwo\n' },
      { timestamp: 2, message: '10%\r50%\r100%' },
      { timestamp: 3, message: '\x1b[31mred' },
      { timestamp: 4, message: 'still red' },
    ]);
    expect(b.lines.map((l) => l.raw)).toEqual(['one', 'two', '100%', '\x1b[31mred', 'still red']);
    expect(b.lines[4].segments[0].style.fg).toBe('#cd3131');
  });
});

describe('followLogs', () => {
  it('follows next_token until complete, waiting on empty pages and retrying errors with the same token', async () => {
    const pages = [
      { events: [{ timestamp: 't1', message: 'a' }], next_token: 'A', complete: false },
      { events: [], next_token: 'A', complete: false },
      'error',
      { events: [{ timestamp: 't2', message: 'b' }], next_token: 'B', complete: false },
      { events: [], next_token: 'B', complete: true },
    ];
    let i = 0;
    const { api, calls } = fakeApi({
      'GET /v1/runs/:id/logs': () => {
        const p = pages[i++];
        return p === 'error' ? problem(503, 'Unavailable') : p;
      },
    });
    const got: string[] = [];
    const errors: (Error | null)[] = [];
    let completed = false;
    await followLogs(
      api,
      'run_1',
      (events, complete) => {
        got.push(...events.map((e) => e.message));
        completed ||= complete;
      },
      (e) => errors.push(e),
      new AbortController().signal,
      { idleMs: 1, errorMs: 1 },
    );
    expect(got).toEqual(['a', 'b']);
    expect(completed).toBe(true);
    expect(calls.map((c) => c.query.get('next_token'))).toEqual([null, 'A', 'A', 'A', 'B']);
    expect(errors.some((e) => e !== null)).toBe(true);
    expect(errors.at(-1)).toBeNull();
  });

  it('stops when aborted', async () => {
    const { api, calls } = fakeApi({ 'GET /v1/runs/:id/logs': () => ({ events: [], complete: false }) });
    const ctl = new AbortController();
    const done = followLogs(api, 'run_1', () => {}, () => {}, ctl.signal, { idleMs: 10_000 });
    await new Promise((r) => setTimeout(r, 20));
    ctl.abort();
    await done;
    expect(calls).toHaveLength(1);
  });
});
