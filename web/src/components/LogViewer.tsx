import { useCallback, useLayoutEffect, useRef, useState, type CSSProperties } from 'react';
import type { AnsiStyle } from '../ansi';
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
      <div key={i} className="log-line" style={{ height: ROW }}>
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
