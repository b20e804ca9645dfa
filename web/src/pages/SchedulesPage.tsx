import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { Link } from 'react-router';
import { ApiError } from '../api/client';
import { useApi } from '../api/context';
import type { Schedule } from '../api/types';
import { ConfirmButton, EnvEditor, ErrorNotice, Field, Loading, rowsToEnv, type EnvRow } from '../components/common';
import { initialParamValues, paramsBody, ParamsForm, paramSpecs, type ParamValues } from '../components/ParamsForm';
import { formatTime } from '../format';

function NewSchedule({ onDone }: { onDone: () => void }) {
  const api = useApi();
  const qc = useQueryClient();
  const [v, setV] = useState({
    name: '',
    definition: '',
    cluster: '',
    expression: 'rate(1 hour)',
    timezone: Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC',
    enabled: true,
    catch_up: 'none',
  });
  const [env, setEnv] = useState<EnvRow[]>([]);
  const defs = useQuery({ queryKey: ['definitions', 'names'], queryFn: () => api.listDefinitions({ limit: 500 }) });
  // A template's parameters get their form once its definition is named; values start again for another definition.
  const chosen = defs.data?.items.find((d) => d.alias === v.definition || d.definition_id === v.definition);
  const specs = paramSpecs(chosen?.parameters_schema);
  const [pv, setPv] = useState<{ def?: string; values: ParamValues }>({ values: {} });
  const paramValues = pv.def !== undefined && pv.def === chosen?.definition_id ? pv.values : initialParamValues(specs);
  const create = useMutation({
    mutationFn: () =>
      api.createSchedule({ ...v, cluster: v.cluster || undefined, env: rowsToEnv(env), params: specs.length ? paramsBody(specs, paramValues) : undefined }),
    onSuccess: async () => {
      await qc.invalidateQueries({ queryKey: ['schedules'] });
      onDone();
    },
  });
  const err = (f: string) => (create.error instanceof ApiError ? create.error.fieldError(f) : undefined);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    create.mutate();
  };
  return (
    <form className="form" onSubmit={submit} aria-labelledby="new-sched-h" noValidate>
      <h2 id="new-sched-h">New schedule</h2>
      {create.error && <ErrorNotice error={create.error} what="Not created" />}
      <Field label="Name" error={err('name')}>
        {(p) => <input {...p} value={v.name} onChange={(e) => setV({ ...v, name: e.target.value })} />}
      </Field>
      <Field label="Definition" error={err('definition')} hint="Alias or id">
        {(p) => (
          <>
            <input {...p} list="schedule-definitions" value={v.definition} onChange={(e) => setV({ ...v, definition: e.target.value })} />
            <datalist id="schedule-definitions">
              {defs.data?.items.map((d) => <option key={d.definition_id} value={d.alias} />)}
            </datalist>
          </>
        )}
      </Field>
      <Field label="Cluster" error={err('cluster')}>
        {(p) => <input {...p} value={v.cluster} placeholder="server default" onChange={(e) => setV({ ...v, cluster: e.target.value })} />}
      </Field>
      <Field label="Expression" error={err('expression')} hint="cron(0 3 * * ? *) or rate(15 minutes)">
        {(p) => <input {...p} className="mono" value={v.expression} onChange={(e) => setV({ ...v, expression: e.target.value })} />}
      </Field>
      <Field label="Time zone" error={err('timezone')} hint="IANA name, e.g. Europe/Paris">
        {(p) => <input {...p} value={v.timezone} onChange={(e) => setV({ ...v, timezone: e.target.value })} />}
      </Field>
      <label className="check">
        <input type="checkbox" checked={v.enabled} onChange={(e) => setV({ ...v, enabled: e.target.checked })} /> Enabled
      </label>
      <Field label="Missed fire times" error={err('catch_up')} hint="When the server was down at a fire time">
        {(p) => (
          <select {...p} value={v.catch_up} onChange={(e) => setV({ ...v, catch_up: e.target.value })}>
            <option value="none">skip them</option>
            <option value="latest">run the latest one once</option>
          </select>
        )}
      </Field>
      <ParamsForm specs={specs} values={paramValues} onChange={(values) => setPv({ def: chosen?.definition_id, values })} errorFor={err} />
      <EnvEditor rows={env} onChange={setEnv} errorFor={err} />
      <div className="actions">
        <button type="submit" className="primary" disabled={create.isPending}>
          Create schedule
        </button>
        <button type="button" onClick={onDone}>
          Cancel
        </button>
      </div>
    </form>
  );
}

