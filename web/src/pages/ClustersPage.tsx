import { useQuery } from '@tanstack/react-query';
import { Link } from 'react-router';
import { useApi } from '../api/context';
import { ErrorNotice, Loading, StaleNotice, TableScroll, useTitle } from '../components/common';
import { POLL_MS } from './RunsPage';

export function ClustersPage() {
  const api = useApi();
  const clusters = useQuery({ queryKey: ['clusters'], queryFn: () => api.listClusters(), refetchInterval: POLL_MS });
  useTitle('Clusters');
  return (
    <section aria-labelledby="clusters-h">
      <h1 id="clusters-h">Clusters</h1>
      {clusters.data && <StaleNotice error={clusters.error} updatedAt={clusters.dataUpdatedAt} retry={() => clusters.refetch()} />}
      {!clusters.data && clusters.error ? (
        <ErrorNotice error={clusters.error} what="Could not load clusters" retry={() => clusters.refetch()} />
      ) : !clusters.data ? (
        <Loading />
      ) : clusters.data.items.length === 0 ? (
        <p className="muted">No cluster is configured.</p>
      ) : (
        <TableScroll>
        <table>
          <caption className="sr-only">Clusters and their load</caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Queued</th>
              <th scope="col">Running</th>
              <th scope="col">Max running</th>
              <th scope="col">Load</th>
            </tr>
          </thead>
          <tbody>
            {clusters.data.items.map((c) => (
              <tr key={c.name}>
                <th scope="row">
                  <Link to={`/runs?cluster=${encodeURIComponent(c.name)}`}>{c.name}</Link>
                  {c.spot_fallback && (
                    <div className="muted small" title="A run Fargate Spot interrupts twice continues on this on-demand cluster">
                      Spot; falls back to {c.spot_fallback}
                    </div>
                  )}
                </th>
                <td>
                  <Link to={`/runs?cluster=${encodeURIComponent(c.name)}&status=QUEUED`}>{c.queued}</Link>
                </td>
                <td>
                  <Link to={`/runs?cluster=${encodeURIComponent(c.name)}&status=RUNNING&status=PENDING`}>{c.running}</Link>
                </td>
                <td>{c.max_running}</td>
                <td>
                  <meter
                    min={0}
                    max={Math.max(1, c.max_running)}
                    // Spare slots are what is good: the meter turns amber near full and red when full.
                    low={Math.max(1, c.max_running) * 0.5}
                    high={Math.max(1, c.max_running) * 0.99}
                    optimum={0}
                    className={c.running >= c.max_running ? 'full' : undefined}
                    value={c.running}
                    aria-label={`${c.name}: ${c.running} of ${c.max_running} slots in use`}>
                    {c.running}/{c.max_running}
                  </meter>{' '}
                  {c.running}/{c.max_running}
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
