import { useCallback, useLayoutEffect, useMemo, useRef, useState, type CSSProperties, type FormEvent } from 'react';
import { stripAnsi, type AnsiStyle } from '../ansi';
import { formatTime } from '../format';
import type { LogLine } from '../logs';

/** ROW is the fixed height of one log line in px; fixed heights make virtualization exact. */
export const ROW = 18;
const OVERSCAN = 20;

function css(s: AnsiStyle): CSSProperties | undefined {
  if (!s.fg && !s.bg && !s.bold && !s.dim && !s.italic && !s.underline) return undefined;
  return {
    color: s.fg,
    backgroundColor: s.bg,
    fontWeight: s.bold ? 'bold' : undefined,
    opacity: s.dim ? 0.7 : undefined,
    fontStyle: s.italic ? 'italic' : undefined,
    textDecoration: s.underline ? 'underline' : undefined,
  };
}

export interface LogViewerProps {
  lines: LogLine[];
  /** version changes when lines were appended (the array is appended in place). */
  version: number;
  complete: boolean;
  /** endLabel is shown after the last line once complete, e.g. "end of logs · SUCCEEDED". */
  endLabel?: string;
  emptyLabel?: string;
  height?: number;
}

/**
 * LogViewer shows a run's output: virtualized (only the rows in view are in the
 * DOM), following new lines while "Follow" is on, with ANSI colours. Job output
 * is always rendered as text nodes, never as HTML.
 */
export function LogViewer({ lines, version, complete, endLabel, emptyLabel = 'Waiting for output…', height = 480 }: LogViewerProps) {
  const ref = useRef<HTMLDivElement>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [follow, setFollow] = useState(true);
  const [timestamps, setTimestamps] = useState(false);
  const programmatic = useRef<number | null>(null);
  const [query, setQuery] = useState('');
  const [hit, setHit] = useState<number | null>(null);

  // Lines matching the search, recomputed when lines arrive (a plain scan: 100,000 lines take a few ms).
  const matches = useMemo(() => {
    const q = query.trim().toLowerCase();
    if (!q) return [];
    const out: number[] = [];
    for (let i = 0; i < lines.length; i++) if (stripAnsi(lines[i].raw).toLowerCase().includes(q)) out.push(i);
    return out;
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [query, version, lines]);

  const jump = (dir: 1 | -1) => {
    if (matches.length === 0) return;
    const from = hit ?? (dir === 1 ? -1 : lines.length);
    const next = dir === 1 ? (matches.find((i) => i > from) ?? matches[0]) : ([...matches].reverse().find((i) => i < from) ?? matches[matches.length - 1]);
    setHit(next);
    setFollow(false);
    const el = ref.current;
    if (el) {
      const top = Math.max(0, next * ROW - (el.clientHeight || height) / 3);
      programmatic.current = top;
      el.scrollTop = top;
      setScrollTop(top);
    }
  };
  const find = (e: FormEvent) => {
    e.preventDefault();
    jump(1);
  };

  const rows = lines.length + (complete ? 1 : 0);

  useLayoutEffect(() => {
    const el = ref.current;
    if (!el || !follow) return;
    const bottom = Math.max(0, el.scrollHeight - el.clientHeight);
    if (Math.abs(el.scrollTop - bottom) > 1) {
      programmatic.current = bottom;
      el.scrollTop = bottom;
    }
    setScrollTop(el.scrollTop);
  }, [version, follow, rows]);

  const onScroll = useCallback(() => {
    const el = ref.current;
    if (!el) return;
    setScrollTop(el.scrollTop);
    if (programmatic.current !== null && Math.abs(el.scrollTop - programmatic.current) <= 1) {
      programmatic.current = null;
      return;
    }
    programmatic.current = null;
    const atBottom = el.scrollTop + el.clientHeight >= el.scrollHeight - ROW * 2;
    // Scrolling up to read stops following; scrolling back to the end resumes it.
    setFollow(atBottom);
  }, []);

  const viewport = ref.current?.clientHeight || height;
  const first = Math.max(0, Math.floor(scrollTop / ROW) - OVERSCAN);
  const last = Math.min(rows, Math.ceil((scrollTop + viewport) / ROW) + OVERSCAN);
  const digits = String(lines.length).length;

  const items = [];
  for (let i = first; i < last; i++) {
    if (i === lines.length) {
      items.push(
        <div key="end" className="log-end" style={{ height: ROW }} role="note">
          ■ {endLabel ?? 'end of logs'}
        </div>,
      );
      continue;
    }
    const line = lines[i];
    items.push(
      <div key={i} className={i === hit ? 'log-line log-hit' : 'log-line'} style={{ height: ROW }} aria-current={i === hit ? 'true' : undefined}>
        <span className="log-ln" style={{ width: `${digits + 1}ch` }} aria-hidden="true">
          {i + 1}
        </span>
        {timestamps && <span className="log-ts">{formatTime(line.timestamp)} </span>}
        {line.segments.map((s, j) => (
          <span key={j} style={css(s.style)}>
            {s.text}
          </span>
        ))}
      </div>,
    );
  }

  return (
    <div className="log-viewer">
      <div className="log-toolbar">
        <label>
          <input type="checkbox" checked={follow} onChange={(e) => setFollow(e.target.checked)} /> Follow (autoscroll)
        </label>
        <label>
          <input type="checkbox" checked={timestamps} onChange={(e) => setTimestamps(e.target.checked)} /> Timestamps
        </label>
        <form className="log-find" role="search" onSubmit={find}>
          <input
            type="search"
            aria-label="Find in logs"
            placeholder="Find…"
            value={query}
            onChange={(e) => {
              setQuery(e.target.value);
              setHit(null);
            }}
          />
          <button type="submit" disabled={matches.length === 0}>
            Next
          </button>
          <button type="button" disabled={matches.length === 0} onClick={() => jump(-1)}>
            Previous
          </button>
          {query.trim() && (
            <span className="muted small" aria-live="polite">
              {matches.length === 0 ? 'no match' : hit === null ? `${matches.length} matches` : `${matches.indexOf(hit) + 1} of ${matches.length}`}
            </span>
          )}
        </form>
        <span className="log-count" aria-live="polite">
          {lines.length.toLocaleString('en-US')} {lines.length === 1 ? 'line' : 'lines'}{complete ? '' : ' · following'}
        </span>
        <button type="button" onClick={() => ref.current && (ref.current.scrollTop = 0)}>
          Top
        </button>
        <button type="button" onClick={() => setFollow(true)}>
          End
        </button>
      </div>
      <div
        ref={ref}
        className="log-scroll"
        // Short logs get a short box; long ones scroll inside `height`.
        style={{ height: Math.min(height, Math.max(120, rows * ROW + 24)) }}
        onScroll={onScroll}
        tabIndex={0}
        role="log"
        aria-label="Run output"
        data-testid="log-scroll"
      >
        {rows === 0 ? (
          <p className="log-empty">{emptyLabel}</p>
        ) : (
          <div style={{ height: rows * ROW, position: 'relative' }}>
            <div style={{ position: 'absolute', top: first * ROW, left: 0, minWidth: '100%' }}>{items}</div>
          </div>
        )}
      </div>
    </div>
  );
}
