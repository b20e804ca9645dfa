import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useEffect, useRef, useState, type FormEvent } from 'react';
import { Link, useNavigate, useParams, useSearchParams } from 'react-router';
import { ApiError } from '../api/client';
import { useApi } from '../api/context';
import type { Cluster, Definition, LaunchInput, Run } from '../api/types';
import { EnvEditor, envRows, ErrorNotice, Field, Loading, rowsToEnv, useTitle, type EnvRow } from '../components/common';
import { initialParamValues, paramsBody, ParamsForm, paramSpecs, type ParamValues } from '../components/ParamsForm';
import { formatCpu, formatMemory } from '../format';
import { POLL_MS } from './RunsPage';

interface LaunchValues {
  cluster: string;
  cpu: string;
  memory: string;
  command: string;
  timeout_seconds: string;
  tags: string;
  env: EnvRow[];
  /** One run, an array of arraySize children, or one child per item of arrayItems. */
  arrayMode: 'none' | 'size' | 'items';
  arraySize: string;
  /** A JSON array of objects, or one JSON object a line. */
  arrayItems: string;
  /** Run ids, separated by commas or spaces: this launch waits until they have all succeeded. */
  after: string;
}

/** The API's bounds on arrays and dependencies (flotilla.MaxArraySize, MaxAfter). */
export const MAX_ARRAY = 10000;
export const MAX_AFTER = 20;

/** parseItems reads the items box: a JSON array of objects, or JSON Lines. */
export function parseItems(text: string): { items?: Record<string, unknown>[]; error?: string } {
  const t = text.trim();
  if (!t) return { error: 'give the items: a JSON array of objects, or one JSON object a line' };
  let items: unknown[];
  if (t.startsWith('[')) {
    try {
      items = JSON.parse(t) as unknown[];
    } catch (e) {
      return { error: `not a JSON array: ${(e as Error).message}` };
    }
  } else {
    items = [];
    const lines = t.split('\n');
    for (let i = 0; i < lines.length; i++) {
      if (!lines[i].trim()) continue;
      try {
        items.push(JSON.parse(lines[i]));
      } catch {
        return { error: `line ${i + 1} is not JSON` };
      }
    }
  }
  const bad = items.findIndex((x) => typeof x !== 'object' || x === null || Array.isArray(x));
  if (bad >= 0) return { error: `item ${bad} is not a JSON object` };
  if (items.length === 0) return { error: 'there are no items' };
  if (items.length > MAX_ARRAY) return { error: `${items.length.toLocaleString('en-US')} items: at most ${MAX_ARRAY.toLocaleString('en-US')}` };
  return { items: items as Record<string, unknown>[] };
}

/** afterIds splits the "Run after" box into run ids. */
export function afterIds(text: string): string[] {
  return text.split(/[\s,]+/).filter(Boolean);
}

/** initialValues pre-fills the form from the definition, and from an earlier run for "Run again". */
export function initialValues(def: Definition, from?: Run): LaunchValues {
  const src = from ?? def;
  const defEnv = def.env ?? {};
  // The definition's variables first (their names fixed), then the ones the earlier run added.
  const env = envRows({ ...defEnv, ...(from?.env ?? {}) }).map((r) => ({ ...r, fixed: r.key in defEnv }));
  return {
    cluster: from?.cluster ?? '',
    cpu: String(src.cpu ?? ''),
    memory: String(src.memory ?? ''),
    // A template's earlier run has its rendered command: start from the template, with the run's params.
    command: (def.parameters_schema ? def.command : src.command) ?? '',
    timeout_seconds: src.timeout_seconds ? String(src.timeout_seconds) : '',
    tags: (from?.tags ?? []).join(', '),
    env,
    // "Run again" of an array by size is an array again; one of items or a retry lists what it
    // ran (stored apart, not on the run), so it starts as one run.
    arrayMode: from?.array && !from.array.listed ? 'size' : 'none',
    arraySize: from?.array && !from.array.listed ? String(from.array.size) : '',
    arrayItems: '',
    after: '',
  };
}

