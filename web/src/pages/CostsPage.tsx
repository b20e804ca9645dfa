import { useQuery } from '@tanstack/react-query';
import { Link, useSearchParams } from 'react-router';
import { useApi } from '../api/context';
import type { CostGroupBy } from '../api/types';
import { ErrorNotice, Loading, Money, TableScroll, useTitle } from '../components/common';

const PERIODS: Record<string, string> = { '24h': 'last 24 hours', '168h': 'last 7 days', '720h': 'last 30 days', '': 'all time' };
const GROUPS: CostGroupBy[] = ['owner', 'definition', 'cluster'];

/** CostsPage sums finished runs' cost per owner, definition or cluster over a period kept in the URL. */
export function CostsPage() {
  const api = useApi();
  useTitle('Costs');
  const [params, setParams] = useSearchParams();
  const groupBy = (GROUPS as string[]).includes(params.get('group_by') ?? '') ? (params.get('group_by') as CostGroupBy) : 'owner';
  const since = params.get('since') ?? '720h';
  const costs = useQuery({ queryKey: ['costs', groupBy, since], queryFn: () => api.getCosts(groupBy, since || undefined), refetchInterval: 10_000 });
  const set = (k: string, v: string) => {
    const p = new URLSearchParams(params);
    p.set(k, v);
    setParams(p, { replace: true });
  };
  const link = (key: string) =>
    groupBy === 'definition' ? `/definitions/${encodeURIComponent(key)}` : `/runs?${new URLSearchParams({ [groupBy]: key })}`;
  return (
    <section aria-labelledby="costs-h">
      <h1 id="costs-h">Costs</h1>
      <p className="muted">What finished runs cost, billed like Fargate: per second, one-minute minimum.</p>
      <form className="filters filter-fields" aria-label="Cost report" onSubmit={(e) => e.preventDefault()}>
        <label>
          Group by
          <select value={groupBy} onChange={(e) => set('group_by', e.target.value)}>
            {GROUPS.map((g) => (
              <option key={g}>{g}</option>
            ))}
          </select>
        </label>
        <label>
          Period
          <select value={since} onChange={(e) => set('since', e.target.value)}>
            {Object.entries(PERIODS).map(([v, label]) => (
              <option key={v} value={v}>
                {label}
              </option>
            ))}
          </select>
        </label>
      </form>
      {costs.error ? (
        <ErrorNotice error={costs.error} what="Could not load costs" retry={() => costs.refetch()} />
      ) : costs.isPending ? (
        <Loading />
      ) : costs.data.items.length === 0 ? (
        <p className="muted">No finished run with a cost in this period.</p>
      ) : (
        <TableScroll>
        <table>
          <caption>
            Total <Money usd={costs.data.total_usd} />, {PERIODS[since] ?? since}
          </caption>
          <thead>
            <tr>
              <th scope="col">{groupBy.charAt(0).toUpperCase() + groupBy.slice(1)}</th>
              <th scope="col">Runs</th>
              <th scope="col">Cost</th>
            </tr>
          </thead>
          <tbody>
            {costs.data.items.map((it) => (
              <tr key={it.key}>
                <th scope="row">{it.key ? <Link to={link(it.key)}>{it.key}</Link> : <span className="muted">(none)</span>}</th>
                <td>{it.runs}</td>
                <td>
                  <Money usd={it.cost_usd} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        </TableScroll>
      )}
    </section>
  );
}
