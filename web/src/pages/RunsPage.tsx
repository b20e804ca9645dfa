import { useInfiniteQuery, useQuery } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { Link, useSearchParams } from 'react-router';
import { useApi } from '../api/context';
import { ACTIVE_STATUSES, ALL_STATUSES, TERMINAL_STATUSES, type Run, type RunFilter, type RunStatus } from '../api/types';
import { ErrorNotice, Loading, StatusBadge } from '../components/common';
import { formatDuration, formatTime, fromLocalInput, plainWords, runDuration, toLocalInput } from '../format';

/** POLL_MS is how often lists refresh while the page is open. */
export const POLL_MS = 2000;

const FILTER_KEYS = ['cluster', 'definition', 'owner', 'tag', 'since', 'until'] as const;

/** filterFromParams reads the runs filter from the page URL (?status=RUNNING&status=FAILED&cluster=…). */
export function filterFromParams(p: URLSearchParams): RunFilter {
  const f: RunFilter = {};
  const status = p.getAll('status').filter((s): s is RunStatus => (ALL_STATUSES as string[]).includes(s));
  if (status.length) f.status = status;
  for (const k of FILTER_KEYS) {
    const v = p.get(k);
    if (v) f[k] = v;
  }
  return f;
}

export function paramsFromFilter(f: RunFilter): URLSearchParams {
  const p = new URLSearchParams();
  f.status?.forEach((s) => p.append('status', s));
  for (const k of FILTER_KEYS) if (f[k]) p.set(k, f[k]!);
  return p;
}