/** launchBody sends only what differs from the definition, plus the cluster and the idempotency key. */
export function launchBody(def: Definition, v: LaunchValues, idempotencyKey: string): LaunchInput {
  const body: LaunchInput = { definition: def.definition_id, idempotency_key: idempotencyKey };
  if (v.cluster) body.cluster = v.cluster;
  const numOrRaw = (s: string) => (Number.isNaN(Number(s)) ? (s as unknown as number) : Number(s));
  if (v.cpu.trim() !== '' && v.cpu.trim() !== String(def.cpu)) body.cpu = numOrRaw(v.cpu.trim());
  if (v.memory.trim() !== '' && v.memory.trim() !== String(def.memory)) body.memory = numOrRaw(v.memory.trim());
  if (v.command !== def.command && v.command.trim() !== '') body.command = v.command;
  if (v.timeout_seconds.trim() !== '' && v.timeout_seconds.trim() !== String(def.timeout_seconds ?? '')) body.timeout_seconds = numOrRaw(v.timeout_seconds.trim());
  const env = rowsToEnv(v.env);
  const defEnv = def.env ?? {};
  const overrides = Object.fromEntries(Object.entries(env).filter(([k, val]) => defEnv[k] !== val));
  if (Object.keys(overrides).length) body.env = overrides;
  const tags = v.tags
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean);
  if (tags.length) body.tags = tags;
  if (v.arrayMode === 'size') body.array = { size: numOrRaw(v.arraySize.trim()) };
  if (v.arrayMode === 'items') {
    const { items } = parseItems(v.arrayItems);
    if (items) body.array = { items };
  }
  const after = afterIds(v.after);
  if (after.length) body.after = after;
  return body;
}

/** The API's limits (flotilla/definition.go), checked here too so every mistake shows at once, before a round trip. */
const LIMITS = { cpu: [128, 16384], memory: [128, 122880], timeout_seconds: [1, 7 * 24 * 3600] } as const;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
const TAG = /^[A-Za-z0-9][A-Za-z0-9:._/=+@-]{0,63}$/;

/**
 * validateLaunch checks the form as the API would and names every bad field
 * in plain words; the API stays the judge (its errors show the same way).
 */
export function validateLaunch(v: LaunchValues): Record<string, string> {
  const errs: Record<string, string> = {};
  const whole = (field: keyof typeof LIMITS, label: string, optional: boolean) => {
    const raw = (v[field] as string).trim();
    if (raw === '') {
      if (!optional) errs[field] = `${label} is required`;
      return;
    }
    const [lo, hi] = LIMITS[field];
    if (!/^\d+$/.test(raw)) errs[field] = `must be a whole number from ${lo} to ${hi}, not “${raw}”`;
    else if (Number(raw) < lo || Number(raw) > hi) errs[field] = `must be from ${lo.toLocaleString('en-US')} to ${hi.toLocaleString('en-US')}`;
  };
  whole('cpu', 'CPU', false);
  whole('memory', 'Memory', false);
  whole('timeout_seconds', 'Timeout', true);
  const seen = new Set<string>();
  for (const r of v.env) {
    const k = r.key.trim();
    if (!k) {
      if (r.value) errs['env'] = 'a variable with a value needs a name';
      continue;
    }
    if (!ENV_NAME.test(k)) errs[`env.${k}`] = 'name must start with a letter or _ and hold only letters, digits and _';
    else if (k.startsWith('FLOTILLA_')) errs[`env.${k}`] = 'names starting with FLOTILLA_ are reserved';
    else if (seen.has(k)) errs[`env.${k}`] = 'is set twice';
    seen.add(k);
  }
  const bad = v.tags
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t && !TAG.test(t));
  if (bad.length) errs.tags = `“${bad[0]}” is not a tag: use letters, digits or :._/=+@- and start with a letter or digit`;
  if (v.arrayMode === 'size') {
    const raw = v.arraySize.trim();
    if (!/^\d+$/.test(raw) || Number(raw) < 1 || Number(raw) > MAX_ARRAY) errs['array.size'] = `how many children: a whole number from 1 to ${MAX_ARRAY.toLocaleString('en-US')}`;
  }
  if (v.arrayMode === 'items') {
    const { error } = parseItems(v.arrayItems);
    if (error) errs['array.items'] = error;
  }
  const after = afterIds(v.after);
  if (after.length > MAX_AFTER) errs.after = `at most ${MAX_AFTER} runs, not ${after.length}`;
  else if (after.some((id) => !/^run_[A-Za-z0-9_-]+$/.test(id))) errs.after = `“${after.find((id) => !/^run_[A-Za-z0-9_-]+$/.test(id))}” is not a run id (run_…)`;
  else if (new Set(after).size !== after.length) errs.after = 'a run is listed twice';
  return errs;
}

