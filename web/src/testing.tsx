// Test helpers: a fake Flotilla API behind fetch, and the app rendered at a URL.
import { render } from '@testing-library/react';
import { MemoryRouter } from 'react-router';
import { vi } from 'vitest';
import { Api } from './api/client';
import { App, newQueryClient } from './App';

export interface Call {
  method: string;
  path: string;
  query: URLSearchParams;
  body: unknown;
  headers: Record<string, string>;
}

type Handler = (call: Call) => unknown | Response | Promise<unknown | Response>;

export function json(body: unknown, status = 200, type = 'application/json'): Response {
  return new Response(body === undefined ? null : JSON.stringify(body), { status, headers: { 'Content-Type': type } });
}

export function problem(status: number, title: string, errors: { field: string; message: string }[] = [], detail?: string): Response {
  return json({ type: 'about:blank', title, status, detail, errors }, status, 'application/problem+json');
}

/**
 * fakeApi answers "METHOD /path" routes (":x" matches one segment). Unknown
 * routes answer 404 as a problem document, like the real server.
 */
export function fakeApi(routes: Record<string, Handler>) {
  const calls: Call[] = [];
  const table = Object.entries(routes).map(([k, h]) => {
    const [method, pattern] = k.split(' ');
    const re = new RegExp('^' + pattern.replace(/:[a-z_]+/g, '[^/]+') + '$');
    return { method, re, h };
  });
  const fetchFn = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = new URL(String(input), 'http://flotilla.test');
    const call: Call = {
      method: init?.method ?? 'GET',
      path: url.pathname,
      query: url.searchParams,
      body: init?.body ? JSON.parse(String(init.body)) : undefined,
      headers: (init?.headers ?? {}) as Record<string, string>,
    };
    calls.push(call);
    const route = table.find((r) => r.method === call.method && r.re.test(call.path));
    if (!route) return problem(404, 'Not Found', [], `no route ${call.method} ${call.path}`);
    const out = await route.h(call);
    return out instanceof Response ? out : json(out);
  });
  const api = new Api('', async () => null, fetchFn as unknown as typeof fetch);
  return { api, calls, fetchFn };
}

export function renderApp(path: string, api: Api) {
  const queryClient = newQueryClient();
  queryClient.setDefaultOptions({ queries: { ...queryClient.getDefaultOptions().queries, retry: false } });
  return render(
    <MemoryRouter initialEntries={[path]}>
      <App api={api} queryClient={queryClient} />
    </MemoryRouter>,
  );
}

export const definition = {
  definition_id: 'def_01',
  alias: 'hello',
  group_name: 'demo',
  image: 'alpine:3',
  command: 'echo hello',
  cpu: 256,
  memory: 512,
  gpu: 0,
  env: { GREETING: 'hi' },
  tags: ['demo'],
  timeout_seconds: 600,
  retry: { max_attempts: 2 },
  revision: 3,
  created_at: '2026-11-01T10:00:00Z',
  updated_at: '2026-11-02T10:00:00Z',
};

export function run(over: Record<string, unknown> = {}) {
  return {
    run_id: 'run_01',
    definition_id: 'def_01',
    alias: 'hello',
    revision: 3,
    cluster: 'default',
    status: 'RUNNING',
    owner: 'ada',
    image: 'alpine:3',
    command: 'echo hello',
    cpu: 256,
    memory: 512,
    env: { GREETING: 'hi' },
    tags: [],
    attempt: 1,
    attempts: [{ attempt: 1, task_id: 'task-1', queued_at: '2026-11-26T10:00:00Z', started_at: '2026-11-26T10:00:02Z' }],
    queued_at: '2026-11-26T10:00:00Z',
    started_at: '2026-11-26T10:00:02Z',
    ...over,
  };
}