export function RunsTable({ runs, caption, showDefinition = true }: { runs: Run[]; caption: string; showDefinition?: boolean }) {
  const now = Date.now();
  return (
    <table className="runs">
      <caption>{caption}</caption>
      <thead>
        <tr>
          <th scope="col">Status</th>
          <th scope="col">{showDefinition ? 'Definition / run' : 'Run'}</th>
          <th scope="col">Cluster</th>
          <th scope="col">Owner</th>
          <th scope="col">Queued</th>
          <th scope="col">Started</th>
          <th scope="col">Duration</th>
        </tr>
      </thead>
      <tbody>
        {runs.map((r) => (
          <tr key={r.run_id} data-run-id={r.run_id}>
            <td>
              <StatusBadge status={r.status} />
              {r.status === 'QUEUED' && r.queue_position ? <span className="muted small"> #{r.queue_position} in line</span> : null}
              {r.reason_code && r.status !== 'SUCCEEDED' ? <div className="muted small">{plainWords(r.reason_code)}</div> : null}
            </td>
            <td>
              <Link to={`/runs/${encodeURIComponent(r.run_id)}`}>{showDefinition ? r.alias || r.definition_id : r.run_id}</Link>
              {showDefinition && <div className="muted small mono">{r.run_id}</div>}
            </td>
            <td>{r.cluster}</td>
            <td title={r.owner}>{r.owner_name || r.owner || "—"}</td>
            <td>
              <time dateTime={r.queued_at}>{formatTime(r.queued_at)}</time>
            </td>
            <td>
              <time dateTime={r.started_at}>{formatTime(r.started_at)}</time>
            </td>
            <td>{formatDuration(runDuration(r, now))}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Filters({ filter, onApply, clusters }: { filter: RunFilter; onApply: (f: RunFilter) => void; clusters: string[] }) {
  const [f, setF] = useState<RunFilter>(filter);
  const set = (patch: Partial<RunFilter>) => setF((x) => ({ ...x, ...patch }));
  const toggle = (s: RunStatus, on: boolean) => {
    const cur = new Set(f.status ?? []);
    if (on) cur.add(s);
    else cur.delete(s);
    set({ status: ALL_STATUSES.filter((x) => cur.has(x)) });
  };
  const submit = (e: FormEvent) => {
    e.preventDefault();
    onApply(f);
  };
  return (
    <form className="filters" onSubmit={submit} aria-label="Filter runs">
      <fieldset className="status-filter">
        <legend>Status</legend>
        {ALL_STATUSES.map((s) => (
          <label key={s}>
            <input type="checkbox" name="status" value={s} checked={f.status?.includes(s) ?? false} onChange={(e) => toggle(s, e.target.checked)} />
            {s}
          </label>
        ))}
      </fieldset>
      <div className="filter-fields">
        <label>
          Cluster
          <select value={f.cluster ?? ''} onChange={(e) => set({ cluster: e.target.value || undefined })}>
            <option value="">any</option>
            {[...new Set([...clusters, ...(f.cluster ? [f.cluster] : [])])].map((c) => (
              <option key={c}>{c}</option>
            ))}
          </select>
        </label>
        <label>
          Definition
          <input name="definition" value={f.definition ?? ''} placeholder="alias or id" onChange={(e) => set({ definition: e.target.value || undefined })} />
        </label>
        <label>
          Owner
          <input name="owner" value={f.owner ?? ''} onChange={(e) => set({ owner: e.target.value || undefined })} />
        </label>
        <label>
          Queued since
          <input type="datetime-local" name="since" value={toLocalInput(f.since)} onChange={(e) => set({ since: fromLocalInput(e.target.value) || undefined })} />
        </label>
        <label>
          Queued until
          <input type="datetime-local" name="until" value={toLocalInput(f.until)} onChange={(e) => set({ until: fromLocalInput(e.target.value) || undefined })} />
        </label>
      </div>
      <div className="actions">
        <button type="submit" className="primary">
          Apply filters
        </button>
        <button type="button" onClick={() => onApply({})}>
          Clear
        </button>
      </div>
    </form>
  );
}

/** RunsPage is the home page: active runs first, then the history, filtered by the URL. */
export function RunsPage() {
  const api = useApi();
  const [params, setParams] = useSearchParams();
  const filter = filterFromParams(params);
  const chosen = filter.status;
  const activeStatuses = chosen ? chosen.filter((s) => ACTIVE_STATUSES.includes(s)) : ACTIVE_STATUSES;
  const historyStatuses = chosen ? chosen.filter((s) => TERMINAL_STATUSES.includes(s)) : TERMINAL_STATUSES;
  const base = { ...filter, status: undefined };

  const clusters = useQuery({ queryKey: ['clusters'], queryFn: () => api.listClusters() });
  const active = useQuery({
    queryKey: ['runs', 'active', base, activeStatuses],
    queryFn: () => api.listRuns({ ...base, status: activeStatuses, limit: 200 }),
    enabled: activeStatuses.length > 0,
    refetchInterval: POLL_MS,
  });
  const history = useInfiniteQuery({
    queryKey: ['runs', 'history', base, historyStatuses],
    queryFn: ({ pageParam }) => api.listRuns({ ...base, status: historyStatuses, limit: 50, next_token: pageParam }),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => last.next_token || undefined,
    enabled: historyStatuses.length > 0,
    refetchInterval: POLL_MS,
  });

  const filtered = params.toString() !== '';
  return (
    <section aria-labelledby="runs-h">
      <div className="page-head">
        <h1 id="runs-h">Runs</h1>
        <Link className="button primary" to="/definitions">
          Launch a job…
        </Link>
      </div>
      <Filters key={params.toString()} filter={filter} onApply={(f) => setParams(paramsFromFilter(f))} clusters={clusters.data?.items.map((c) => c.name) ?? []} />

      {activeStatuses.length > 0 && (
        <section aria-labelledby="active-h">
          <h2 id="active-h">Active</h2>
          {active.error ? (
            <ErrorNotice error={active.error} what="Could not load active runs" retry={() => active.refetch()} />
          ) : active.isPending ? (
            <Loading />
          ) : active.data.items.length === 0 ? (
            <p className="muted">No active runs{filtered ? ' match these filters' : ''}.</p>
          ) : (
            <RunsTable runs={active.data.items} caption="Active runs, newest first" />
          )}
        </section>
      )}

      {historyStatuses.length > 0 && (
        <section aria-labelledby="history-h">
          <h2 id="history-h">History</h2>
          {history.error ? (
            <ErrorNotice error={history.error} what="Could not load the history" retry={() => history.refetch()} />
          ) : history.isPending ? (
            <Loading />
          ) : history.data.pages[0].items.length === 0 ? (
            <p className="muted">No finished runs{filtered ? ' match these filters' : ''}.</p>
          ) : (
            <>
              <RunsTable runs={history.data.pages.flatMap((p) => p.items)} caption="Finished runs, newest first" />
              {history.hasNextPage && (
                <button type="button" onClick={() => history.fetchNextPage()} disabled={history.isFetchingNextPage}>
                  {history.isFetchingNextPage ? 'Loading…' : 'Load more'}
                </button>
              )}
            </>
          )}
        </section>
      )}
    </section>
  );
}
