import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useEffect, useRef, useState, type FormEvent } from 'react';
import { Link, useLocation } from 'react-router';
import { ApiError } from '../api/client';
import { useApi } from '../api/context';
import type { Schedule, ScheduleInput } from '../api/types';
import { ConfirmButton, EnvEditor, envRows, ErrorNotice, Field, Loading, RelTime, rowsToEnv, StaleNotice, TableScroll, useTitle, type EnvRow } from '../components/common';
import { initialParamValues, paramsBody, ParamsForm, paramSpecs, type ParamValues } from '../components/ParamsForm';
import { formatTime, formatTimeIn, zoneLabel } from '../format';
import { RunsTable, useDebounced } from './RunsPage';

interface FormValues {
  name: string;
  definition: string;
  cluster: string;
  expression: string;
  timezone: string;
  enabled: boolean;
  catch_up: string;
}

/** Preview shows the next fire times of what is typed, in the schedule's zone and the viewer's, as the user types. */
function Preview({ expression, timezone }: { expression: string; timezone: string }) {
  const api = useApi();
  const typed = useDebounced({ expression: expression.trim(), timezone: timezone.trim() || 'UTC' }, 300);
  const preview = useQuery({
    queryKey: ['schedule-preview', typed.expression, typed.timezone],
    queryFn: () => api.previewSchedule(typed.expression, typed.timezone),
    enabled: typed.expression !== '',
    retry: false,
    staleTime: 60_000,
  });
  if (!typed.expression) return null;
  const local = zoneLabel();
  return (
    <div className="hint small" aria-live="polite" data-testid="schedule-preview">
      {preview.error instanceof ApiError ? (
        <span className="field-error">{preview.error.fieldErrors.map((f) => `${f.field}: ${f.message}`).join('; ') || preview.error.title}</span>
      ) : preview.data ? (
        preview.data.next_fire_times.length === 0 ? (
          'Never fires after now.'
        ) : (
          <>
            Next fire times ({preview.data.timezone}):
            <ol className="preview">
              {preview.data.next_fire_times.map((t) => (
                <li key={t}>
                  <time dateTime={t}>{formatTimeIn(t, preview.data.timezone)}</time>
                  {preview.data.timezone !== Intl.DateTimeFormat().resolvedOptions().timeZone && (
                    <span className="muted">
                      {' '}
                      = {formatTime(t).slice(0, 16)} {local}
                    </span>
                  )}
                </li>
              ))}
            </ol>
          </>
        )
      ) : (
        'Working out the next fire times…'
      )}
    </div>
  );
}

