import type {
  Cluster,
  CostGroupBy,
  CostReport,
  Definition,
  DefinitionFilter,
  DefinitionInput,
  FieldError,
  LaunchInput,
  List,
  LogPage,
  Run,
  RunEvent,
  RunFilter,
  Schedule,
  ScheduleInput,
} from './types';

/**
 * ApiError is every failure of an API call, made readable: an RFC 9457 problem
 * document when the server sent one, otherwise a message built from what happened.
 * status is 0 when the server could not be reached at all.
 */
export class ApiError extends Error {
  readonly status: number;
  readonly title: string;
  readonly detail?: string;
  readonly fieldErrors: FieldError[];

  constructor(status: number, title: string, detail?: string, fieldErrors: FieldError[] = []) {
    super(detail ? `${title}: ${detail}` : title);
    this.name = 'ApiError';
    this.status = status;
    this.title = title;
    this.detail = detail;
    this.fieldErrors = fieldErrors;
  }

  /** fieldError returns the message for one field ("cpu", "env.FOO"), if any. */
  fieldError(field: string): string | undefined {
    return this.fieldErrors.find((e) => e.field === field)?.message;
  }
}

/** TokenSource returns the bearer token to send, or null when there is no sign-in. */
export type TokenSource = () => Promise<string | null>;

type Query = Record<string, string | number | boolean | string[] | undefined | null>;

/** queryString encodes a filter; arrays repeat the key (status=A&status=B), empty values are left out. */
export function queryString(q: Query): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) {
    if (v === undefined || v === null || v === '') continue;
    if (Array.isArray(v)) v.forEach((x) => p.append(k, x));
    else p.append(k, String(v));
  }
  const s = p.toString();
  return s ? `?${s}` : '';
}

const enc = encodeURIComponent;

/** Api is a typed client of the Flotilla REST API v1. */
export class Api {
  constructor(
    private readonly baseUrl: string,
    private readonly token: TokenSource = async () => null,
    private readonly fetchFn: typeof fetch = (...a) => fetch(...a),
    /** onUnauthorized is called on a 401 (e.g. to sign in again). */
    private readonly onUnauthorized?: () => void,
  ) {}

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const url = this.baseUrl.replace(/\/+$/, '') + path;
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const token = await this.token();
    if (token) headers.Authorization = `Bearer ${token}`;
    let res: Response;
    try {
      res = await this.fetchFn(url, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (e) {
      throw new ApiError(0, 'Cannot reach the Flotilla API', `${method} ${url} failed (${(e as Error).message}). Is the server running?`);
    }
    if (res.status === 401) this.onUnauthorized?.();
    if (!res.ok) throw await errorFrom(res);
    if (res.status === 204) return undefined as T;
    const text = await res.text();
    if (!text) return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new ApiError(res.status, 'Unreadable answer from the API', `${method} ${path} did not return JSON`);
    }
  }

  // Definitions
  listDefinitions(f: DefinitionFilter = {}) {
    return this.request<List<Definition>>('GET', `/v1/definitions${queryString({ ...f })}`);
  }
  getDefinition(ref: string) {
    return this.request<Definition>('GET', `/v1/definitions/${enc(ref)}`);
  }
  getDefinitionRevision(ref: string, n: number) {
    return this.request<Definition>('GET', `/v1/definitions/${enc(ref)}/revisions/${n}`);
  }
  createDefinition(d: DefinitionInput) {
    return this.request<Definition>('POST', '/v1/definitions', d);
  }
  updateDefinition(ref: string, d: DefinitionInput) {
    return this.request<Definition>('PATCH', `/v1/definitions/${enc(ref)}`, d);
  }
  deleteDefinition(ref: string) {
    return this.request<void>('DELETE', `/v1/definitions/${enc(ref)}`);
  }

  // Runs
  listRuns(f: RunFilter = {}) {
    return this.request<List<Run>>('GET', `/v1/runs${queryString({ ...f })}`);
  }
  getRun(id: string) {
    return this.request<Run>('GET', `/v1/runs/${enc(id)}`);
  }
  launch(input: LaunchInput) {
    return this.request<Run>('POST', '/v1/runs', input);
  }
  stopRun(id: string) {
    return this.request<Run | undefined>('POST', `/v1/runs/${enc(id)}/stop`);
  }
  /** retryFailed launches a new array of an ended array's failed and stopped children (the same one when asked again). */
  retryFailed(id: string) {
    return this.request<Run>('POST', `/v1/runs/${enc(id)}/retry-failed`);
  }
  getLogs(id: string, nextToken?: string, limit?: number) {
    return this.request<LogPage>('GET', `/v1/runs/${enc(id)}/logs${queryString({ next_token: nextToken, limit })}`);
  }
  getRunEvents(id: string) {
    return this.request<List<RunEvent>>('GET', `/v1/runs/${enc(id)}/events`);
  }

  // Clusters
  listClusters() {
    return this.request<List<Cluster>>('GET', '/v1/clusters');
  }

  // Costs
  getCosts(groupBy: CostGroupBy, since?: string, until?: string) {
    return this.request<CostReport>('GET', `/v1/costs${queryString({ group_by: groupBy, since, until })}`);
  }

  // Schedules
  listSchedules() {
    return this.request<List<Schedule>>('GET', '/v1/schedules');
  }
  createSchedule(s: ScheduleInput) {
    return this.request<Schedule>('POST', '/v1/schedules', s);
  }
  updateSchedule(id: string, s: ScheduleInput) {
    return this.request<Schedule>('PATCH', `/v1/schedules/${enc(id)}`, s);
  }
  deleteSchedule(id: string) {
    return this.request<void>('DELETE', `/v1/schedules/${enc(id)}`);
  }
  /** runScheduleNow launches the schedule's definition at once, as the caller. */
  runScheduleNow(id: string, idempotencyKey?: string) {
    return this.request<Run>('POST', `/v1/schedules/${enc(id)}/run`, idempotencyKey ? { idempotency_key: idempotencyKey } : {});
  }
  /** previewSchedule answers an expression's next fire times in a zone, storing nothing. */
  previewSchedule(expression: string, timezone: string) {
    return this.request<{ expression: string; timezone: string; next_fire_times: string[] }>(
      'GET',
      `/v1/schedules/preview${queryString({ expression, timezone })}`,
    );
  }
}

const statusTitles: Record<number, string> = {
  400: 'Invalid input',
  401: 'Not signed in',
  403: 'Not allowed',
  404: 'Not found',
  409: 'Conflict',
  413: 'Request too large',
  429: 'Too many requests; try again shortly',
};

async function errorFrom(res: Response): Promise<ApiError> {
  const fallback = statusTitles[res.status] ?? (res.status >= 500 ? 'The server failed' : `HTTP ${res.status}`);
  let text = '';
  try {
    text = await res.text();
  } catch {
    /* body unreadable: keep the status */
  }
  try {
    const p = JSON.parse(text) as { title?: string; detail?: string; errors?: FieldError[]; message?: string; error?: string };
    const errors = Array.isArray(p.errors) ? p.errors.filter((e) => e && typeof e.field === 'string') : [];
    return new ApiError(res.status, p.title || fallback, p.detail || p.message || p.error, errors);
  } catch {
    const detail = text.trim().slice(0, 300) || undefined;
    return new ApiError(res.status, fallback, detail);
  }
}
