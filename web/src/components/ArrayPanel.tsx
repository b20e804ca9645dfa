import { useInfiniteQuery, useMutation, useQueries, useQueryClient } from '@tanstack/react-query';
import { memo, useEffect, useMemo, useRef, type KeyboardEvent, type MouseEvent } from 'react';
import { Link, useNavigate } from 'react-router';
import type { Api } from '../api/client';
import { useApi } from '../api/context';
import { isActive, type Run, type RunStatus } from '../api/types';
import { indexRanges } from '../format';
import { ErrorNotice, StatusBadge } from './common';

/** CHILD_PAGE is the page size the grid reads children with: the API's largest. */
export const CHILD_PAGE = 500;

/** The order statuses are counted and drawn in: what is settled first, then what is still going. */
const BAR_ORDER: RunStatus[] = ['SUCCEEDED', 'FAILED', 'STOPPED', 'RUNNING', 'PENDING', 'QUEUED', 'WAITING'];

/**
 * useChildren reads every child of a run, a page of 500 at a time (10,000
 * children are 20 requests), and reads them again while the run is active:
 * every 2 s for one page, less often the more pages there are, so a big
 * array does not keep the API busy (its summary, on the run itself, stays
 * live every 2 s).
 */
export function useChildren(api: Api, parentId: string, live: boolean, pollMs: number) {
  const q = useInfiniteQuery({
    queryKey: ['run', parentId, 'children'],
    queryFn: ({ pageParam }) => api.listRuns({ parent: parentId, limit: CHILD_PAGE, next_token: pageParam }),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => last.next_token || undefined,
    refetchInterval: (query) => (live ? Math.max(pollMs, (query.state.data?.pages.length ?? 1) * 1000) : false),
  });
  // Keep reading until the last page: the grid fills as pages arrive.
  useEffect(() => {
    if (q.hasNextPage && !q.isFetching && !q.error) void q.fetchNextPage();
  }, [q.hasNextPage, q.isFetching, q.error, q]);
  return q;
}

export interface Cell {
  /** The child's array index, when known. */
  index?: number;
  run?: Pick<Run, 'run_id' | 'status'>;
}

/**
 * gridCells lays out an array's children by index. Children of an array
 * launched with a size are 0…size-1; a retry's are the indexes it runs
 * again, in order. Children not made yet (or not read yet) are blank cells.
 */
export function gridCells(size: number, listed: boolean, children: Run[]): Cell[] {
  const byIndex = new Map<number, Run>();
  for (const c of children) if (c.array_index !== undefined && c.array_index !== null) byIndex.set(c.array_index, c);
  if (!listed) {
    const cells: Cell[] = new Array(size);
    for (let i = 0; i < size; i++) cells[i] = { index: i, run: byIndex.get(i) };
    return cells;
  }
  const known = [...byIndex.keys()].sort((a, b) => a - b);
  const cells: Cell[] = known.map((i) => ({ index: i, run: byIndex.get(i) }));
  for (let i = cells.length; i < size; i++) cells.push({});
  return cells;
}

/**
 * ChildGrid draws up to 10,000 children as small cells coloured by status,
 * each a link to its child (index and status on hover and for screen
 * readers). It is one Tab stop: the arrow keys, Home and End move between
 * cells, Enter opens one. Cells are plain anchors, and one click handler on
 * the grid routes them, so 10,000 cells cost 10,000 elements and nothing more.
 */
