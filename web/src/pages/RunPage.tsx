import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useMemo } from 'react';
import { Link, useParams } from 'react-router';
import { stripAnsi } from '../ansi';
import { useApi } from '../api/context';
import { isActive, type Run, type RunEvent } from '../api/types';
import { ArrayPanel, WaitsFor } from '../components/ArrayPanel';
import { ConfirmButton, ErrorNotice, Loading, Money, RelTime, StaleNotice, StatusBadge, TableScroll, useNow, useTitle } from '../components/common';
import { LogViewer } from '../components/LogViewer';
import { formatCpu, formatDuration, formatMemory, formatTime, parseTime, plainWords, runDuration, zoneLabel } from '../format';
import { useRunLogs, type LogLine } from '../logs';
import { POLL_MS } from './RunsPage';

/** Timeline shows the current attempt's steps: queued → pending → running → ended. */
function Timeline({ run, events }: { run: Run; events: RunEvent[] }) {
  const attempt = run.attempt ?? 1;
  const pendingAt = [...events].reverse().find((e) => e.to === 'PENDING' && (e.attempt ?? attempt) === attempt)?.time;
  const ended = !isActive(run.status);
  const steps = [
    { name: 'Queued', at: run.queued_at, reached: run.status !== 'WAITING' },
    { name: 'Pending', at: pendingAt, reached: run.status !== 'QUEUED' && (!!pendingAt || !!run.started_at || run.status === 'PENDING' || run.status === 'RUNNING') },
    { name: 'Running', at: run.started_at, reached: !!run.started_at || run.status === 'RUNNING' },
    { name: ended ? run.status.charAt(0) + run.status.slice(1).toLowerCase() : 'Ended', at: run.finished_at, reached: ended },
  ];
  return (
    <ol className={`timeline timeline-${run.status.toLowerCase()}`} aria-label={`Attempt ${attempt} timeline`}>
      {steps.map((s) => (
        <li key={s.name} className={s.reached ? 'reached' : 'todo'}>
          <span className="step">{s.name}</span>
          <time dateTime={s.at}>{s.reached ? formatTime(s.at) : 'not yet'}</time>
        </li>
      ))}
    </ol>
  );
}

