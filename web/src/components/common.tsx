import { useEffect, useId, useRef, useState, type ReactNode } from 'react';
import { ApiError } from '../api/client';
import type { RunStatus } from '../api/types';
import { formatTime, formatUsd, relativeTime, zoneLabel } from '../format';

export function StatusBadge({ status }: { status: RunStatus | string }) {
  return <span className={`status status-${status.toLowerCase()}`}>{status}</span>;
}

/** describeError turns anything thrown into a title and a detail a person can act on. */
export function describeError(error: unknown): { title: string; detail?: string } {
  if (error instanceof ApiError) {
    if (error.status === 404 && !error.detail) return { title: 'Not found', detail: 'It may have been deleted, or the link is wrong.' };
    return { title: error.title, detail: error.detail };
  }
  if (error instanceof Error) return { title: 'Something went wrong', detail: error.message };
  return { title: 'Something went wrong', detail: String(error) };
}

/** ErrorNotice shows an error as a readable message, with a retry button when given. */
export function ErrorNotice({ error, retry, what }: { error: unknown; retry?: () => void; what?: string }) {
  const { title, detail } = describeError(error);
  const fields = error instanceof ApiError ? error.fieldErrors : [];
  return (
    <div className="notice notice-error" role="alert">
      <strong>
        {what ? `${what}: ` : ''}
        {title}
      </strong>
      {/* With field errors, the list says it better than the summary that repeats them. */}
      {detail && fields.length === 0 && <p>{detail}</p>}
      {fields.length > 0 && (
        <ul>
          {fields.map((f) => (
            <li key={f.field}>
              <code>{f.field}</code>: {f.message}
            </li>
          ))}
        </ul>
      )}
      {retry && (
        <button type="button" onClick={retry}>
          Try again
        </button>
      )}
    </div>
  );
}

export function Loading({ what = 'Loading' }: { what?: string }) {
  return (
    <p className="loading" role="status">
      {what}…
    </p>
  );
}

/** Field is a labelled input with its error from the API shown beside it. */
export function Field({
  label,
  error,
  hint,
  children,
}: {
  label: string;
  error?: string;
  hint?: ReactNode;
  children: (props: { id: string; 'aria-invalid'?: boolean; 'aria-describedby'?: string }) => ReactNode;
}) {
  const id = useId();
  const errId = `${id}-err`;
  const hintId = `${id}-hint`;
  const describedBy = [error ? errId : '', hint ? hintId : ''].filter(Boolean).join(' ') || undefined;
  return (
    <div className={`field${error ? ' field-invalid' : ''}`}>
      <label htmlFor={id}>{label}</label>
      {children({ id, 'aria-invalid': error ? true : undefined, 'aria-describedby': describedBy })}
      {hint && (
        <small id={hintId} className="hint">
          {hint}
        </small>
      )}
      {error && (
        <small id={errId} className="field-error" role="alert">
          {error}
        </small>
      )}
    </div>
  );
}

/**
 * ConfirmButton asks before doing something that cannot be undone. The dialog
 * is modal, takes focus, and Escape cancels it.
 */
