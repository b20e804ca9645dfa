import { useInfiniteQuery, useQueries } from '@tanstack/react-query';
import { useEffect, useState } from 'react';
import { Link, useSearchParams } from 'react-router';
import { useApi } from '../api/context';
import { ErrorNotice, Loading, StaleNotice, StatusBadge, TableScroll, useTitle } from '../components/common';
import { RunStrip } from '../components/RunStrip';
import { formatMemory, formatTime } from '../format';

/** useDebounced returns value once it has stopped changing for ms. */
function useDebounced<T>(value: T, ms: number): T {
  const [v, setV] = useState(value);
  useEffect(() => {
    const t = setTimeout(() => setV(value), ms);
    return () => clearTimeout(t);
  }, [value, ms]);
  return v;
}

export function DefinitionsPage() {
  const api = useApi();
  const [params, setParams] = useSearchParams();
  const [text, setText] = useState({ alias: params.get('alias') ?? '', group: params.get('group') ?? '', tag: params.get('tag') ?? '' });
  const typed = useDebounced(text, 300);

  // Keep the URL in step with the search boxes, so the view can be shared.
  useEffect(() => {
    const p = new URLSearchParams();
    for (const [k, v] of Object.entries(typed)) if (v.trim()) p.set(k, v.trim());
    if (p.toString() !== params.toString()) setParams(p, { replace: true });
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [typed]);

  const filter = { alias: params.get('alias') ?? undefined, group: params.get('group') ?? undefined, tag: params.get('tag') ?? undefined };
  const defs = useInfiniteQuery({
    queryKey: ['definitions', filter],
    queryFn: ({ pageParam }) => api.listDefinitions({ ...filter, limit: 100, next_token: pageParam }),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => last.next_token || undefined,
  });
  const items = defs.data?.pages.flatMap((p) => p.items) ?? [];
  useTitle('Definitions');
  // Each shown definition's last 20 runs, for its strip (one request each; the first 50 shown).
  const recent = useQueries({
    queries: items.slice(0, 50).map((d) => ({
      queryKey: ['runs', 'definition', d.definition_id],
      queryFn: () => api.listRuns({ definition: d.definition_id, limit: 20 }),
      refetchInterval: 15_000,
    })),
  });

  return (
    <section aria-labelledby="defs-h">
      <div className="page-head">
        <h1 id="defs-h">Definitions</h1>
        <Link className="button primary" to="/definitions/new">
          New definition
        </Link>
      </div>
      <form className="filters filter-fields" role="search" aria-label="Search definitions" onSubmit={(e) => e.preventDefault()}>
        <label>
          Alias
          <input type="search" name="alias" value={text.alias} onChange={(e) => setText({ ...text, alias: e.target.value })} placeholder="search…" />
        </label>
        <label>
          Group
          <input type="search" name="group" value={text.group} onChange={(e) => setText({ ...text, group: e.target.value })} />
        </label>
        <label>
          Tag
          <input type="search" name="tag" value={text.tag} onChange={(e) => setText({ ...text, tag: e.target.value })} />
        </label>
      </form>
      {defs.data && <StaleNotice error={defs.error} updatedAt={defs.dataUpdatedAt} retry={() => defs.refetch()} />}
      {!defs.data && defs.error ? (
        <ErrorNotice error={defs.error} what="Could not load definitions" retry={() => defs.refetch()} />
      ) : !defs.data ? (
        <Loading />
      ) : items.length === 0 ? (
        <p className="muted">{params.toString() ? 'No definition matches.' : 'No definitions yet. Create one to launch jobs.'}</p>
      ) : (
        <>
          <TableScroll>
          <table>
            <caption className="sr-only">Definitions</caption>
            <thead>
              <tr>
                <th scope="col">Alias</th>
                <th scope="col">Last run</th>
                <th scope="col">Recent runs</th>
                <th scope="col">Group</th>
                <th scope="col">Image</th>
                <th scope="col">CPU</th>
                <th scope="col">Memory</th>
                <th scope="col">Tags</th>
                <th scope="col">Revision</th>
                <th scope="col">Updated</th>
                <th scope="col">
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {items.map((d, i) => (
                <tr key={d.definition_id}>
                  <td className="nowrap">
                    <Link to={`/definitions/${encodeURIComponent(d.alias)}`}>{d.alias}</Link>
                  </td>
                  <td>{recent[i]?.data?.items[0] ? <StatusBadge status={recent[i].data!.items[0].status} /> : recent[i]?.data ? <span className="muted">—</span> : null}</td>
                  <td className="nowrap">{recent[i]?.data ? <RunStrip runs={recent[i].data!.items} label={d.alias} /> : null}</td>
                  <td>{d.group_name}</td>
                  <td className="mono">{d.image}</td>
                  <td>{d.cpu}</td>
                  <td>{formatMemory(d.memory)}</td>
                  <td>{d.tags?.join(', ')}</td>
                  <td>{d.revision}</td>
                  <td>{formatTime(d.updated_at)}</td>
                  <td>
                    <Link to={`/launch/${encodeURIComponent(d.alias)}`} aria-label={`Launch ${d.alias}`}>
                      Launch
                    </Link>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          </TableScroll>
          {defs.hasNextPage && (
            <button type="button" onClick={() => defs.fetchNextPage()} disabled={defs.isFetchingNextPage}>
              Load more
            </button>
          )}
        </>
      )}
    </section>
  );
}