/** ScheduleForm creates a schedule, or edits one (a PATCH of the changed fields only). */
function ScheduleForm({ existing, onDone }: { existing?: Schedule; onDone: () => void }) {
  const api = useApi();
  const qc = useQueryClient();
  const [v, setV] = useState<FormValues>(() => ({
    name: existing?.name ?? '',
    definition: existing?.definition ?? '',
    cluster: existing?.cluster ?? '',
    expression: existing?.expression ?? 'rate(1 hour)',
    timezone: existing?.timezone || Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC',
    enabled: existing?.enabled ?? true,
    catch_up: existing?.catch_up ?? 'none',
  }));
  const [env, setEnv] = useState<EnvRow[]>(() => envRows(existing?.env));
  const formRef = useRef<HTMLFormElement>(null);
  const defs = useQuery({ queryKey: ['definitions', 'names'], queryFn: () => api.listDefinitions({ limit: 500 }) });
  // A template's parameters get their form once its definition is named; values start again for another definition.
  const chosen = defs.data?.items.find((d) => d.alias === v.definition || d.definition_id === v.definition);
  const specs = paramSpecs(chosen?.parameters_schema);
  const [pv, setPv] = useState<{ def?: string; values: ParamValues }>({ values: {} });
  const paramValues =
    pv.def !== undefined && pv.def === chosen?.definition_id
      ? pv.values
      : initialParamValues(specs, chosen && chosen.definition_id === existing?.definition ? existing?.params : undefined);
  const save = useMutation({
    mutationFn: () => {
      const body: ScheduleInput = { ...v, cluster: v.cluster || undefined, env: rowsToEnv(env), params: specs.length ? paramsBody(specs, paramValues) : undefined };
      if (!existing) return api.createSchedule(body);
      const patch: ScheduleInput = {};
      for (const k of Object.keys(body) as (keyof ScheduleInput)[]) {
        if (JSON.stringify(body[k] ?? null) !== JSON.stringify(existing[k] ?? null)) (patch as Record<string, unknown>)[k] = body[k];
      }
      return api.updateSchedule(existing.schedule_id, patch);
    },
    onSuccess: async () => {
      await qc.invalidateQueries({ queryKey: ['schedules'] });
      onDone();
    },
  });
  useEffect(() => {
    if (save.error) formRef.current?.querySelector<HTMLElement>('[aria-invalid="true"]')?.focus();
  }, [save.error]);
  const err = (f: string) => (save.error instanceof ApiError ? save.error.fieldError(f) : undefined);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    save.mutate();
  };
  const headId = existing ? `edit-sched-h-${existing.schedule_id}` : 'new-sched-h';
  const aliasOf = defs.data?.items.find((d) => d.definition_id === v.definition)?.alias;
  return (
    <form className="form" onSubmit={submit} aria-labelledby={headId} noValidate ref={formRef}>
      <h2 id={headId}>{existing ? `Edit ${existing.name}` : 'New schedule'}</h2>
      {save.error && <ErrorNotice error={save.error} what={existing ? 'Not saved' : 'Not created'} />}
      <Field label="Name" error={err('name')}>
        {(p) => <input {...p} value={v.name} onChange={(e) => setV({ ...v, name: e.target.value })} />}
      </Field>
      <Field label="Definition" error={err('definition')} hint={aliasOf ? `Alias or id (now ${aliasOf})` : 'Alias or id'}>
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
      <Field label="Expression" error={err('expression')} hint={<>cron(0 3 * * ? *), rate(15 minutes) or at(2026-12-24T18:00:00)</>}>
        {(p) => <input {...p} className="mono" value={v.expression} onChange={(e) => setV({ ...v, expression: e.target.value })} />}
      </Field>
      <Field label="Time zone" error={err('timezone')} hint="IANA name, e.g. Europe/Paris; cron() and at() times are read in it">
        {(p) => <input {...p} value={v.timezone} onChange={(e) => setV({ ...v, timezone: e.target.value })} />}
      </Field>
      <Preview expression={v.expression} timezone={v.timezone} />
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
        <button type="submit" className="primary" disabled={save.isPending}>
          {existing ? 'Save schedule' : 'Create schedule'}
        </button>
        <button type="button" onClick={onDone}>
          Cancel
        </button>
      </div>
    </form>
  );
}

/** ScheduleRuns lists what a schedule launched (GET /v1/runs?schedule_id=). */
function ScheduleRuns({ s }: { s: Schedule }) {
  const api = useApi();
  const runs = useQuery({
    queryKey: ['runs', 'schedule', s.schedule_id],
    queryFn: () => api.listRuns({ schedule_id: s.schedule_id, limit: 20 }),
    refetchInterval: 5000,
  });
  return (
    <section aria-label={`Runs launched by ${s.name}`}>
      <h2>Runs launched by {s.name}</h2>
      {runs.error ? (
        <ErrorNotice error={runs.error} what="Could not load its runs" />
      ) : !runs.data ? (
        <Loading />
      ) : runs.data.items.length === 0 ? (
        <p className="muted">It has launched nothing yet.</p>
      ) : (
        <RunsTable runs={runs.data.items} caption={`Latest ${runs.data.items.length} runs of ${s.name}`} />
      )}
    </section>
  );
}

