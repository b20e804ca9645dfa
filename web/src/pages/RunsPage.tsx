import { useInfiniteQuery, useQuery } from '@tanstack/react-query';
import { useEffect, useMemo, useRef, useState } from 'react';
import { Link, useSearchParams } from 'react-router';
import type { Api } from '../api/client';
import { useApi } from '../api/context';
import { ACTIVE_STATUSES, ALL_STATUSES, TERMINAL_STATUSES, type Definition, type Run, type RunFilter, type RunStatus } from '../api/types';
import { ErrorNotice, Loading, Money, RelTime, StaleNotice, StatusBadge, TableScroll, useNow, useTitle } from '../components/common';
import { formatDuration, formatUsd, outcome, parseTime, runDuration, toLocalInput, fromLocalInput, zoneLabel } from '../format';

/** POLL_MS is how often lists refresh while the page is open. */
export const POLL_MS = 2000;

const FILTER_KEYS = ['cluster', 'definition', 'owner', 'tag', 'since', 'until', 'parent', 'after'] as const;

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

/**
 * matchDefinitions resolves what was typed in the definition filter: an exact
 * id or alias is that one definition; otherwise every alias containing the
 * text, else every alias holding its letters in order ("trmod" → train-model).
 */
export function matchDefinitions(text: string, defs: Pick<Definition, 'definition_id' | 'alias'>[]): Pick<Definition, 'definition_id' | 'alias'>[] {
  const q = text.trim().toLowerCase();
  if (!q) return [];
  const exact = defs.filter((d) => d.definition_id.toLowerCase() === q || d.alias.toLowerCase() === q);
  if (exact.length) return exact;
  const sub = defs.filter((d) => d.alias.toLowerCase().includes(q));
  if (sub.length) return sub;
  const inOrder = (a: string) => {
    let i = 0;
    for (const c of a) if (c === q[i]) i++;
    return i === q.length;
  };
  return defs.filter((d) => inOrder(d.alias.toLowerCase()));
}

/** MAX_DEFINITIONS bounds how many matching definitions one view asks about. */
const MAX_DEFINITIONS = 10;

type Cursor = Record<string, string>;

/**
 * listRunsOf lists runs of several definitions at once: one request per
 * definition (the API filters on one), merged newest first. The cursor keeps
 * each definition's own next_token, so "Load more" continues each list.
 */
export async function listRunsOf(api: Api, f: RunFilter, defIds: string[] | null, cursor?: Cursor): Promise<{ items: Run[]; next?: Cursor }> {
  if (defIds === null) {
    const page = await api.listRuns({ ...f, next_token: cursor?.[''] });
    return { items: page.items, next: page.next_token ? { '': page.next_token } : undefined };
  }
  const ids = cursor ? Object.keys(cursor) : defIds;
  const pages = await Promise.all(ids.map((id) => api.listRuns({ ...f, definition: id, next_token: cursor?.[id] })));
  const items = pages.flatMap((p) => p.items).sort((a, b) => (parseTime(b.queued_at) ?? 0) - (parseTime(a.queued_at) ?? 0));
  const next: Cursor = {};
  pages.forEach((p, i) => {
    if (p.next_token) next[ids[i]] = p.next_token;
  });
  return { items, next: Object.keys(next).length ? next : undefined };
}

export type SortKey = 'queued' | 'started' | 'duration';

function sortValue(r: Run, key: SortKey, now: number): number {
  if (key === 'duration') return runDuration(r, now) ?? -1;
  return parseTime(key === 'queued' ? r.queued_at : r.started_at) ?? -1;
}

/** activeOrder: running and starting runs first (latest started first), then the queue as it will go, #1 first, then the runs still WAITING. */
export function activeOrder(runs: Run[]): Run[] {
  const rank = (r: Run) => (r.status === 'QUEUED' ? 1 : r.status === 'WAITING' ? 2 : 0);
  return [...runs].sort((a, b) => {
    if (rank(a) !== rank(b)) return rank(a) - rank(b);
    if (a.status === 'QUEUED') return (a.queue_position ?? 1e9) - (b.queue_position ?? 1e9) || (parseTime(a.queued_at) ?? 0) - (parseTime(b.queued_at) ?? 0);
    if (a.status === 'WAITING') return (parseTime(a.queued_at) ?? 0) - (parseTime(b.queued_at) ?? 0) || (a.array_index ?? 0) - (b.array_index ?? 0);
    return (parseTime(b.started_at ?? b.queued_at) ?? 0) - (parseTime(a.started_at ?? a.queued_at) ?? 0);
  });
}

