import { describe, expect, it, vi } from 'vitest';
import { fakeApi, json, problem } from '../testing';
import { Api, ApiError, queryString } from './client';

describe('queryString', () => {
  it('repeats arrays and drops empty values', () => {
    expect(queryString({ status: ['QUEUED', 'RUNNING'], cluster: 'default', owner: '', since: undefined, limit: 50 })).toBe(
      '?status=QUEUED&status=RUNNING&cluster=default&limit=50',
    );
    expect(queryString({})).toBe('');
  });
});

describe('Api', () => {
  it('lists runs with repeated status filters and the cursor', async () => {
    const { api, calls } = fakeApi({ 'GET /v1/runs': () => ({ items: [], next_token: 'n2' }) });
    const page = await api.listRuns({ status: ['FAILED', 'STOPPED'], definition: 'hello', next_token: 'n1', limit: 10 });
    expect(page.next_token).toBe('n2');
    expect(calls[0].query.getAll('status')).toEqual(['FAILED', 'STOPPED']);
    expect(calls[0].query.get('definition')).toBe('hello');
    expect(calls[0].query.get('next_token')).toBe('n1');
  });

  it('turns a problem document into an ApiError with field errors', async () => {
    const { api } = fakeApi({
      'POST /v1/runs': () => problem(400, 'Invalid launch', [{ field: 'cpu', message: 'must be one of 256, 512, 1024' }], 'cpu is not a Fargate size'),
    });
    const err = await api.launch({ definition: 'hello', cpu: 3 }).catch((e) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err.status).toBe(400);
    expect(err.title).toBe('Invalid launch');
    expect(err.detail).toBe('cpu is not a Fargate size');
    expect(err.fieldError('cpu')).toBe('must be one of 256, 512, 1024');
    expect(err.fieldError('memory')).toBeUndefined();
  });

  it('explains errors that are not problem documents', async () => {
    const { api } = fakeApi({ 'GET /v1/clusters': () => new Response('<html>bad gateway</html>', { status: 502 }) });
    const err = await api.listClusters().catch((e) => e);
    expect(err.status).toBe(502);
    expect(err.title).toBe('The server failed');
    expect(err.detail).toContain('bad gateway');
  });

  it('says when the server cannot be reached', async () => {
    const api = new Api('http://127.0.0.1:9', async () => null, vi.fn().mockRejectedValue(new TypeError('Failed to fetch')));
    const err = await api.getRun('run_1').catch((e) => e);
    expect(err.status).toBe(0);
    expect(err.message).toMatch(/Cannot reach the Flotilla API/);
    expect(err.message).toContain('http://127.0.0.1:9/v1/runs/run_1');
  });

  it('sends the bearer token and JSON body to the base URL, and calls back on 401', async () => {
    const fetchFn = vi.fn().mockResolvedValueOnce(json({ run_id: 'r1' }, 202)).mockResolvedValueOnce(problem(401, 'Unauthorized'));
    const onUnauthorized = vi.fn();
    const api = new Api('https://api.example.test/', async () => 'tok', fetchFn, onUnauthorized);
    await api.launch({ definition: 'hello', env: { A: '1' } });
    const [url, init] = fetchFn.mock.calls[0];
    expect(url).toBe('https://api.example.test/v1/runs');
    expect(init.headers.Authorization).toBe('Bearer tok');
    expect(init.headers['Content-Type']).toBe('application/json');
    expect(JSON.parse(init.body)).toEqual({ definition: 'hello', env: { A: '1' } });
    await expect(api.getRun('r1')).rejects.toThrow(ApiError);
    expect(onUnauthorized).toHaveBeenCalledOnce();
  });

  it('accepts 204 with no body, and escapes refs in paths', async () => {
    const { api, calls } = fakeApi({ 'DELETE /v1/definitions/:ref': () => new Response(null, { status: 204 }) });
    await expect(api.deleteDefinition('a b/c')).resolves.toBeUndefined();
    expect(calls[0].path).toBe('/v1/definitions/a%20b%2Fc');
  });

  it('pages logs with next_token', async () => {
    const { api, calls } = fakeApi({ 'GET /v1/runs/:id/logs': () => ({ events: [{ timestamp: 't', message: 'x' }], next_token: 'b', complete: false }) });
    const page = await api.getLogs('run_1', 'a');
    expect(page.events).toHaveLength(1);
    expect(calls[0].query.get('next_token')).toBe('a');
  });
});
