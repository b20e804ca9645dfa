import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { Link, useNavigate, useParams, useSearchParams } from 'react-router';
import { ApiError } from '../api/client';
import { useApi } from '../api/context';
import type { Definition, DefinitionInput, NotifyTarget } from '../api/types';
import { EnvEditor, envRows, ErrorNotice, Field, Loading, rowsToEnv, useTitle, type EnvRow } from '../components/common';

interface FormValues {
  alias: string;
  group_name: string;
  image: string;
  command: string;
  cpu: string;
  memory: string;
  gpu: string;
  timeout_seconds: string;
  max_attempts: string;
  tags: string;
  env: EnvRow[];
  task_role_arn: string;
  oom_factor: string;
  notify: string;
  /** JSON text of the parameters_schema; empty for none. */
  parameters_schema: string;
}

const blank: FormValues = {
  alias: '',
  group_name: '',
  image: '',
  command: '',
  cpu: '256',
  memory: '512',
  gpu: '',
  timeout_seconds: '',
  max_attempts: '',
  tags: '',
  env: [],
  task_role_arn: '',
  oom_factor: '',
  notify: '',
  parameters_schema: '',
};

/** notifyLines writes targets one per line: a webhook (",secret=<ref>" when signed) or an address. */
export function notifyLines(ts: NotifyTarget[] | undefined): string {
  return (ts ?? []).map((t) => (t.email ? t.email : t.secret ? `${t.webhook},secret=${t.secret}` : (t.webhook ?? ''))).join('\n');
}

/** parseNotify reads those lines back: a line with "@" and no "://" is an address. */
export function parseNotify(text: string): NotifyTarget[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .map((l) => {
      if (!l.includes('://') && l.includes('@')) return { email: l };
      const [webhook, opt] = l.split(/,(.*)/s, 2);
      const secret = opt?.trim().startsWith('secret=') ? opt.trim().slice('secret='.length) : undefined;
      return secret ? { webhook: webhook.trim(), secret } : { webhook: webhook.trim() };
    });
}

function fromDefinition(d: Definition, copy: boolean): FormValues {
  const s = (n?: number) => (n === undefined || n === null ? '' : String(n));
  return {
    alias: copy ? '' : d.alias,
    group_name: d.group_name ?? '',
    image: d.image,
    command: d.command,
    cpu: s(d.cpu),
    memory: s(d.memory),
    gpu: d.gpu ? s(d.gpu) : '',
    timeout_seconds: s(d.timeout_seconds || undefined),
    max_attempts: s(d.retry?.max_attempts),
    tags: (d.tags ?? []).join(', '),
    env: envRows(d.env),
    task_role_arn: d.task_role_arn ?? '',
    oom_factor: s(d.on_out_of_memory?.retry_with_memory_factor),
    notify: notifyLines(d.notify),
    parameters_schema: d.parameters_schema ? JSON.stringify(d.parameters_schema, null, 2) : '',
  };
}

/** schemaInput is the schema text as JSON (null for none); text that is not JSON is sent as is, so the API names it. */
function schemaInput(text: string): DefinitionInput['parameters_schema'] {
  if (text.trim() === '') return null;
  try {
    return JSON.parse(text);
  } catch {
    return text as unknown as DefinitionInput['parameters_schema'];
  }
}

const num = (s: string) => (s.trim() === '' ? undefined : Number(s));

/** toInput turns the form into an API body. A number field that is not a number is sent as typed, so the API names it. */
export function toInput(v: FormValues): DefinitionInput {
  const n = (s: string) => {
    const x = num(s);
    return x !== undefined && Number.isNaN(x) ? (s as unknown as number) : x;
  };
  const maxAttempts = n(v.max_attempts);
  return {
    alias: v.alias.trim(),
    group_name: v.group_name.trim(),
    image: v.image.trim(),
    command: v.command,
    cpu: n(v.cpu),
    memory: n(v.memory),
    gpu: n(v.gpu),
    timeout_seconds: n(v.timeout_seconds),
    retry: maxAttempts === undefined ? undefined : { max_attempts: maxAttempts },
    tags: v.tags
      .split(',')
      .map((t) => t.trim())
      .filter(Boolean),
    env: rowsToEnv(v.env),
    task_role_arn: v.task_role_arn.trim(),
    // {} turns the policy off; a factor that is not a number goes as typed, for the API to name.
    on_out_of_memory: v.oom_factor.trim() === '' ? {} : { retry_with_memory_factor: n(v.oom_factor) },
    notify: parseNotify(v.notify),
    parameters_schema: schemaInput(v.parameters_schema),
  };
}