function SortHeader({ label, k, sort, onSort }: { label: string; k: SortKey; sort?: { key: SortKey; desc: boolean }; onSort?: (k: SortKey) => void }) {
  const on = sort?.key === k;
  if (!onSort) return <th scope="col">{label}</th>;
  return (
    <th scope="col" aria-sort={on ? (sort!.desc ? 'descending' : 'ascending') : 'none'}>
      <button type="button" className="sort" onClick={() => onSort(k)}>
        {label}
        <span aria-hidden="true">{on ? (sort!.desc ? ' ▼' : ' ▲') : ''}</span>
      </button>
    </th>
  );
}

/**
 * RunsTable lists runs with their outcome (exit code or reason), times as
 * "3 min ago" (the exact time on hover) and cost. Every runs table has the
 * same columns and widths, so Active and History line up.
 */
export function RunsTable({
  runs,
  caption,
  showDefinition = true,
  sort,
  onSort,
}: {
  runs: Run[];
  caption: string;
  showDefinition?: boolean;
  sort?: { key: SortKey; desc: boolean };
  onSort?: (k: SortKey) => void;
}) {
  const now = useNow();
  const rows = sort ? [...runs].sort((a, b) => (sortValue(a, sort.key, now) - sortValue(b, sort.key, now)) * (sort.desc ? -1 : 1)) : runs;
  return (
    <TableScroll>
      <table className="runs">
        <caption>{caption}</caption>
        <colgroup>
          <col className="c-status" />
          <col className="c-what" />
          <col className="c-cluster" />
          <col className="c-owner" />
          <col className="c-time" />
          <col className="c-time" />
          <col className="c-time" />
          <col className="c-dur" />
          <col className="c-cost" />
        </colgroup>
        <thead>
          <tr>
            <th scope="col">Outcome</th>
            <th scope="col">{showDefinition ? 'Definition / run' : 'Run'}</th>
            <th scope="col">Cluster</th>
            <th scope="col">Owner</th>
            <SortHeader label="Queued" k="queued" sort={sort} onSort={onSort} />
            <SortHeader label="Started" k="started" sort={sort} onSort={onSort} />
            <th scope="col">Finished</th>
            <SortHeader label="Duration" k="duration" sort={sort} onSort={onSort} />
            <th scope="col">Cost</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr key={r.run_id} data-run-id={r.run_id} className={`run-${r.status.toLowerCase()}`}>
              <td>
                <StatusBadge status={r.status} />
                {outcome(r) && (
                  <div className="outcome small" data-testid="outcome">
                    {outcome(r)}
                  </div>
                )}
                {r.status === 'QUEUED' && r.queued_at && (
                  <div className="muted small">waiting {formatDuration(now - (parseTime(r.queued_at) ?? now))}</div>
                )}
              </td>
              <td className="what">
                <Link to={`/runs/${encodeURIComponent(r.run_id)}`}>{showDefinition ? r.alias || r.definition_id : r.run_id}</Link>
                {r.array_index !== undefined && <span className="muted small" data-testid="array-index"> [{r.array_index}]</span>}
                {r.array && <span className="muted small"> · array of {r.array.size.toLocaleString('en-US')}</span>}
                {showDefinition && <div className="muted small mono ellipsis">{r.run_id}</div>}
                {r.tags && r.tags.length > 0 && <div className="muted small ellipsis">{r.tags.map((t) => `#${t}`).join(' ')}</div>}
              </td>
              <td>{r.cluster}</td>
              <td title={r.owner}>
                <span className="ellipsis">{r.owner_name || r.owner || '—'}</span>
              </td>
              <td>
                <RelTime at={r.queued_at} now={now} />
              </td>
              <td>
                <RelTime at={r.started_at} now={now} />
              </td>
              <td>
                <RelTime at={r.finished_at} now={now} />
              </td>
              <td>{formatDuration(runDuration(r, now))}</td>
              <td>
                {r.cost_usd !== undefined && r.cost_usd !== null ? (
                  <Money usd={r.cost_usd} />
                ) : r.estimated_cost_usd !== undefined && r.estimated_cost_usd !== null ? (
                  <span className="muted" title="estimated from the requested cpu and memory">
                    ~{formatUsd(r.estimated_cost_usd)}
                  </span>
                ) : (
                  <span className="muted">—</span>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </TableScroll>
  );
}

/** useDebounced returns value once it has stopped changing for ms. */
export function useDebounced<T>(value: T, ms: number): T {
  const [v, setV] = useState(value);
  useEffect(() => {
    const t = setTimeout(() => setV(value), ms);
    return () => clearTimeout(t);
  }, [value, ms]);
  return v;
}

const TEXT_KEYS = ['definition', 'owner', 'tag', 'run', 'parent'] as const;
type TextKey = (typeof TEXT_KEYS)[number];

/**
 * Filters apply as they change: a tick or a choice at once, typing once it
 * pauses (300 ms). Everything lives in the URL, so a view is a link.
 */
function Filters({ params, setParams, clusters, definitions }: { params: URLSearchParams; setParams: (p: URLSearchParams) => void; clusters: string[]; definitions: Definition[] }) {
  const [text, setText] = useState<Record<TextKey, string>>(() => Object.fromEntries(TEXT_KEYS.map((k) => [k, params.get(k) ?? ''])) as Record<TextKey, string>);
  const typed = useDebounced(text, 300);
  const update = (edit: (p: URLSearchParams) => void) => {
    const p = new URLSearchParams(params);
    edit(p);
    if (p.toString() !== params.toString()) setParams(p);
  };
  // What the boxes last wrote to the URL: a URL change that is only that must not undo later typing.
  const written = useRef<Record<string, string>>({});
  useEffect(() => {
    update((p) => {
      for (const k of TEXT_KEYS) {
        const v = typed[k].trim();
        written.current[k] = v;
        if (v) p.set(k, v);
        else p.delete(k);
      }
    });
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [typed]);
  // Going back or following a link changes the URL under the boxes.
  useEffect(() => {
    setText((t) => {
      const next = { ...t };
      let changed = false;
      for (const k of TEXT_KEYS) {
        const v = params.get(k) ?? '';
        if (v !== t[k].trim() && v !== written.current[k]) {
          next[k] = v;
          changed = true;
        }
      }
      return changed ? next : t;
    });
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [params.toString()]);

  // The ticks show at once; the URL (and the lists) follow.
  const fromUrl = params.getAll('status').join();
  const [status, setStatus] = useState<string[]>(() => params.getAll('status'));
  useEffect(() => setStatus(fromUrl ? fromUrl.split(',') : []), [fromUrl]);
  const toggle = (s: RunStatus, on: boolean) => {
    const cur = new Set(status);
    if (on) cur.add(s);
    else cur.delete(s);
    const next = ALL_STATUSES.filter((x) => cur.has(x));
    setStatus(next);
    update((p) => {
      p.delete('status');
      next.forEach((x) => p.append('status', x));
    });
  };
  const setOne = (k: string, v: string) => update((p) => (v ? p.set(k, v) : p.delete(k)));
  const cluster = params.get('cluster') ?? '';
  const active = [...params.keys()].filter((k) => k !== 'sort').length;
  const matched = matchDefinitions(text.definition, definitions);

  return (
    <details className="filters" open={typeof window === 'undefined' || window.innerWidth > 700 || active > 0}>
      <summary>
        Filters{active > 0 ? ` (${active} on)` : ''} <span className="muted small">apply as you type</span>
      </summary>
      <form onSubmit={(e) => e.preventDefault()} aria-label="Filter runs" role="search">
        <fieldset className="status-filter">
          <legend>Status</legend>
          {ALL_STATUSES.map((s) => (
            <label key={s}>
              <input type="checkbox" name="status" value={s} checked={status.includes(s)} onChange={(e) => toggle(s, e.target.checked)} />
              {s}
            </label>
          ))}
        </fieldset>
        <div className="filter-fields">
          <label>
            Definition
            <input
              type="search"
              name="definition"
              list="runs-definitions"
              value={text.definition}
              placeholder="part of an alias"
              autoComplete="off"
              onChange={(e) => setText({ ...text, definition: e.target.value })}
            />
            <datalist id="runs-definitions">
              {definitions.map((d) => (
                <option key={d.definition_id} value={d.alias} />
              ))}
            </datalist>
            {text.definition.trim() && definitions.length > 0 && (
              <span className="hint small" aria-live="polite">
                {matched.length === 0
                  ? 'no definition matches'
                  : matched.length === 1
                    ? `= ${matched[0].alias}`
                    : `${matched.length} match: ${matched
                        .slice(0, 4)
                        .map((d) => d.alias)
                        .join(', ')}${matched.length > 4 ? '…' : ''}`}
              </span>
            )}
          </label>
          <label>
            Tag
            <input type="search" name="tag" value={text.tag} onChange={(e) => setText({ ...text, tag: e.target.value })} />
          </label>
          <label>
            Run id
            <input type="search" name="run" value={text.run} placeholder="run_…" className="mono" onChange={(e) => setText({ ...text, run: e.target.value })} />
          </label>
          <label>
            Parent run
            <input type="search" name="parent" value={text.parent} placeholder="run_… (its children)" className="mono" onChange={(e) => setText({ ...text, parent: e.target.value })} />
          </label>
          <label>
            Cluster
            <select value={cluster} onChange={(e) => setOne('cluster', e.target.value)}>
              <option value="">any</option>
              {[...new Set([...clusters, ...(cluster ? [cluster] : [])])].map((c) => (
                <option key={c}>{c}</option>
              ))}
            </select>
          </label>
          <label>
            Owner
            <input type="search" name="owner" value={text.owner} onChange={(e) => setText({ ...text, owner: e.target.value })} />
          </label>
          <label>
            Queued since
            <input type="datetime-local" name="since" value={toLocalInput(params.get('since'))} onChange={(e) => setOne('since', fromLocalInput(e.target.value))} />
          </label>
          <label>
            Queued until
            <input type="datetime-local" name="until" value={toLocalInput(params.get('until'))} onChange={(e) => setOne('until', fromLocalInput(e.target.value))} />
          </label>
        </div>
        {active > 0 && (
          <div className="actions">
            <button
              type="button"
              onClick={() => {
                setText({ definition: '', owner: '', tag: '', run: '', parent: '' });
                setParams(new URLSearchParams());
              }}
            >
              Clear filters
            </button>
          </div>
        )}
      </form>
    </details>
  );
}

/** RunById shows the one run a "Run id" search names. */
function RunById({ id }: { id: string }) {
  const api = useApi();
  const run = useQuery({ queryKey: ['run', id], queryFn: () => api.getRun(id), retry: false });
  return (
    <section aria-labelledby="byid-h">
      <h2 id="byid-h">Run {id}</h2>
      {run.data ? (
        <RunsTable runs={[run.data]} caption="The run with this id" />
      ) : run.error ? (
        <p className="muted">No run has the id {id}.</p>
      ) : (
        <Loading />
      )}
    </section>
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
  const runId = params.get('run')?.trim() ?? '';
  const sortParam = params.get('sort') ?? '';
  const sort = /^-?(queued|started|duration)$/.test(sortParam) ? { key: sortParam.replace('-', '') as SortKey, desc: sortParam.startsWith('-') } : undefined;
  const onSort = (k: SortKey) => {
    const p = new URLSearchParams(params);
    p.set('sort', sort?.key === k && sort.desc ? k : `-${k}`);
    setParams(p, { replace: true });
  };

  const clusters = useQuery({ queryKey: ['clusters'], queryFn: () => api.listClusters() });
  const defs = useQuery({ queryKey: ['definitions', 'names'], queryFn: () => api.listDefinitions({ limit: 500 }) });
  const definitions = useMemo(() => defs.data?.items ?? [], [defs.data]);

  // The definition filter is matched here, not by the API (which wants one exact id or alias).
  const defText = filter.definition ?? '';
  const matched = useMemo(() => matchDefinitions(defText, definitions), [defText, definitions]);
  const defIds = defText ? (defs.data ? matched.slice(0, MAX_DEFINITIONS).map((d) => d.definition_id) : null) : null;
  const waitingForDefs = !!defText && !defs.data && !defs.error;
  // Without the definitions list (it failed), the text goes to the API as it was typed.
  const base: RunFilter = { ...filter, status: undefined, definition: defText && defs.error ? defText : undefined };
  const noMatch = !!defText && !!defs.data && matched.length === 0;
  const enabledLists = !waitingForDefs && !noMatch && !runId;

  const active = useQuery({
    queryKey: ['runs', 'active', base, defIds, activeStatuses],
    queryFn: () => listRunsOf(api, { ...base, status: activeStatuses, limit: 200 }, defIds),
    enabled: enabledLists && activeStatuses.length > 0,
    refetchInterval: POLL_MS,
  });
  const history = useInfiniteQuery({
    queryKey: ['runs', 'history', base, defIds, historyStatuses],
    queryFn: ({ pageParam }) => listRunsOf(api, { ...base, status: historyStatuses, limit: 50 }, defIds, pageParam),
    initialPageParam: undefined as Cursor | undefined,
    getNextPageParam: (last) => last.next,
    enabled: enabledLists && historyStatuses.length > 0,
    refetchInterval: POLL_MS,
  });

  const activeRuns = active.data ? activeOrder(active.data.items) : [];
  const queued = activeRuns.filter((r) => r.status === 'QUEUED').length;
  const waiting = activeRuns.filter((r) => r.status === 'WAITING').length;
  const running = activeRuns.length - queued - waiting;
  useTitle(active.data ? `Runs · ${running} running, ${queued} queued${waiting ? `, ${waiting} waiting` : ''}` : 'Runs');

  const filtered = [...params.keys()].some((k) => k !== 'sort');
  const zone = zoneLabel();
  return (
    <section aria-labelledby="runs-h">
      <div className="page-head">
        <h1 id="runs-h">Runs</h1>
        <Link className="button primary" to="/definitions">
          Launch a job…
        </Link>
      </div>
      <Filters params={params} setParams={(p) => setParams(p, { replace: true })} clusters={clusters.data?.items.map((c) => c.name) ?? []} definitions={definitions} />
      <p className="muted small" data-testid="zone-hint">
        Times are in {zone}; hover one for the exact time.
        {defIds && matched.length > 1 && ` Showing runs of ${Math.min(matched.length, MAX_DEFINITIONS)} definitions matching “${defText}”.`}
      </p>

      {(filter.parent || filter.after) && (
        <p className="notice" data-testid="relation-filter">
          {filter.parent && (
            <>
              Children of <Link to={`/runs/${encodeURIComponent(filter.parent)}`} className="mono">{filter.parent}</Link>
              {filter.after ? '; ' : ''}
            </>
          )}
          {filter.after && (
            <>
              Runs launched after <Link to={`/runs/${encodeURIComponent(filter.after)}`} className="mono">{filter.after}</Link>{' '}
              <button
                type="button"
                onClick={() => {
                  const p = new URLSearchParams(params);
                  p.delete('after');
                  setParams(p, { replace: true });
                }}
              >
                Show all runs
              </button>
            </>
          )}
        </p>
      )}
      {runId ? (
        <RunById id={runId} />
      ) : noMatch ? (
        <p className="notice">
          No definition matches “{defText}”. <Link to="/definitions">See the definitions</Link>.
        </p>
      ) : null}

      {enabledLists && activeStatuses.length > 0 && (
        <section aria-labelledby="active-h">
          <h2 id="active-h">Active</h2>
          {active.data ? (
            <>
              <StaleNotice error={active.error} updatedAt={active.dataUpdatedAt} retry={() => active.refetch()} />
              {activeRuns.length === 0 ? (
                <p className="muted">No active runs{filtered ? ' match these filters' : ''}.</p>
              ) : (
                <RunsTable runs={activeRuns} caption="Active runs: running first, then the queue in the order it will start" />
              )}
            </>
          ) : active.error ? (
            <ErrorNotice error={active.error} what="Could not load active runs" retry={() => active.refetch()} />
          ) : (
            <Loading />
          )}
        </section>
      )}

      {enabledLists && historyStatuses.length > 0 && (
        <section aria-labelledby="history-h">
          <h2 id="history-h">History</h2>
          {history.data ? (
            <>
              <StaleNotice error={history.error} updatedAt={history.dataUpdatedAt} retry={() => history.refetch()} />
              {history.data.pages[0].items.length === 0 ? (
                <p className="muted">No finished runs{filtered ? ' match these filters' : ''}.</p>
              ) : (
                <>
                  <RunsTable runs={history.data.pages.flatMap((p) => p.items)} caption="Finished runs, newest first" sort={sort} onSort={onSort} />
                  {history.hasNextPage && (
                    <button type="button" onClick={() => history.fetchNextPage()} disabled={history.isFetchingNextPage}>
                      {history.isFetchingNextPage ? 'Loading…' : 'Load more'}
                    </button>
                  )}
                </>
              )}
            </>
          ) : history.error ? (
            <ErrorNotice error={history.error} what="Could not load the history" retry={() => history.refetch()} />
          ) : (
            <Loading />
          )}
        </section>
      )}
    </section>
  );
}