function ScheduleRow({ s, aliases, shown, onShow, onEdit }: { s: Schedule; aliases: Map<string, string>; shown: boolean; onShow: () => void; onEdit: () => void }) {
  const api = useApi();
  const qc = useQueryClient();
  const toggle = useMutation({
    mutationFn: (enabled: boolean) => api.updateSchedule(s.schedule_id, { enabled }),
    onSettled: () => qc.invalidateQueries({ queryKey: ['schedules'] }),
  });
  const runNow = useMutation({
    mutationFn: () => api.runScheduleNow(s.schedule_id),
    onSuccess: () => qc.invalidateQueries({ queryKey: ['runs'] }),
  });
  // Show the switch where the user put it while the change is on its way.
  const enabled = toggle.isPending ? toggle.variables : s.enabled;
  const defName = aliases.get(s.definition) ?? s.definition;
  const zone = s.timezone || 'UTC';
  return (
    <tr id={s.schedule_id} className={shown ? 'sched-selected' : undefined}>
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
      <td className="mono">
        {s.expression}
        <div className="muted small">in {zone}</div>
      </td>
      <td>
        {(s.next_fire_times ?? []).slice(0, 3).map((t) => (
          <div key={t}>
            <time dateTime={t} title={`${formatTime(t)} ${zoneLabel()}`}>
              {formatTimeIn(t, zone)}
            </time>
          </div>
        ))}
        {(s.next_fire_times ?? []).length === 0 && <span className="muted">{enabled ? 'never again' : 'none while paused'}</span>}
      </td>
      <td>
        <RelTime at={s.last_fire_time} />
      </td>
      <td>
        <label>
          <input type="checkbox" checked={enabled} disabled={toggle.isPending} onChange={(e) => toggle.mutate(e.target.checked)} aria-label={`${s.name} enabled`} />{' '}
          {enabled ? 'on' : 'paused'}
        </label>
        {toggle.error && <ErrorNotice error={toggle.error} />}
      </td>
      <td>
        <div className="actions">
          <button type="button" onClick={() => runNow.mutate()} disabled={runNow.isPending}>
            {runNow.isPending ? 'Launching…' : 'Run now'}
          </button>
          <button type="button" aria-expanded={shown} onClick={onShow}>
            Runs
          </button>
          <button type="button" onClick={onEdit}>
            Edit
          </button>
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
        </div>
        {runNow.data && (
          <div className="small run-now-done" role="status">
            Launched <Link to={`/runs/${encodeURIComponent(runNow.data.run_id)}`}>{runNow.data.run_id}</Link>
          </div>
        )}
        {runNow.error && <ErrorNotice error={runNow.error} what="Not launched" />}
      </td>
    </tr>
  );
}

export function SchedulesPage() {
  const api = useApi();
  const { hash } = useLocation();
  const [creating, setCreating] = useState(false);
  const [editing, setEditing] = useState<string | null>(null);
  const [shown, setShown] = useState<string | null>(() => (hash.startsWith('#sch_') ? decodeURIComponent(hash.slice(1)) : null));
  useTitle('Schedules');
  const schedules = useQuery({ queryKey: ['schedules'], queryFn: () => api.listSchedules(), retry: false, refetchInterval: 10_000 });
  const defs = useQuery({ queryKey: ['definitions', 'names'], queryFn: () => api.listDefinitions({ limit: 500 }) });
  const aliases = new Map((defs.data?.items ?? []).map((d) => [d.definition_id, d.alias]));
  const missing = schedules.error instanceof ApiError && (schedules.error.status === 404 || schedules.error.status === 405 || schedules.error.status === 501);
  const items = schedules.data?.items ?? [];
  const editingSchedule = items.find((s) => s.schedule_id === editing);
  const shownSchedule = items.find((s) => s.schedule_id === shown);
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
      {creating && <ScheduleForm onDone={() => setCreating(false)} />}
      {editingSchedule && <ScheduleForm key={editingSchedule.schedule_id} existing={editingSchedule} onDone={() => setEditing(null)} />}
      {missing ? (
        <div className="notice" role="alert">
          <strong>Schedules are not available on this server yet.</strong>
          <p>The server answered {(schedules.error as ApiError).status} to GET /v1/schedules. Definitions and runs work as usual.</p>
        </div>
      ) : !schedules.data && schedules.error ? (
        <ErrorNotice error={schedules.error} what="Could not load schedules" retry={() => schedules.refetch()} />
      ) : !schedules.data ? (
        <Loading />
      ) : items.length === 0 ? (
        <p className="muted">No schedules yet.</p>
      ) : (
        <>
          <StaleNotice error={schedules.error} updatedAt={schedules.dataUpdatedAt} retry={() => schedules.refetch()} />
          <TableScroll>
            <table>
              <caption className="sr-only">Schedules</caption>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Definition</th>
                  <th scope="col">Cluster</th>
                  <th scope="col">Expression</th>
                  <th scope="col">Next fire (schedule's zone)</th>
                  <th scope="col">Last fired</th>
                  <th scope="col">Enabled</th>
                  <th scope="col">
                    <span className="sr-only">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {items.map((s) => (
                  <ScheduleRow
                    key={s.schedule_id}
                    s={s}
                    aliases={aliases}
                    shown={shown === s.schedule_id}
                    onShow={() => setShown(shown === s.schedule_id ? null : s.schedule_id)}
                    onEdit={() => {
                      setCreating(false);
                      setEditing(s.schedule_id);
                    }}
                  />
                ))}
              </tbody>
            </table>
          </TableScroll>
          {shownSchedule && <ScheduleRuns s={shownSchedule} />}
        </>
      )}
    </section>
  );
}
