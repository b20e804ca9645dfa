import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { Link, useNavigate, useParams } from 'react-router';
import { useApi } from '../api/context';
import type { CostReport, Definition } from '../api/types';
import { ConfirmButton, ErrorNotice, Loading, Money, StatusBadge, useTitle } from '../components/common';
import { RunStrip } from '../components/RunStrip';
import { formatCpu, formatDuration, formatMemory, formatTime } from '../format';
import { RunsTable } from './RunsPage';

const SHOWN: { key: keyof Definition; label: string; show: (d: Definition) => string }[] = [
  { key: 'alias', label: 'Alias', show: (d) => d.alias },
  { key: 'group_name', label: 'Group', show: (d) => d.group_name || '—' },
  { key: 'image', label: 'Image', show: (d) => d.image },
  { key: 'command', label: 'Command', show: (d) => d.command },
  { key: 'cpu', label: 'CPU', show: (d) => formatCpu(d.cpu) },
  { key: 'memory', label: 'Memory', show: (d) => formatMemory(d.memory) },
  { key: 'gpu', label: 'GPU', show: (d) => String(d.gpu ?? 0) },
  { key: 'timeout_seconds', label: 'Timeout', show: (d) => (d.timeout_seconds ? formatDuration(d.timeout_seconds * 1000) : 'none') },
  { key: 'retry', label: 'Max attempts', show: (d) => String(d.retry?.max_attempts ?? 1) },
  { key: 'tags', label: 'Tags', show: (d) => d.tags?.join(', ') || '—' },
  { key: 'task_role_arn', label: 'Task role', show: (d) => d.task_role_arn || "the deployment's shared role" },
  {
    key: 'on_out_of_memory',
    label: 'Out of memory',
    show: (d) => (d.on_out_of_memory?.retry_with_memory_factor ? `retry with ${d.on_out_of_memory.retry_with_memory_factor}× the memory` : 'fails the run'),
  },
  {
    key: 'notify',
    label: 'Notify',
    show: (d) => (d.notify ?? []).map((t) => t.email ?? `${t.webhook?.split('?')[0]}${t.secret ? ' (signed)' : ''}`).join('\n') || '—',
  },
  {
    key: 'env',
    label: 'Environment',
    show: (d) =>
      Object.entries(d.env ?? {})
        .map(([k, v]) => `${k}=${v}`)
        .join('\n') || '—',
  },
  {
    key: 'parameters_schema',
    label: 'Parameters',
    show: (d) =>
      Object.entries(d.parameters_schema?.properties ?? {})
        .map(([k, p]) => `${k}: ${p.enum ? p.enum.map(String).join(' | ') : p.type}${d.parameters_schema?.required?.includes(k) ? ' (required)' : ''}${p.default !== undefined ? ` = ${JSON.stringify(p.default)}` : ''}`)
        .join('\n') || 'none (the command is plain text)',
  },
];

/** Settings lists a definition's values; with `than`, it marks what differs from it. */
function Settings({ def, than }: { def: Definition; than?: Definition }) {
  return (
    <dl className="props">
      {SHOWN.map((f) => {
        const v = f.show(def);
        const changed = than && f.show(than) !== v;
        return (
          <div key={f.key} className={changed ? 'changed' : undefined} style={{ display: 'contents' }}>
            <dt>
              {f.label}
              {changed && <span className="sr-only"> (differs from the current revision)</span>}
            </dt>
            <dd className={f.key === 'command' || f.key === 'env' || f.key === 'image' || f.key === 'parameters_schema' ? 'mono pre' : undefined}>{v}</dd>
          </div>
        );
      })}
    </dl>
  );
}

function Revisions({ def }: { def: Definition }) {
  const api = useApi();
  const [n, setN] = useState<number | null>(null);
  const rev = useQuery({
    queryKey: ['definition', def.definition_id, 'revision', n],
    queryFn: () => api.getDefinitionRevision(def.definition_id, n!),
    enabled: n !== null,
  });
  const numbers = Array.from({ length: def.revision }, (_, i) => def.revision - i);
  return (
    <section aria-labelledby="rev-h">
      <h2 id="rev-h">Revisions</h2>
      <p>
        Current: revision {def.revision}, updated {formatTime(def.updated_at)} (created {formatTime(def.created_at)}).
      </p>
      {def.revision > 1 && (
        <label>
          Show revision{' '}
          <select value={n ?? ''} onChange={(e) => setN(e.target.value ? Number(e.target.value) : null)}>
            <option value="">choose…</option>
            {numbers.slice(1).map((x) => (
              <option key={x} value={x}>
                {x}
              </option>
            ))}
          </select>
        </label>
      )}
      {n !== null &&
        (rev.error ? (
          <ErrorNotice error={rev.error} what={`Revision ${n}`} />
        ) : rev.isPending ? (
          <Loading />
        ) : (
          <>
            <h3>Revision {n}</h3>
            <p className="muted">Highlighted rows differ from the current revision.</p>
            <Settings def={rev.data} than={def} />
          </>
        ))}
    </section>
  );
}