export function ConfirmButton({
  label,
  title,
  message,
  confirmLabel,
  onConfirm,
  disabled,
  danger = true,
}: {
  label: string;
  title: string;
  message: ReactNode;
  confirmLabel: string;
  onConfirm: () => Promise<unknown> | void;
  disabled?: boolean;
  danger?: boolean;
}) {
  const [open, setOpen] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const confirmRef = useRef<HTMLButtonElement>(null);
  const openerRef = useRef<HTMLButtonElement>(null);
  const titleId = useId();

  useEffect(() => {
    if (open) confirmRef.current?.focus();
  }, [open]);

  const close = () => {
    setOpen(false);
    setError(null);
    openerRef.current?.focus();
  };

  const confirm = async () => {
    setBusy(true);
    setError(null);
    try {
      await onConfirm();
      setOpen(false);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };

  return (
    <>
      <button type="button" ref={openerRef} className={danger ? 'danger' : undefined} disabled={disabled} onClick={() => setOpen(true)}>
        {label}
      </button>
      {open && (
        <div className="modal-backdrop" onClick={close}>
          <div
            className="modal"
            role="alertdialog"
            aria-modal="true"
            aria-labelledby={titleId}
            onClick={(e) => e.stopPropagation()}
            onKeyDown={(e) => {
              if (e.key === 'Escape') close();
              // Keep Tab inside the dialog while it is open.
              if (e.key === 'Tab') {
                const buttons = [...e.currentTarget.querySelectorAll<HTMLElement>('button:not([disabled])')];
                const i = buttons.indexOf(document.activeElement as HTMLElement);
                const next = e.shiftKey ? (i <= 0 ? buttons.length - 1 : i - 1) : (i + 1) % buttons.length;
                buttons[next]?.focus();
                e.preventDefault();
              }
            }}
          >
            <h2 id={titleId}>{title}</h2>
            <div>{message}</div>
            {error != null && <ErrorNotice error={error} />}
            <div className="actions">
              <button type="button" ref={confirmRef} className={danger ? 'danger' : 'primary'} disabled={busy} onClick={confirm}>
                {busy ? 'Working…' : confirmLabel}
              </button>
              <button type="button" onClick={close} disabled={busy}>
                Cancel
              </button>
            </div>
          </div>
        </div>
      )}
    </>
  );
}

export interface EnvRow {
  key: string;
  value: string;
  /** fixed rows come from the definition: their names cannot be changed or removed here. */
  fixed?: boolean;
}

export function envRows(env?: Record<string, string>, fixed = false): EnvRow[] {
  return Object.entries(env ?? {}).map(([key, value]) => ({ key, value, fixed }));
}

export function rowsToEnv(rows: EnvRow[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const r of rows) if (r.key.trim()) env[r.key.trim()] = r.value;
  return env;
}

/** EnvEditor edits name=value pairs; errors for "env.NAME" show on that row. */
export function EnvEditor({
  rows,
  onChange,
  errorFor,
  legend = 'Environment variables',
}: {
  rows: EnvRow[];
  onChange: (rows: EnvRow[]) => void;
  errorFor?: (field: string) => string | undefined;
  legend?: string;
}) {
  const set = (i: number, patch: Partial<EnvRow>) => onChange(rows.map((r, j) => (j === i ? { ...r, ...patch } : r)));
  const envError = errorFor?.('env');
  return (
    <fieldset className="env-editor">
      <legend>{legend}</legend>
      {envError && (
        <small className="field-error" role="alert">
          {envError}
        </small>
      )}
      {rows.length === 0 && <p className="muted">None.</p>}
      {rows.map((r, i) => {
        const err = r.key ? errorFor?.(`env.${r.key}`) : undefined;
        return (
          <div className={`env-row${err ? ' field-invalid' : ''}`} key={i}>
            <input
              aria-label={`Name of variable ${i + 1}`}
              value={r.key}
              readOnly={r.fixed}
              placeholder="NAME"
              onChange={(e) => set(i, { key: e.target.value })}
              aria-invalid={err ? true : undefined}
            />
            <span aria-hidden="true">=</span>
            <input
              aria-label={r.key ? `Value of ${r.key}` : `Value of variable ${i + 1}`}
              value={r.value}
              placeholder="value"
              onChange={(e) => set(i, { value: e.target.value })}
              aria-invalid={err ? true : undefined}
            />
            {!r.fixed && (
              <button type="button" aria-label={`Remove variable ${r.key || i + 1}`} onClick={() => onChange(rows.filter((_, j) => j !== i))}>
                ✕
              </button>
            )}
            {err && (
              <small className="field-error" role="alert">
                {err}
              </small>
            )}
          </div>
        );
      })}
      <button type="button" onClick={() => onChange([...rows, { key: '', value: '' }])}>
        Add variable
      </button>
    </fieldset>
  );
}

/** Cost shows a dollar amount, or "unknown" when the API has none yet. */
export function Money({ usd }: { usd?: number | null }) {
  if (usd === undefined || usd === null) return <span className="muted">unknown</span>;
  return <span>{formatUsd(usd)}</span>;
}

/**
 * useTitle sets the tab's title, "▶ train-model · RUNNING — Flotilla", so a
 * row of tabs says which is which; it is put back when the page goes.
 */
export function useTitle(title: string | null | undefined) {
  useEffect(() => {
    if (!title) return;
    const before = document.title;
    document.title = `${title} — Flotilla`;
    return () => {
      document.title = before;
    };
  }, [title]);
}

/** useNow re-renders every `ms` so relative times ("3 min ago") stay true. */
export function useNow(ms = 15_000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(t);
  }, [ms]);
  return now;
}

/** RelTime is "3 min ago", with the absolute time (and zone) on hover and for machines. */
export function RelTime({ at, now }: { at?: string | null; now?: number }) {
  if (!at) return <span className="muted">—</span>;
  return (
    <time dateTime={at} title={`${formatTime(at)} ${zoneLabel()}`}>
      {relativeTime(at, now)}
    </time>
  );
}

/** TableScroll lets a wide table scroll inside its own box instead of widening the page. */
export function TableScroll({ children, label }: { children: ReactNode; label?: string }) {
  return (
    <div className="table-scroll" role={label ? 'region' : undefined} aria-label={label} tabIndex={label ? 0 : undefined}>
      {children}
    </div>
  );
}

/**
 * StaleNotice says the server could not be reached while what was last
 * loaded stays on screen: a brief outage should not blank a page people
 * keep open.
 */
export function StaleNotice({ error, updatedAt, retry }: { error: unknown; updatedAt?: number; retry?: () => void }) {
  if (!error) return null;
  const { title } = describeError(error);
  return (
    <div className="notice notice-stale" role="status">
      <strong>{title}.</strong> Showing what was loaded {updatedAt ? <RelTime at={new Date(updatedAt).toISOString()} /> : 'earlier'}; retrying
      every few seconds.{' '}
      {retry && (
        <button type="button" onClick={retry}>
          Retry now
        </button>
      )}
    </div>
  );
}
