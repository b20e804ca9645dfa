import type { ParameterSchema, ParametersSchema, Params } from '../api/types';
import { Field } from './common';

/** ParamSpec is one parameter of a definition's parameters_schema, ready to draw. */
export interface ParamSpec extends ParameterSchema {
  name: string;
  required: boolean;
}

/** paramSpecs lists a schema's parameters in the order the schema has them. */
export function paramSpecs(schema?: ParametersSchema | null): ParamSpec[] {
  if (!schema?.properties) return [];
  const required = new Set(schema.required ?? []);
  return Object.entries(schema.properties).map(([name, p]) => ({ ...p, name, required: required.has(name) }));
}

/** A form holds text for every input and booleans for checkboxes. */
export type ParamValues = Record<string, string | boolean>;

/** initialParamValues starts from each default, or from an earlier run's params for "Run again". */
export function initialParamValues(specs: ParamSpec[], from?: Params): ParamValues {
  const v: ParamValues = {};
  for (const s of specs) {
    const x = from && s.name in from ? from[s.name] : s.default;
    v[s.name] = s.type === 'boolean' ? x === true : x === undefined ? '' : String(x);
  }
  return v;
}

/**
 * paramsBody turns the form into the launch's params. An empty field is left
 * out: the schema's default, if any, applies, and a required one is named by
 * the API. A number that does not parse is sent as typed, so the API's 400 names
 * it at its field rather than the form guessing.
 */
export function paramsBody(specs: ParamSpec[], values: ParamValues): Params {
  const out: Params = {};
  for (const s of specs) {
    const v = values[s.name];
    if (s.type === 'boolean') {
      out[s.name] = v === true;
      continue;
    }
    const text = typeof v === 'string' ? v : '';
    if (text === '') continue;
    if (s.type === 'number' || s.type === 'integer') {
      const n = Number(text.trim());
      out[s.name] = text.trim() !== '' && Number.isFinite(n) ? n : text;
      continue;
    }
    out[s.name] = text;
  }
  return out;
}

function hintFor(s: ParamSpec): string | undefined {
  const bits: string[] = [];
  if (s.description) bits.push(s.description);
  const range: string[] = [];
  if (s.minimum !== undefined) range.push(`≥ ${s.minimum}`);
  if (s.exclusiveMinimum !== undefined) range.push(`> ${s.exclusiveMinimum}`);
  if (s.maximum !== undefined) range.push(`≤ ${s.maximum}`);
  if (s.exclusiveMaximum !== undefined) range.push(`< ${s.exclusiveMaximum}`);
  if (range.length) bits.push(`${s.type === 'integer' ? 'A whole number' : 'A number'} ${range.join(', ')}`);
  if (s.format) bits.push(`Format: ${s.format}`);
  if (s.default !== undefined && s.type !== 'boolean') bits.push(`Default: ${String(s.default)}`);
  return bits.length ? bits.join(' · ') : undefined;
}

/**
 * ParamsForm draws a definition's typed parameters: labels from each title
 * (else the name), descriptions and bounds as hints, enums as selects,
 * booleans as checkboxes, and the API's errors (params.NAME) at their field.
 */
export function ParamsForm({
  specs,
  values,
  onChange,
  errorFor,
}: {
  specs: ParamSpec[];
  values: ParamValues;
  onChange: (v: ParamValues) => void;
  errorFor: (field: string) => string | undefined;
}) {
  if (specs.length === 0) return null;
  const set = (name: string, v: string | boolean) => onChange({ ...values, [name]: v });
  const whole = errorFor('params');
  return (
    <fieldset className="params" aria-describedby={whole ? 'params-error' : undefined}>
      <legend>Parameters</legend>
      <p className="muted">
        Each value reaches the command as one word: text is quoted for the shell, so spaces, quotes and <code>$</code> arrive as
        typed.
      </p>
      {whole && (
        <p id="params-error" className="field-error" role="alert">
          {whole}
        </p>
      )}
      {specs.map((s) => {
        const label = `${s.title || s.name}${s.required ? ' *' : ''}`;
        const v = values[s.name];
        const error = errorFor(`params.${s.name}`);
        const hint = hintFor(s);
        if (s.type === 'boolean') {
          return (
            <Field key={s.name} label={label} error={error} hint={hint}>
              {(p) => <input {...p} type="checkbox" name={`params.${s.name}`} checked={v === true} onChange={(e) => set(s.name, e.target.checked)} />}
            </Field>
          );
        }
        const text = typeof v === 'string' ? v : '';
        if (s.enum) {
          return (
            <Field key={s.name} label={label} error={error} hint={hint}>
              {(p) => (
                <select {...p} name={`params.${s.name}`} value={text} onChange={(e) => set(s.name, e.target.value)}>
                  {(!s.required || s.default === undefined) && <option value="">{s.default === undefined ? '—' : `default (${String(s.default)})`}</option>}
                  {s.enum!.map((o) => (
                    <option key={String(o)} value={String(o)}>
                      {String(o)}
                    </option>
                  ))}
                </select>
              )}
            </Field>
          );
        }
        const numeric = s.type === 'number' || s.type === 'integer';
        return (
          <Field key={s.name} label={label} error={error} hint={hint}>
            {(p) => (
              <input
                {...p}
                name={`params.${s.name}`}
                type={s.format === 'date' ? 'date' : 'text'}
                inputMode={s.type === 'integer' ? 'numeric' : numeric ? 'decimal' : undefined}
                required={s.required}
                value={text}
                onChange={(e) => set(s.name, e.target.value)}
              />
            )}
          </Field>
        );
      })}
    </fieldset>
  );
}