function CostLine({ report, alias }: { report?: CostReport; alias: string }) {
  if (!report) return null;
  const it = report.items.find((x) => x.key === alias);
  return (
    <p>
      Cost, last 30 days: {it ? <Money usd={it.cost_usd} /> : '$0.00'} over {it?.runs ?? 0} finished runs ·{' '}
      <Link to="/costs?group_by=definition">all definitions</Link>
    </p>
  );
}

export function DefinitionPage() {
  const { ref = '' } = useParams();
  const api = useApi();
  const qc = useQueryClient();
  const navigate = useNavigate();
  const def = useQuery({ queryKey: ['definition', ref], queryFn: () => api.getDefinition(ref) });
  const runs = useQuery({
    queryKey: ['runs', 'definition', def.data?.definition_id],
    queryFn: () => api.listRuns({ definition: def.data!.definition_id, limit: 20 }),
    enabled: !!def.data,
    refetchInterval: 5000,
  });

  const costs = useQuery({
    queryKey: ['costs', 'definition', '720h'],
    queryFn: () => api.getCosts('definition', '720h'),
    enabled: !!def.data,
    retry: false,
  });
  useTitle(def.data ? def.data.alias : `Definition ${ref}`);
  if (def.error)
    return (
      <>
        <ErrorNotice error={def.error} what={`Definition ${ref}`} retry={() => def.refetch()} />
        <Link to="/definitions">All definitions</Link>
      </>
    );
  if (def.isPending) return <Loading what="Loading the definition" />;
  const d = def.data;
  const enc = encodeURIComponent(d.alias);

  return (
    <article aria-labelledby="def-h">
      <p className="breadcrumb">
        <Link to="/definitions">Definitions</Link> / {d.alias}
      </p>
      <div className="page-head">
        <h1 id="def-h">{d.alias}</h1>
        <div className="actions">
          <Link className="button primary" to={`/launch/${enc}`}>
            Launch
          </Link>
          <Link className="button" to={`/definitions/${enc}/edit`}>
            Edit
          </Link>
          <Link className="button" to={`/definitions/new?copy=${enc}`}>
            Copy
          </Link>
          <ConfirmButton
            label="Delete"
            title={`Delete ${d.alias}?`}
            message={<p>The definition and its revisions are deleted. Its runs stay in the history.</p>}
            confirmLabel="Delete definition"
            onConfirm={async () => {
              await api.deleteDefinition(d.definition_id);
              await qc.invalidateQueries({ queryKey: ['definitions'] });
              qc.removeQueries({ queryKey: ['definition', ref] });
              navigate('/definitions');
            }}
          />
        </div>
      </div>
      <p className="muted mono">{d.definition_id}</p>
      <CostLine report={costs.data} alias={d.alias} />
      <Settings def={d} />
      <section aria-labelledby="recent-h">
        <h2 id="recent-h">Recent runs</h2>
        {runs.error ? (
          <ErrorNotice error={runs.error} what="Could not load runs" />
        ) : runs.isPending ? (
          <Loading />
        ) : runs.data.items.length === 0 ? (
          <p className="muted">Never run yet.</p>
        ) : (
          <>
            <p className="recent-summary">
              Last: <StatusBadge status={runs.data.items[0].status} /> <RunStrip runs={runs.data.items} label={d.alias} />
            </p>
            <RunsTable runs={runs.data.items.slice(0, 10)} caption="Latest 10 runs" showDefinition={false} />
            <Link to={`/runs?definition=${encodeURIComponent(d.definition_id)}`}>All runs of {d.alias}</Link>
          </>
        )}
      </section>
      <Revisions def={d} />
    </article>
  );
}