export const ChildGrid = memo(function ChildGrid({ cells, label }: { cells: Cell[]; label: string }) {
  const navigate = useNavigate();
  const ref = useRef<HTMLDivElement>(null);
  const onClick = (e: MouseEvent<HTMLDivElement>) => {
    const a = (e.target as HTMLElement).closest<HTMLAnchorElement>('a[data-run]');
    if (!a || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(`/runs/${encodeURIComponent(a.dataset.run!)}`);
  };
  const onKeyDown = (e: KeyboardEvent<HTMLDivElement>) => {
    const grid = ref.current;
    const from = (e.target as HTMLElement).closest<HTMLElement>('[data-pos]');
    if (!grid || !from) return;
    const pos = Number(from.dataset.pos);
    const all = grid.children;
    let cols = 1;
    const top = (all[0] as HTMLElement).offsetTop;
    while (cols < all.length && (all[cols] as HTMLElement).offsetTop === top) cols++;
    const to = { ArrowRight: pos + 1, ArrowLeft: pos - 1, ArrowDown: pos + cols, ArrowUp: pos - cols, Home: 0, End: all.length - 1 }[e.key];
    if (to === undefined) return;
    e.preventDefault();
    const next = all[Math.max(0, Math.min(all.length - 1, to))] as HTMLElement;
    from.tabIndex = -1;
    next.tabIndex = 0;
    next.focus();
  };
  return (
    <div className="child-grid" ref={ref} role="group" aria-label={label} data-testid="child-grid" onClick={onClick} onKeyDown={onKeyDown}>
      {cells.map((c, pos) => {
        const tab = pos === 0 ? 0 : -1;
        if (!c.run) {
          const what = c.index === undefined ? 'not made yet' : `${c.index}: not made yet`;
          return <span key={`p${pos}`} className="cell s-none" role="img" data-pos={pos} tabIndex={tab} title={what} aria-label={what} />;
        }
        const what = `${c.index ?? '?'}: ${c.run.status}`;
        return (
          <a
            key={c.run.run_id}
            href={`/runs/${encodeURIComponent(c.run.run_id)}`}
            className={`cell s-${c.run.status.toLowerCase()}`}
            data-run={c.run.run_id}
            data-index={c.index}
            data-pos={pos}
            tabIndex={tab}
            title={what}
            aria-label={`child ${what}`}
          />
        );
      })}
    </div>
  );
});

/** ArrayPanel is an array parent's first screen: progress by status, failed indexes, Retry failed, the grid of children. */
export function ArrayPanel({ run, pollMs }: { run: Run; pollMs: number }) {
  const api = useApi();
  const qc = useQueryClient();
  const navigate = useNavigate();
  const a = run.array!;
  const active = isActive(run.status);
  const children = useChildren(api, run.run_id, active, pollMs);
  // The parent's end changes the children one last time: read them again then.
  const wasActive = useRef(active);
  useEffect(() => {
    if (wasActive.current && !active) void children.refetch();
    wasActive.current = active;
  }, [active, children]);
  const items = useMemo(() => children.data?.pages.flatMap((p) => p.items) ?? [], [children.data]);
  const cells = useMemo(() => gridCells(a.size, !!a.listed, items), [a.size, a.listed, items]);
  const byIndex = useMemo(() => new Map(items.filter((c) => c.array_index !== undefined).map((c) => [c.array_index!, c])), [items]);
  const s = a.summary;
  const counts = s?.counts ?? {};
  const ended = s?.ended ?? 0;
  const failed = s?.failed_indexes ?? [];
  const retry = useMutation({
    mutationFn: () => api.retryFailed(run.run_id),
    onSuccess: async (next) => {
      await qc.invalidateQueries({ queryKey: ['runs'] });
      navigate(`/runs/${encodeURIComponent(next.run_id)}`);
    },
  });
  const loaded = items.length;
  return (
    <section aria-labelledby="array-h" className="array-panel">
      <div className="array-head">
        <h2 id="array-h">
          Children <span className="muted small">{a.size.toLocaleString('en-US')}</span>
        </h2>
        <div className="actions">
          {!active && failed.length > 0 && (
            <button type="button" className="primary" disabled={retry.isPending} onClick={() => retry.mutate()}>
              {retry.isPending ? 'Retrying…' : `Retry failed (${failed.length.toLocaleString('en-US')})`}
            </button>
          )}
          <Link className="button" to={`/runs?parent=${encodeURIComponent(run.run_id)}`}>
            All children
          </Link>
        </div>
      </div>
      {retry.error && <ErrorNotice error={retry.error} what="Not retried" />}
      <p className="array-progress-words" data-testid="array-progress">
        {ended.toLocaleString('en-US')} of {a.size.toLocaleString('en-US')} ended
        {a.created < a.size && ` · ${a.created.toLocaleString('en-US')} made so far`}
        {a.retry_of && (
          <>
            {' '}
            · runs again the failed children of <Link to={`/runs/${encodeURIComponent(a.retry_of)}`}>{a.retry_of}</Link>
          </>
        )}
      </p>
      <div
        className="array-bar"
        role="progressbar"
        aria-label="Children ended"
        aria-valuemin={0}
        aria-valuemax={a.size}
        aria-valuenow={ended}
        aria-valuetext={`${ended} of ${a.size} ended`}
      >
        {BAR_ORDER.map((st) =>
          counts[st] ? <span key={st} className={`s-${st.toLowerCase()}`} style={{ width: `${(100 * counts[st]!) / a.size}%` }} title={`${counts[st]} ${st}`} /> : null,
        )}
      </div>
      <ul className="array-counts" aria-label="Children by status">
        {BAR_ORDER.filter((st) => counts[st]).map((st) => (
          <li key={st}>
            <StatusBadge status={st} /> <span data-testid={`count-${st}`}>{counts[st]!.toLocaleString('en-US')}</span>
          </li>
        ))}
      </ul>
      {failed.length > 0 && (
        <p className="array-failed" data-testid="failed-indexes">
          Failed or stopped: {failed.length <= 30
            ? failed.map((i, k) => {
                const c = byIndex.get(i);
                return (
                  <span key={i}>
                    {k > 0 && ', '}
                    {c ? <Link to={`/runs/${encodeURIComponent(c.run_id)}`}>{i}</Link> : i}
                  </span>
                );
              })
            : indexRanges(failed)}
        </p>
      )}
      {a.after_each && a.after_each.length > 0 && (
        <p className="muted small">
          Child i waits for child i of{' '}
          {a.after_each.map((id, k) => (
            <span key={id}>
              {k > 0 && ', '}
              <Link to={`/runs/${encodeURIComponent(id)}`}>{id}</Link>
            </span>
          ))}
        </p>
      )}
      {children.error && <ErrorNotice error={children.error} what="Could not read the children" retry={() => children.refetch()} />}
      <ChildGrid cells={cells} label={`Children by index, coloured by status (${loaded} of ${a.size} shown)`} />
      <p className="muted small" data-testid="grid-loaded">
        {loaded < a.size ? `${loaded.toLocaleString('en-US')} of ${a.size.toLocaleString('en-US')} children read` : 'Each cell is a child, by index: hover for its index and status, click to open it.'}
        {' '}
        <span className="legend">
          {BAR_ORDER.map((st) => (
            <span key={st}>
              <span className={`cell s-${st.toLowerCase()}`} aria-hidden="true" /> {st.toLowerCase()}
            </span>
          ))}
        </span>
      </p>
    </section>
  );
}

/** WaitsFor lists the runs a run was launched after, each a link with its status (read again while it waits). */
export function WaitsFor({ run, pollMs }: { run: Run; pollMs: number }) {
  const api = useApi();
  const waiting = run.status === 'WAITING';
  const ids = run.after ?? [];
  const deps = useQueries({
    queries: ids.map((id) => ({
      queryKey: ['run', id],
      queryFn: () => api.getRun(id),
      // Each is read again until it has ended, so the list tells the truth after the wait too.
      refetchInterval: (q: { state: { data?: Run } }) => (q.state.data && !isActive(q.state.data.status) ? false : pollMs),
    })),
  });
  if (ids.length === 0) return null;
  return (
    <section aria-labelledby="after-h" className="waits-for">
      <h2 id="after-h" className="h-inline">
        {waiting ? 'Waits for' : 'Launched after'}
      </h2>
      <ul>
        {ids.map((id, i) => {
          const d = deps[i].data;
          return (
            <li key={id}>
              <Link to={`/runs/${encodeURIComponent(id)}`} className="mono">
                {id}
              </Link>{' '}
              {d ? (
                <>
                  <StatusBadge status={d.status} /> <span className="muted">{d.alias}</span>
                </>
              ) : deps[i].error ? (
                <span className="muted">(could not be read)</span>
              ) : null}
            </li>
          );
        })}
      </ul>
    </section>
  );
}