function ScheduleRow({ s, aliases }: { s: Schedule; aliases: Map<string, string> }) {
  const api = useApi();
  const qc = useQueryClient();
  const toggle = useMutation({
    mutationFn: (enabled: boolean) => api.updateSchedule(s.schedule_id, { enabled }),
    onSettled: () => qc.invalidateQueries({ queryKey: ['schedules'] }),
  });
  // Show the switch where the user put it while the change is on its way.
  const enabled = toggle.isPending ? toggle.variables : s.enabled;
  const defName = aliases.get(s.definition) ?? s.definition;
  return (
    <tr>
      <th scope="row">{s.name}</th>
      <td>
        <Link to={`/definitions/${encodeURIComponent(s.definition)}`}>{defName}</Link>
        {s.params && Object.keys(s.params).length > 0 && (
          <div className="muted mono" aria-label={`${s.name} params`}>
            {Object.entries(s.params)
              .map(([k, x]) => `${k}=${JSON.stringify(x)}`)
              .join(' ')}
          </div>
        )}
      </td>
      <td>{s.cluster || 'default'}</td>
      <td className="mono">{s.expression}</td>
      <td>{s.timezone || 'UTC'}</td>
      <td>
        {(s.next_fire_times ?? []).slice(0, 3).map((t) => (
          <div key={t}>
            <time dateTime={t}>{formatTime(t)}</time>
          </div>
        ))}
      </td>
      <td>{formatTime(s.last_fire_time)}</td>
      <td>
        <label>
          <input type="checkbox" checked={enabled} disabled={toggle.isPending} onChange={(e) => toggle.mutate(e.target.checked)} aria-label={`${s.name} enabled`} />{' '}
          {enabled ? 'on' : 'paused'}
        </label>
        {toggle.error && <ErrorNotice error={toggle.error} />}
      </td>
      <td>
        <ConfirmButton
          label="Delete"
          title={`Delete schedule ${s.name}?`}
          message={<p>No more runs are launched by it. Runs it launched stay in the history.</p>}
          confirmLabel="Delete schedule"
          onConfirm={async () => {
            await api.deleteSchedule(s.schedule_id);
            await qc.invalidateQueries({ queryKey: ['schedules'] });
          }}
        />
      </td>
    </tr>
  );
}

export function SchedulesPage() {
  const api = useApi();
  const [creating, setCreating] = useState(false);
  const schedules = useQuery({ queryKey: ['schedules'], queryFn: () => api.listSchedules(), retry: false });
  const defs = useQuery({ queryKey: ['definitions', 'names'], queryFn: () => api.listDefinitions({ limit: 500 }) });
  const aliases = new Map((defs.data?.items ?? []).map((d) => [d.definition_id, d.alias]));
  const missing = schedules.error instanceof ApiError && (schedules.error.status === 404 || schedules.error.status === 405 || schedules.error.status === 501);
  return (
    <section aria-labelledby="sched-h">
      <div className="page-head">
        <h1 id="sched-h">Schedules</h1>
        {!creating && !missing && (
          <button type="button" className="primary" onClick={() => setCreating(true)}>
            New schedule
          </button>
        )}
      </div>
      {creating && <NewSchedule onDone={() => setCreating(false)} />}
      {missing ? (
        <div className="notice" role="alert">
          <strong>Schedules are not available on this server yet.</strong>
          <p>The server answered {(schedules.error as ApiError).status} to GET /v1/schedules. Definitions and runs work as usual.</p>
        </div>
      ) : schedules.error ? (
        <ErrorNotice error={schedules.error} what="Could not load schedules" retry={() => schedules.refetch()} />
      ) : schedules.isPending ? (
        <Loading />
      ) : schedules.data.items.length === 0 ? (
        <p className="muted">No schedules yet.</p>
      ) : (
        <table>
          <caption className="sr-only">Schedules</caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Definition</th>
              <th scope="col">Cluster</th>
              <th scope="col">Expression</th>
              <th scope="col">Time zone</th>
              <th scope="col">Next</th>
              <th scope="col">Last fired</th>
              <th scope="col">Enabled</th>
              <th scope="col">
                <span className="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {schedules.data.items.map((s) => (
              <ScheduleRow key={s.schedule_id} s={s} aliases={aliases} />
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