/** newKey makes an idempotency key (randomUUID needs a secure context; getRandomValues does not). */
function newKey(): string {
  if (typeof crypto.randomUUID === 'function' && window.isSecureContext) return crypto.randomUUID();
  const a = new Uint8Array(16);
  crypto.getRandomValues(a);
  return Array.from(a, (b) => b.toString(16).padStart(2, '0')).join('');
}

function clusterLabel(c: Cluster): string {
  return `${c.name} — ${c.queued} queued, ${c.running}/${c.max_running} running`;
}

function LaunchForm({ def, from }: { def: Definition; from?: Run }) {
  const api = useApi();
  const qc = useQueryClient();
  const navigate = useNavigate();
  const [v, setV] = useState<LaunchValues>(() => initialValues(def, from));
  // One key per form: a double submit or a retried request launches one run, not two.
  const [key, setKey] = useState(() => newKey());
  const set = (patch: Partial<LaunchValues>) => setV((x) => ({ ...x, ...patch }));
  const specs = paramSpecs(def.parameters_schema);
  const [pv, setPv] = useState<ParamValues>(() => initialParamValues(specs, from?.params));
  const body = () => {
    const b = launchBody(def, v, key);
    if (specs.length) b.params = paramsBody(specs, pv);
    return b;
  };
  // Preview: the API renders the command (dry_run) without launching.
  const preview = useMutation({ mutationFn: () => api.launch({ ...body(), dry_run: true }) });
  const clusters = useQuery({ queryKey: ['clusters'], queryFn: () => api.listClusters(), refetchInterval: POLL_MS });

  const launch = useMutation({
    mutationFn: () => api.launch(body()),
    onSuccess: async (run) => {
      await qc.invalidateQueries({ queryKey: ['runs'] });
      navigate(`/runs/${encodeURIComponent(run.run_id)}`);
    },
    // A rejected launch created nothing: the corrected form is a new request.
    onError: () => setKey(newKey()),
  });
  const failed = launch.error ?? preview.error;
  const apiErr = failed instanceof ApiError ? failed : null;
  const [local, setLocal] = useState<Record<string, string>>({});
  const [tries, setTries] = useState(0);
  const formRef = useRef<HTMLFormElement>(null);
  // What the user typed since is checked again as they fix it; the API's answer stands until the next submit.
  const err = (f: string) => (tries > 0 ? validateLaunch(v)[f] : undefined) ?? (Object.keys(local).length ? undefined : apiErr?.fieldError(f));
  // The API names an element (after[1], array.items[3].day): shown at the box that holds it.
  const errUnder = (f: string) => {
    const own = err(f);
    if (own || Object.keys(local).length) return own;
    const e = apiErr?.fieldErrors.find((x) => x.field.startsWith(`${f}[`) || x.field.startsWith(`${f}.`));
    return e ? `${e.field}: ${e.message}` : undefined;
  };
  const submit = (e: FormEvent) => {
    e.preventDefault();
    preview.reset();
    const errs = validateLaunch(v);
    setLocal(errs);
    setTries((n) => n + 1);
    if (Object.keys(errs).length === 0) launch.mutate();
  };
  // After a failed submit, focus goes to the first field in error (not to <body>).
  useEffect(() => {
    if (tries === 0 && !launch.error) return;
    const first = formRef.current?.querySelector<HTMLElement>('[aria-invalid="true"]');
    first?.focus();
  }, [tries, launch.error]);
  const localCount = Object.keys(local).length;
  const items = clusters.data?.items ?? [];
  const chosen = items.find((c) => c.name === v.cluster);

  return (
    <form className="form" onSubmit={submit} aria-labelledby="launch-h" noValidate ref={formRef}>
      <p className="breadcrumb">
        <Link to="/definitions">Definitions</Link> / <Link to={`/definitions/${encodeURIComponent(def.alias)}`}>{def.alias}</Link> / launch
      </p>
      <h1 id="launch-h">Launch {def.alias}</h1>
      <p className="muted">
        Revision {def.revision} · <span className="mono">{def.image}</span>
        {from && (
          <>
            {' '}
            · pre-filled from run <Link to={`/runs/${encodeURIComponent(from.run_id)}`}>{from.run_id}</Link>
          </>
        )}
      </p>
      {localCount > 0 ? (
        <div className="notice notice-error" role="alert">
          <strong>Not launched: {localCount === 1 ? 'one field needs' : `${localCount} fields need`} a fix.</strong>
        </div>
      ) : (
        failed && <ErrorNotice error={failed} what={launch.error ? 'Not launched' : 'Not rendered'} />
      )}
      <Field
        label="Cluster"
        error={err('cluster')}
        hint={chosen ? `${chosen.queued} queued · ${chosen.running} of ${chosen.max_running} slots running` : clusters.error ? 'Could not load clusters; the server picks its default.' : undefined}
      >
        {(p) => (
          <select {...p} name="cluster" value={v.cluster} onChange={(e) => set({ cluster: e.target.value })}>
            <option value="">server default</option>
            {items.map((c) => (
              <option key={c.name} value={c.name}>
                {clusterLabel(c)}
              </option>
            ))}
            {v.cluster && !chosen && <option value={v.cluster}>{v.cluster}</option>}
          </select>
        )}
      </Field>
      <div className="row">
        <Field label="CPU units" error={err('cpu')} hint={`Definition: ${formatCpu(def.cpu)}`}>
          {(p) => <input {...p} name="cpu" inputMode="numeric" value={v.cpu} onChange={(e) => set({ cpu: e.target.value })} />}
        </Field>
        <Field label="Memory (MiB)" error={err('memory')} hint={`Definition: ${formatMemory(def.memory)}`}>
          {(p) => <input {...p} name="memory" inputMode="numeric" value={v.memory} onChange={(e) => set({ memory: e.target.value })} />}
        </Field>
        <Field label="Timeout (seconds)" error={err('timeout_seconds')}>
          {(p) => <input {...p} name="timeout_seconds" inputMode="numeric" value={v.timeout_seconds} placeholder="definition's" onChange={(e) => set({ timeout_seconds: e.target.value })} />}
        </Field>
      </div>
      <Field label="Command" error={err('command')}>
        {(p) => <textarea {...p} name="command" rows={4} className="mono" value={v.command} onChange={(e) => set({ command: e.target.value })} />}
      </Field>
      <ParamsForm specs={specs} values={pv} onChange={(x) => { setPv(x); preview.reset(); }} errorFor={err} />
      {preview.data && (
        <div className="notice" role="status" aria-label="Rendered command">
          <strong>The command would run as</strong>
          <pre className="mono">{preview.data.command}</pre>
        </div>
      )}
      <EnvEditor rows={v.env} onChange={(env) => set({ env })} errorFor={err} legend="Environment (merged over the definition's)" />
      <Field label="Tags" error={err('tags')} hint="Comma-separated, added to this run">
        {(p) => <input {...p} name="tags" value={v.tags} onChange={(e) => set({ tags: e.target.value })} />}
      </Field>
      <fieldset className="array-fields">
        <legend>Array</legend>
        <div className="choice" role="radiogroup" aria-label="How many runs">
          <label>
            <input type="radio" name="array-mode" checked={v.arrayMode === 'none'} onChange={() => set({ arrayMode: 'none' })} /> One run
          </label>
          <label>
            <input type="radio" name="array-mode" checked={v.arrayMode === 'size'} onChange={() => set({ arrayMode: 'size' })} /> An array of N children
          </label>
          <label>
            <input type="radio" name="array-mode" checked={v.arrayMode === 'items'} onChange={() => set({ arrayMode: 'items' })} /> One child per item
          </label>
        </div>
        {v.arrayMode === 'size' && (
          <Field label="Children" error={errUnder('array.size') ?? errUnder('array')} hint={`1 to ${MAX_ARRAY.toLocaleString('en-US')}; each child reads its index as FLOTILLA_ARRAY_INDEX`}>
            {(p) => <input {...p} name="array.size" inputMode="numeric" value={v.arraySize} onChange={(e) => set({ arraySize: e.target.value })} />}
          </Field>
        )}
        {v.arrayMode === 'items' && (
          <Field
            label="Items (JSON)"
            error={errUnder('array.items') ?? errUnder('array')}
            hint="A JSON array of objects, or one object a line. Each child gets one as FLOTILLA_ARRAY_ITEM (and in its params, for a template)."
          >
            {(p) => <textarea {...p} name="array.items" rows={5} className="mono" value={v.arrayItems} placeholder={'[{"day": "2026-12-01"}, {"day": "2026-12-02"}]'} onChange={(e) => set({ arrayItems: e.target.value })} />}
          </Field>
        )}
      </fieldset>
      <Field label="Run after" error={errUnder('after') ?? errUnder('after_each')} hint={`Run ids, separated by spaces or commas (at most ${MAX_AFTER}): it waits until they have all succeeded, and is stopped if one fails`}>
        {(p) => <input {...p} name="after" className="mono" value={v.after} placeholder="run_…" onChange={(e) => set({ after: e.target.value })} />}
      </Field>
      <div className="actions">
        <button type="submit" className="primary" disabled={launch.isPending}>
          {launch.isPending ? 'Launching…' : 'Launch'}
        </button>
        {specs.length > 0 && (
          <button type="button" disabled={preview.isPending} onClick={() => { launch.reset(); preview.mutate(); }}>
            Preview command
          </button>
        )}
        <Link className="button" to={`/definitions/${encodeURIComponent(def.alias)}`}>
          Cancel
        </Link>
      </div>
    </form>
  );
}

/** LaunchPage serves /launch/:ref, and /launch/:ref?from=RUN_ID for "Run again". */
export function LaunchPage() {
  const { ref = '' } = useParams();
  const [params] = useSearchParams();
  const fromId = params.get('from');
  const api = useApi();
  const def = useQuery({ queryKey: ['definition', ref], queryFn: () => api.getDefinition(ref) });
  const from = useQuery({ queryKey: ['run', fromId], queryFn: () => api.getRun(fromId!), enabled: !!fromId });
  useTitle(`Launch ${def.data?.alias ?? ref}`);
  if (def.error) return <ErrorNotice error={def.error} what={`Definition ${ref}`} retry={() => def.refetch()} />;
  if (from.error) return <ErrorNotice error={from.error} what={`Run ${fromId}`} />;
  if (def.isPending || (fromId && from.isPending)) return <Loading />;
  return <LaunchForm key={`${def.data.definition_id}-${fromId}`} def={def.data} from={from.data} />;
}