/** changedFields keeps only what differs from the current definition (the PATCH body). */
export function changedFields(next: DefinitionInput, cur: Definition): DefinitionInput {
  const out: Record<string, unknown> = {};
  const same = (a: unknown, b: unknown) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
  for (const [k, v] of Object.entries(next)) {
    const old = (cur as unknown as Record<string, unknown>)[k];
    if (k === 'env' || k === 'tags' || k === 'notify' || k === 'on_out_of_memory') {
      const empty = (x: unknown) => x === undefined || x === null || (Array.isArray(x) ? x.length === 0 : Object.keys(x as object).length === 0);
      if (!(empty(v) && empty(old)) && !same(v, old)) out[k] = v;
    } else if (k === 'gpu' || k === 'timeout_seconds') {
      // An empty box means none: the same as 0.
      if (!same(v || null, old || null)) out[k] = v ?? 0;
    } else if (k === 'task_role_arn') {
      // An empty box means the shared role: the same as no value.
      if (!same(v || null, old || null)) out[k] = v ?? '';
    } else if (!same(v, old)) out[k] = v;
  }
  return out as DefinitionInput;
}

function DefinitionForm({ initial, existing, mode }: { initial: FormValues; existing?: Definition; mode: 'create' | 'edit' | 'copy' }) {
  const api = useApi();
  const qc = useQueryClient();
  const navigate = useNavigate();
  const [v, setV] = useState<FormValues>(initial);
  const set = (patch: Partial<FormValues>) => setV((x) => ({ ...x, ...patch }));

  const save = useMutation({
    mutationFn: async () => {
      const body = toInput(v);
      if (mode === 'edit' && existing) {
        const patch = changedFields(body, existing);
        if (Object.keys(patch).length === 0) return existing;
        return api.updateDefinition(existing.definition_id, patch);
      }
      return api.createDefinition(body);
    },
    onSuccess: async (d) => {
      await qc.invalidateQueries({ queryKey: ['definitions'] });
      await qc.invalidateQueries({ queryKey: ['definition'] });
      navigate(`/definitions/${encodeURIComponent(d.alias)}`);
    },
  });
  const apiErr = save.error instanceof ApiError ? save.error : null;
  const err = (f: string) => apiErr?.fieldError(f);
  // A schema's errors name a place inside it (parameters_schema.properties.x.type): shown with that place.
  const schemaErr = apiErr?.fieldErrors.filter((e) => e.field.startsWith('parameters_schema')).map((e) => `${e.field}: ${e.message}`).join('; ') || undefined;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    save.mutate();
  };
  const title = mode === 'edit' ? `Edit ${existing?.alias}` : mode === 'copy' ? `Copy of ${existing?.alias}` : 'New definition';

  return (
    <form onSubmit={submit} className="form" aria-labelledby="form-h" noValidate>
      <h1 id="form-h">{title}</h1>
      {mode === 'edit' && <p className="muted">Saving makes revision {(existing?.revision ?? 0) + 1}; runs keep the revision they ran with.</p>}
      {save.error && <ErrorNotice error={save.error} what="Not saved" />}
      <Field label="Alias" error={err('alias')} hint="A unique name, e.g. nightly-report">
        {(p) => <input {...p} name="alias" required value={v.alias} onChange={(e) => set({ alias: e.target.value })} autoFocus />}
      </Field>
      <Field label="Group" error={err('group_name')}>
        {(p) => <input {...p} name="group_name" value={v.group_name} onChange={(e) => set({ group_name: e.target.value })} />}
      </Field>
      <Field label="Image" error={err('image')} hint="e.g. python:3.12-slim">
        {(p) => <input {...p} name="image" required value={v.image} onChange={(e) => set({ image: e.target.value })} className="mono" />}
      </Field>
      <Field label="Command" error={err('command')} hint="Run with sh -c">
        {(p) => <textarea {...p} name="command" rows={4} value={v.command} onChange={(e) => set({ command: e.target.value })} className="mono" />}
      </Field>
      <div className="row">
        <Field label="CPU units" error={err('cpu')} hint="1024 = 1 vCPU">
          {(p) => <input {...p} name="cpu" inputMode="numeric" value={v.cpu} onChange={(e) => set({ cpu: e.target.value })} />}
        </Field>
        <Field label="Memory (MiB)" error={err('memory')}>
          {(p) => <input {...p} name="memory" inputMode="numeric" value={v.memory} onChange={(e) => set({ memory: e.target.value })} />}
        </Field>
        <Field label="GPUs" error={err('gpu')}>
          {(p) => <input {...p} name="gpu" inputMode="numeric" value={v.gpu} onChange={(e) => set({ gpu: e.target.value })} placeholder="0" />}
        </Field>
      </div>
      <div className="row">
        <Field label="Timeout (seconds)" error={err('timeout_seconds')}>
          {(p) => (
            <input {...p} name="timeout_seconds" inputMode="numeric" value={v.timeout_seconds} onChange={(e) => set({ timeout_seconds: e.target.value })} placeholder="none" />
          )}
        </Field>
        <Field label="Max attempts" error={err('retry.max_attempts') ?? err('retry')} hint="For infrastructure failures">
          {(p) => <input {...p} name="max_attempts" inputMode="numeric" value={v.max_attempts} onChange={(e) => set({ max_attempts: e.target.value })} placeholder="default" />}
        </Field>
      </div>
      <Field label="Tags" error={err('tags')} hint="Comma-separated">
        {(p) => <input {...p} name="tags" value={v.tags} onChange={(e) => set({ tags: e.target.value })} />}
      </Field>
      <EnvEditor rows={v.env} onChange={(env) => set({ env })} errorFor={err} />
      <fieldset className="day-two">
        <legend>When it runs</legend>
        <Field label="Task role ARN" error={err('task_role_arn')} hint="Deployed: the IAM role its jobs run as (flotilla-job-<stage>-…). Locally not used.">
          {(p) => <input {...p} name="task_role_arn" value={v.task_role_arn} onChange={(e) => set({ task_role_arn: e.target.value })} className="mono" placeholder="the deployment's shared task role" />}
        </Field>
        <Field label="Out of memory: retry with × memory" error={err('on_out_of_memory.retry_with_memory_factor')} hint="e.g. 2; on ECS only (locally memory is not enforced)">
          {(p) => <input {...p} name="oom_factor" inputMode="decimal" value={v.oom_factor} onChange={(e) => set({ oom_factor: e.target.value })} placeholder="no retry" />}
        </Field>
        <Field
          label="Notify when a run ends"
          error={apiErr?.fieldErrors.filter((e) => e.field.startsWith('notify')).map((e) => `${e.field}: ${e.message}`).join('; ') || undefined}
          hint="One per line: a webhook URL (add ,secret=ssm:/… to sign it) or an e-mail address"
        >
          {(p) => <textarea {...p} name="notify" rows={2} value={v.notify} onChange={(e) => set({ notify: e.target.value })} className="mono" />}
        </Field>
      </fieldset>
      <Field
        label="Parameters schema (JSON)"
        error={schemaErr}
        hint="Optional. A JSON Schema object of string, number, integer and boolean parameters; the command may then use {{ .params.NAME }}, and each launch gets a form for them."
      >
        {(p) => (
          <textarea {...p} name="parameters_schema" rows={6} className="mono" value={v.parameters_schema} onChange={(e) => set({ parameters_schema: e.target.value })} />
        )}
      </Field>
      <div className="actions">
        <button type="submit" className="primary" disabled={save.isPending}>
          {save.isPending ? 'Saving…' : mode === 'edit' ? 'Save revision' : 'Create definition'}
        </button>
        <Link className="button" to={existing ? `/definitions/${encodeURIComponent(existing.alias)}` : '/definitions'}>
          Cancel
        </Link>
      </div>
    </form>
  );
}

/** DefinitionFormPage serves /definitions/new (?copy=ref) and /definitions/:ref/edit. */
export function DefinitionFormPage({ mode }: { mode: 'create' | 'edit' }) {
  const api = useApi();
  const { ref } = useParams();
  const [params] = useSearchParams();
  const source = mode === 'edit' ? ref : (params.get('copy') ?? undefined);
  const def = useQuery({ queryKey: ['definition', source], queryFn: () => api.getDefinition(source!), enabled: !!source });
  useTitle(mode === 'edit' ? `Edit ${source}` : source ? `Copy of ${source}` : 'New definition');
  if (!source) return <DefinitionForm initial={blank} mode="create" />;
  if (def.error) return <ErrorNotice error={def.error} what={`Definition ${source}`} retry={() => def.refetch()} />;
  if (def.isPending) return <Loading />;
  const kind = mode === 'edit' ? 'edit' : 'copy';
  return <DefinitionForm key={`${kind}-${def.data.definition_id}`} initial={fromDefinition(def.data, kind === 'copy')} existing={def.data} mode={kind} />;
}