function Attempts({ run }: { run: Run }) {
  const attempts = run.attempts ?? [];
  if (attempts.length === 0) return null;
  return (
    <table>
      <caption>Attempts</caption>
      <thead>
        <tr>
          <th scope="col">#</th>
          <th scope="col">Task</th>
          <th scope="col">Queued</th>
          <th scope="col">Started</th>
          <th scope="col">Finished</th>
          <th scope="col">Exit code</th>
          <th scope="col">Reason</th>
        </tr>
      </thead>
      <tbody>
        {attempts.map((a) => (
          <tr key={a.attempt}>
            <td>{a.attempt}</td>
            <td className="mono">{a.task_id ?? '—'}</td>
            <td>{formatTime(a.queued_at)}</td>
            <td>{formatTime(a.started_at)}</td>
            <td>{formatTime(a.finished_at)}</td>
            <td>{a.exit_code ?? '—'}</td>
            <td>{a.reason ?? ''}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function LifeStory({ events }: { events: RunEvent[] }) {
  if (events.length === 0) return null;
  return (
    <details className="life-story" open>
      <summary>Life story ({events.length} changes)</summary>
      <ol>
        {events.map((e, i) => (
          <li key={i}>
            <time dateTime={e.time}>{formatTime(e.time)}</time> {e.source && <span className="muted">[{e.source}]</span>}{' '}
            {e.from ? `${e.from} → ` : ''}
            <strong>{e.to}</strong>
            {e.attempt ? <span className="muted"> (attempt {e.attempt})</span> : null}
            {e.reason ? ` — ${e.reason}` : ''}
          </li>
        ))}
      </ol>
    </details>
  );
}

/** statusWords says in plain words why a run is where it is, without repeating the status itself. */
export function statusWords(run: Run, now = Date.now()): string {
  const parts: string[] = [];
  const waited = formatDuration(now - (parseTime(run.queued_at) ?? now));
  if (run.status === 'QUEUED') {
    if (run.queue_position) parts.push(`#${run.queue_position} in line on ${run.cluster}`);
    if (run.wait_reason) parts.push(`waiting for ${waited}: ${plainWords(run.wait_reason)}`);
  }
  // The wait reason says it better than a generic "waiting to be dispatched"; a reason
  // that only repeats the status ("RUNNING: running") says nothing.
  const reason = run.status_reason?.trim();
  const repeats = !reason || reason.toLowerCase() === run.status.toLowerCase() || (run.status === 'QUEUED' && !!run.wait_reason);
  if (!repeats) parts.push(reason!);
  else if (run.reason_code && !['succeeded', 'stopped', 'exit_code'].includes(run.reason_code.toLowerCase())) parts.push(plainWords(run.reason_code));
  const exit = run.exit_code !== undefined && run.exit_code !== null ? `exit code ${run.exit_code}` : '';
  if (run.status === 'FAILED' && exit && !parts.some((p) => p.includes(exit))) parts.unshift(exit);
  if (parts.length > 0) return parts.join(' · ');
  const took = formatDuration(runDuration(run, now));
  const code = run.exit_code !== undefined && run.exit_code !== null ? ` with exit code ${run.exit_code}` : '';
  return {
    WAITING: run.wait_reason === 'children' ? 'waiting for its children' : `waiting for ${waited}: ${plainWords(run.wait_reason) || 'for the runs it was launched after'}`,
    QUEUED: `waiting for a slot on ${run.cluster} for ${waited}`,
    PENDING: 'starting: provisioning and pulling the image',
    RUNNING: `running for ${took}`,
    SUCCEEDED: `finished successfully in ${took}`,
    FAILED: `failed${code}`,
    STOPPED: 'stopped on request',
  }[run.status];
}

/** statusIcon starts a run page's tab title. */
const statusIcon: Record<string, string> = { WAITING: '⏸', QUEUED: '⏳', PENDING: '⏳', RUNNING: '▶', SUCCEEDED: '✓', FAILED: '✗', STOPPED: '■' };

/** CostWords: the actual cost once known, else the estimate marked as one, else why there is none. */
function CostWords({ run }: { run: Run }) {
  if (run.cost_usd !== undefined && run.cost_usd !== null) return <Money usd={run.cost_usd} />;
  if (run.estimated_cost_usd !== undefined && run.estimated_cost_usd !== null)
    return (
      <span>
        ~<Money usd={run.estimated_cost_usd} /> <span className="muted">(estimate)</span>
      </span>
    );
  return <span className="muted">{isActive(run.status) ? 'known when it ends' : 'not recorded'}</span>;
}

function download(lines: LogLine[], name: string) {
  const blob = new Blob([lines.map((l) => stripAnsi(l.raw)).join('\n') + '\n'], { type: 'text/plain' });
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

export function RunPage() {
  const { runId = '' } = useParams();
  const api = useApi();
  const qc = useQueryClient();
  const now = useNow(1000);
  const run = useQuery({
    queryKey: ['run', runId],
    queryFn: () => api.getRun(runId),
    refetchInterval: (q) => (q.state.data && !isActive(q.state.data.status) ? false : POLL_MS),
  });
  const active = run.data ? isActive(run.data.status) : true;
  const events = useQuery({
    queryKey: ['run', runId, 'events'],
    queryFn: () => api.getRunEvents(runId),
    refetchInterval: active ? POLL_MS : false,
    retry: false,
  });
  const eventItems = useMemo(() => events.data?.items ?? [], [events.data]);
  useTitle(run.data ? `${statusIcon[run.data.status] ?? ''} ${run.data.alias || run.data.definition_id} · ${run.data.status}`.trim() : `Run ${runId}`);

  if (!run.data && run.error)
    return (
      <>
        <ErrorNotice error={run.error} what={`Run ${runId}`} retry={() => run.refetch()} />
        <Link to="/runs">All runs</Link>
      </>
    );
  if (!run.data) return <Loading what="Loading the run" />;
  const r = run.data;
  const env = Object.entries(r.env ?? {}).sort(([a], [b]) => a.localeCompare(b));
  const item = r.array_item ? JSON.stringify(r.array_item) : '';

  return (
    <article aria-labelledby="run-h" className="run-page">
      <p className="breadcrumb">
        <Link to="/runs">Runs</Link> /{' '}
        {r.parent && r.array_index !== undefined && (
          <>
            <Link to={`/runs/${encodeURIComponent(r.parent)}`} className="mono">
              array {r.parent}
            </Link>{' '}
            / child {r.array_index} ·{' '}
          </>
        )}
        <span className="mono">{r.run_id}</span>
      </p>
      <div className="page-head">
        <h1 id="run-h">
          <span className="ellipsis">{r.alias || r.definition_id}</span> <StatusBadge status={r.status} />
        </h1>
        <div className="actions">
          {isActive(r.status) && (
            <ConfirmButton
              label="Stop"
              title="Stop this run?"
              message={
                <p>
                  {r.alias} ({r.run_id}) will be stopped.{' '}
                  {r.array
                    ? `Its children that have not ended (${(r.array.size - (r.array.summary?.ended ?? 0)).toLocaleString('en-US')}) are stopped too.`
                    : r.status === 'QUEUED' || r.status === 'WAITING'
                      ? 'It has not started yet.'
                      : 'Its task is killed; output written so far is kept.'}
                </p>
              }
              confirmLabel="Stop run"
              onConfirm={async () => {
                await api.stopRun(r.run_id);
                await qc.invalidateQueries({ queryKey: ['run', runId] });
                await qc.invalidateQueries({ queryKey: ['runs'] });
              }}
            />
          )}
          <Link className="button" to={`/launch/${encodeURIComponent(r.definition_id)}?from=${encodeURIComponent(r.run_id)}`}>
            Run again
          </Link>
        </div>
      </div>
      <span className="sr-only" aria-live="polite">
        Status {r.status}
      </span>
      <StaleNotice error={run.error} updatedAt={run.dataUpdatedAt} retry={() => run.refetch()} />
      <p className={`status-line status-line-${r.status.toLowerCase()}`} data-testid="status-line">
        <strong>{r.status}</strong>: {statusWords(r, now)}
      </p>
      <dl className="facts">
        {!r.array && (
          <div>
            <dt>Exit code</dt>
            <dd>{r.exit_code ?? '—'}</dd>
          </div>
        )}
        <div>
          <dt>Duration</dt>
          <dd>{formatDuration(runDuration(r, now))}</dd>
        </div>
        <div>
          <dt>Queued</dt>
          <dd>
            <RelTime at={r.queued_at} now={now} />
          </dd>
        </div>
        <div>
          <dt>Cluster</dt>
          <dd>{r.cluster}</dd>
        </div>
        <div>
          <dt>Cost</dt>
          <dd>
            <CostWords run={r} />
          </dd>
        </div>
      </dl>

      <WaitsFor run={r} pollMs={POLL_MS} />
      {r.array ? <ArrayPanel run={r} pollMs={POLL_MS} /> : <LogsSection run={r} />}

      <section aria-labelledby="details-h">
        <h2 id="details-h">Details</h2>
        {!r.array && <Timeline run={r} events={eventItems} />}
        <dl className="props">
          <dt>Owner</dt>
          <dd title={r.owner}>{r.owner_name || r.owner || '—'}</dd>
          <dt>Definition</dt>
          <dd>
            <Link to={`/definitions/${encodeURIComponent(r.definition_id)}`}>{r.alias || r.definition_id}</Link> revision {r.revision}
          </dd>
          <dt>Attempt</dt>
          <dd>{r.attempt ?? 1}</dd>
          <dt>Image</dt>
          <dd className="mono">{r.image}</dd>
          <dt>Command</dt>
          <dd>
            <pre className="command">{r.command}</pre>
          </dd>
          {r.params && Object.keys(r.params).length > 0 && (
            <>
              <dt>Params</dt>
              <dd className="mono" aria-label="Params">
                {Object.entries(r.params)
                  .map(([k, x]) => `${k}=${JSON.stringify(x)}`)
                  .join(' ')}
              </dd>
            </>
          )}
          <dt>CPU</dt>
          <dd>{formatCpu(r.cpu)}</dd>
          <dt>Memory</dt>
          <dd>{formatMemory(r.memory)}</dd>
          {r.gpu ? (
            <>
              <dt>GPU</dt>
              <dd>{r.gpu}</dd>
            </>
          ) : null}
          <dt>Timeout</dt>
          <dd>{r.timeout_seconds ? formatDuration(r.timeout_seconds * 1000) : 'none'}</dd>
          <dt>Times</dt>
          <dd>
            queued {formatTime(r.queued_at)}, started {formatTime(r.started_at)}, finished {formatTime(r.finished_at)} <span className="muted">({zoneLabel()})</span>
          </dd>
          {r.tags && r.tags.length > 0 && (
            <>
              <dt>Tags</dt>
              <dd>
                {r.tags.map((t) => (
                  <Link key={t} className="tag" to={`/runs?tag=${encodeURIComponent(t)}`}>
                    #{t}
                  </Link>
                ))}
              </dd>
            </>
          )}
          {r.engine && (
            <>
              <dt>Engine</dt>
              <dd>{r.engine}</dd>
            </>
          )}
          {r.schedule_id && (
            <>
              <dt>Schedule</dt>
              <dd className="mono">
                <Link to={`/schedules#${encodeURIComponent(r.schedule_id)}`}>{r.schedule_id}</Link>
              </dd>
            </>
          )}
          {r.parent && (
            <>
              <dt>Parent</dt>
              <dd className="mono">
                <Link to={`/runs/${encodeURIComponent(r.parent)}`}>{r.parent}</Link> <span className="muted">(stopping it stops this run)</span>
              </dd>
            </>
          )}
          {r.array_index !== undefined && (
            <>
              <dt>Array index</dt>
              <dd data-testid="array-index">
                {r.array_index} <span className="muted small">(FLOTILLA_ARRAY_INDEX)</span>
              </dd>
            </>
          )}
          {item && (
            <>
              <dt>Array item</dt>
              <dd className="mono" data-testid="array-item">
                {item}
              </dd>
            </>
          )}
          <dt>Children</dt>
          <dd>
            <Link to={`/runs?parent=${encodeURIComponent(r.run_id)}`}>{r.array ? `all ${r.array.size.toLocaleString('en-US')} children` : 'runs launched from this one'}</Link>
          </dd>
          <dt>Runs after it</dt>
          <dd>
            <Link to={`/runs?after=${encodeURIComponent(r.run_id)}`}>runs launched after this one</Link>
          </dd>
          {r.task_role_arn && (
            <>
              <dt>Task role</dt>
              <dd className="mono">{r.task_role_arn}</dd>
            </>
          )}
          {r.notify && r.notify.length > 0 && (
            <>
              <dt>Notify</dt>
              <dd>{r.notify.map((t) => t.email ?? `${t.webhook?.split('?')[0]}${t.secret ? ' (signed)' : ''}`).join(', ')}</dd>
            </>
          )}
          {r.idempotency_key && (
            <>
              <dt>Idempotency key</dt>
              <dd className="mono">{r.idempotency_key}</dd>
            </>
          )}
        </dl>
        <details className="env-details">
          <summary>Environment ({env.length} {env.length === 1 ? 'variable' : 'variables'})</summary>
          {env.length === 0 ? (
            <p className="muted">No variables.</p>
          ) : (
            <TableScroll>
              <table className="env">
                <thead>
                  <tr>
                    <th scope="col">Name</th>
                    <th scope="col">Value</th>
                  </tr>
                </thead>
                <tbody>
                  {env.map(([k, v]) => (
                    <tr key={k}>
                      <td className="mono">{k}</td>
                      <td className="mono">{v}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </TableScroll>
          )}
        </details>
      </section>

      <section aria-labelledby="history-h">
        <h2 id="history-h">History</h2>
        <TableScroll>
          <Attempts run={r} />
        </TableScroll>
        <LifeStory events={eventItems} />
        {r.queued_at && r.started_at && (
          <p className="muted">Waited {formatDuration((parseTime(r.started_at) ?? 0) - (parseTime(r.queued_at) ?? 0))} before starting.</p>
        )}
      </section>
    </article>
  );
}

/** LogsSection is a run's live log (an array's parent runs nothing itself, so it has none). */
function LogsSection({ run: r }: { run: Run }) {
  const api = useApi();
  const logs = useRunLogs(api, r.run_id);
  const endLabel = `end of logs · ${r.status}${r.exit_code !== undefined && r.exit_code !== null ? ` · exit code ${r.exit_code}` : ''}`;
  const lines = logs.buffer.lines;
  return (
    <section aria-labelledby="logs-h" className="logs">
      <h2 id="logs-h" className="sr-only">
        Logs
      </h2>
      {logs.error &&
        (lines.length > 0 ? (
          <StaleNotice error={logs.error} retry={undefined} />
        ) : (
          <ErrorNotice error={logs.error} what="Logs (retrying)" />
        ))}
      <LogViewer
        lines={lines}
        version={logs.version}
        complete={logs.complete}
        endLabel={endLabel}
        actions={
          <button type="button" onClick={() => download(lines, `${r.run_id}.log`)} disabled={lines.length === 0}>
            Download{logs.complete ? '' : ' (so far)'}
          </button>
        }
      />
    </section>
  );
}
