import { fireEvent, render, screen } from '@testing-library/react';
import { useState } from 'react';
import { describe, expect, it } from 'vitest';
import type { ParametersSchema } from '../api/types';
import { initialParamValues, paramsBody, ParamsForm, paramSpecs, type ParamValues } from './ParamsForm';

const schema: ParametersSchema = {
  type: 'object',
  properties: {
    day: { type: 'string', format: 'date', title: 'Day', description: 'Partition' },
    mode: { type: 'string', enum: ['full', 'delta'], default: 'delta' },
    n: { type: 'integer', minimum: 1, default: 2 },
    ratio: { type: 'number' },
    loud: { type: 'boolean', default: true },
  },
  required: ['day'],
};

describe('paramSpecs, initialParamValues, paramsBody', () => {
  const specs = paramSpecs(schema);

  it('keeps the schema order and marks required parameters', () => {
    expect(specs.map((s) => [s.name, s.required])).toEqual([
      ['day', true],
      ['mode', false],
      ['n', false],
      ['ratio', false],
      ['loud', false],
    ]);
    expect(paramSpecs(undefined)).toEqual([]);
    expect(paramSpecs(null)).toEqual([]);
  });

  it('starts from defaults, or from an earlier run for Run again', () => {
    expect(initialParamValues(specs)).toEqual({ day: '', mode: 'delta', n: '2', ratio: '', loud: true });
    expect(initialParamValues(specs, { day: '2026-01-02', n: 7, loud: false })).toEqual({ day: '2026-01-02', mode: 'delta', n: '7', ratio: '', loud: false });
  });

  it('types the values, leaves empty fields to the defaults, and sends unparsable numbers as typed', () => {
    const v: ParamValues = { day: '2026-01-02', mode: '', n: '3', ratio: 'lots', loud: false };
    expect(paramsBody(specs, v)).toEqual({ day: '2026-01-02', n: 3, ratio: 'lots', loud: false });
    expect(paramsBody(specs, { ...v, ratio: '0.5' })).toEqual({ day: '2026-01-02', n: 3, ratio: 0.5, loud: false });
  });
});

function Harness({ errors = {} }: { errors?: Record<string, string> }) {
  const specs = paramSpecs(schema);
  const [v, setV] = useState(() => initialParamValues(specs));
  return (
    <>
      <ParamsForm specs={specs} values={v} onChange={setV} errorFor={(f) => errors[f]} />
      <output data-testid="body">{JSON.stringify(paramsBody(specs, v))}</output>
    </>
  );
}

describe('ParamsForm', () => {
  it('draws each parameter type with its label, hint and control', () => {
    render(<Harness />);
    const day = screen.getByLabelText('Day *') as HTMLInputElement;
    expect(day.type).toBe('date');
    expect(screen.getByText('Partition · Format: date')).toBeTruthy();
    const mode = screen.getByLabelText('mode') as HTMLSelectElement;
    expect(mode.tagName).toBe('SELECT');
    expect([...mode.options].map((o) => o.textContent)).toEqual(['default (delta)', 'full', 'delta']);
    expect((screen.getByLabelText('n') as HTMLInputElement).inputMode).toBe('numeric');
    expect(screen.getByText('A whole number ≥ 1 · Default: 2')).toBeTruthy();
    const loud = screen.getByLabelText('loud') as HTMLInputElement;
    expect(loud.type).toBe('checkbox');
    expect(loud.checked).toBe(true);

    fireEvent.change(day, { target: { value: '2026-12-05' } });
    fireEvent.change(mode, { target: { value: 'full' } });
    fireEvent.click(loud);
    expect(JSON.parse(screen.getByTestId('body').textContent!)).toEqual({ day: '2026-12-05', mode: 'full', n: 2, loud: false });
  });

  it("shows the API's errors at their field", () => {
    render(<Harness errors={{ 'params.n': 'minimum: got 0, want 1', params: 'takes no parameters' }} />);
    const n = screen.getByLabelText('n');
    expect(n.getAttribute('aria-invalid')).toBe('true');
    const described = n.getAttribute('aria-describedby')!.split(' ');
    expect(described.map((id) => document.getElementById(id)?.textContent)).toContain('minimum: got 0, want 1');
    expect(screen.getByLabelText('Day *').getAttribute('aria-invalid')).toBeNull();
    expect(screen.getByText('takes no parameters')).toBeTruthy();
  });

  it('draws nothing without parameters', () => {
    const { container } = render(<ParamsForm specs={[]} values={{}} onChange={() => {}} errorFor={() => undefined} />);
    expect(container.innerHTML).toBe('');
  });
});

describe('the launch form of a template', () => {
  it('"Run again" starts from the template, not the earlier run\'s rendered command, and keeps its params', async () => {
    const { initialValues } = await import('../pages/LaunchPage');
    const def = {
      definition_id: 'def_1', alias: 'report', group_name: '', image: 'alpine:3', command: 'load {{ .params.day }}', cpu: 256, memory: 512,
      revision: 1, created_at: '', updated_at: '', parameters_schema: schema,
    };
    const run = { run_id: 'run_1', definition_id: 'def_1', alias: 'report', revision: 1, cluster: 'default', status: 'SUCCEEDED' as const,
      image: 'alpine:3', command: "load '2026-01-02'", cpu: 256, memory: 512, params: { day: '2026-01-02', n: 7 } };
    expect(initialValues(def, run).command).toBe('load {{ .params.day }}');
    expect(initialParamValues(paramSpecs(def.parameters_schema), run.params)).toMatchObject({ day: '2026-01-02', n: '7' });
    // A plain definition's "Run again" keeps the run's own command, as before.
    expect(initialValues({ ...def, parameters_schema: undefined }, run).command).toBe("load '2026-01-02'");
  });
});
