import { useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState, type CSSProperties, type FormEvent, type ReactNode } from 'react';
import { stripAnsi, type AnsiStyle } from '../ansi';
import { formatTime } from '../format';
import type { LogLine } from '../logs';

/** ROW is the fixed height of one log line in px; fixed heights make virtualization exact. */
export const ROW = 18;
const OVERSCAN = 20;
/**
 * WRAP_MAX is the most lines shown wrapped: wrapped lines have different
 * heights, so they are all in the DOM (the browser skips laying out those
 * off screen, content-visibility: auto); past this the unwrapped,
 * virtualized view stays.
 */
export const WRAP_MAX = 20_000;

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

/** lineFromHash reads "#L123" (1-based) into a 0-based line index. */
export function lineFromHash(hash: string): number | null {
  const m = /^#L(\d+)$/.exec(hash);
  return m ? Number(m[1]) - 1 : null;
}

export interface LogViewerProps {
  lines: LogLine[];
  /** version changes when lines were appended (the array is appended in place). */
  version: number;
  complete: boolean;
  /** endLabel is shown after the last line once complete, e.g. "end of logs · SUCCEEDED". */
  endLabel?: string;
  emptyLabel?: string;
  /** height of the scroll box in px (default: most of the window). */
  height?: number;
  /** actions are extra toolbar buttons (e.g. Download). */
  actions?: ReactNode;
}

function defaultHeight(): number {
  const h = typeof window !== 'undefined' ? window.innerHeight : 800;
  return Math.max(240, Math.round(h * 0.62));
}

/**
 * LogViewer shows a run's output: virtualized (only the rows in view are in the
 * DOM), following new lines while "Follow" is on, with ANSI colours. Job output
 * is always rendered as text nodes, never as HTML. It can fill the screen,
 * wrap long lines, show only the lines matching a search, and link to a line
 * (#L123 in the address). "/" (or Ctrl+F inside the viewer) goes to Find.
 */
export function LogViewer({ lines, version, complete, endLabel, emptyLabel = 'Waiting for output…', height, actions }: LogViewerProps) {
  const ref = useRef<HTMLDivElement>(null);
  const findRef = useRef<HTMLInputElement>(null);
  const [scrollTop, setScrollTop] = useState(0);
  // A link to a line (#L123) opens there, not at the end.
  const [follow, setFollow] = useState(() => typeof window === 'undefined' || lineFromHash(window.location.hash) === null);
  const [timestamps, setTimestamps] = useState(false);
  const [wrap, setWrap] = useState(false);
  const [full, setFull] = useState(false);
  const [onlyMatches, setOnlyMatches] = useState(false);
  // On a phone the view options fold behind one button, so the output starts higher.
  const [options, setOptions] = useState(false);
  const programmatic = useRef<number | null>(null);
  const [query, setQuery] = useState('');
  const [hit, setHit] = useState<number | null>(null);
  const [linked, setLinked] = useState<number | null>(() => (typeof window !== 'undefined' ? lineFromHash(window.location.hash) : null));
  const [winH, setWinH] = useState(() => (typeof window !== 'undefined' ? window.innerHeight : 800));
  const jumpedToLink = useRef(false);

  useEffect(() => {
    const onResize = () => setWinH(window.innerHeight);
    window.addEventListener('resize', onResize);
    return () => window.removeEventListener('resize', onResize);
  }, []);

  // "/" anywhere on the page (outside a text box) goes to Find; Escape leaves full screen.
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const t = e.target as HTMLElement | null;
      const typing = t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.tagName === 'SELECT' || t.isContentEditable);
      if (e.key === '/' && !typing && !e.ctrlKey && !e.metaKey && !e.altKey) {
        e.preventDefault();
        findRef.current?.focus();
      } else if (e.key === 'Escape' && full) {
        setFull(false);
      }
    };
    document.addEventListener('keydown', onKey);
    return () => document.removeEventListener('keydown', onKey);
  }, [full]);

  // Lines matching the search, recomputed when lines arrive (a plain scan: 100,000 lines take a few ms).
  const matches = useMemo(() => {
    const q = query.trim().toLowerCase();
    if (!q) return [];
    const out: number[] = [];
    for (let i = 0; i < lines.length; i++) if (stripAnsi(lines[i].raw).toLowerCase().includes(q)) out.push(i);
    return out;
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [query, version, lines]);

  // view maps the rows shown to line indices: every line, or only the matching ones.
  const filtering = onlyMatches && query.trim() !== '';
  const view = filtering ? matches : null;
  const count = view ? view.length : lines.length;
  const lineAt = (row: number) => (view ? view[row] : row);
  const rowOf = (line: number) => (view ? view.indexOf(line) : line);
  const rows = count + (complete && !view ? 1 : 0);
  const wrapped = wrap && count <= WRAP_MAX;

  const boxHeight = full ? Math.max(200, winH - 52) : (height ?? defaultHeight());

  const scrollToLine = (line: number) => {
    const el = ref.current;
    if (!el) return;
    const row = rowOf(line);
    if (row < 0) return;
    let top: number;
    if (wrapped) {
      const node = el.querySelector<HTMLElement>(`[data-line="${line}"]`);
      top = node ? Math.max(0, node.offsetTop - el.clientHeight / 3) : row * ROW;
    } else {
      top = Math.max(0, row * ROW - (el.clientHeight || boxHeight) / 3);
    }
    programmatic.current = top;
    el.scrollTop = top;
    setScrollTop(top);
  };

  const jump = (dir: 1 | -1) => {
    if (matches.length === 0) return;
    const from = hit ?? (dir === 1 ? -1 : lines.length);
    const next = dir === 1 ? (matches.find((i) => i > from) ?? matches[0]) : ([...matches].reverse().find((i) => i < from) ?? matches[matches.length - 1]);
    setHit(next);
    setFollow(false);
    scrollToLine(next);
  };
  const find = (e: FormEvent) => {
    e.preventDefault();
    jump(1);
  };

  // A link to a line (#L123) opens there once that line has arrived.
  useLayoutEffect(() => {
    if (linked === null || jumpedToLink.current || linked >= lines.length) return;
    jumpedToLink.current = true;
    setFollow(false);
    scrollToLine(linked);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [version, linked, lines.length]);

  const linkTo = (line: number) => (e: React.MouseEvent) => {
    e.preventDefault();
    window.history.replaceState(window.history.state, '', `${window.location.pathname}${window.location.search}#L${line + 1}`);
    jumpedToLink.current = true;
    setLinked(line);
    setFollow(false);
  };

  useLayoutEffect(() => {
    const el = ref.current;
    if (!el || !follow) return;
    const bottom = Math.max(0, el.scrollHeight - el.clientHeight);
    if (Math.abs(el.scrollTop - bottom) > 1) {
      programmatic.current = bottom;
      el.scrollTop = bottom;
    }
    setScrollTop(el.scrollTop);
  }, [version, follow, rows, wrapped, full, filtering]);

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

  const viewport = ref.current?.clientHeight || boxHeight;
  const first = wrapped ? 0 : Math.max(0, Math.floor(scrollTop / ROW) - OVERSCAN);
  const last = wrapped ? rows : Math.min(rows, Math.ceil((scrollTop + viewport) / ROW) + OVERSCAN);
  const digits = String(lines.length).length;

  const items = [];
  for (let r = first; r < last; r++) {
    if (r === count) {
      items.push(
        <div key="end" className="log-end" style={wrapped ? undefined : { height: ROW }} role="note">
          ■ {endLabel ?? 'end of logs'}
        </div>,
      );
      continue;
    }
    const i = lineAt(r);
    const line = lines[i];
    const cls = ['log-line', line.stderr ? 'log-stderr' : '', i === hit ? 'log-hit' : '', i === linked ? 'log-linked' : ''].filter(Boolean).join(' ');
    items.push(
      <div key={i} className={cls} data-line={i} style={wrapped ? undefined : { height: ROW }} aria-current={i === hit ? 'true' : undefined}>
        <a className="log-ln" href={`#L${i + 1}`} onClick={linkTo(i)} style={{ width: `${digits + 1}ch` }} aria-label={`Link to line ${i + 1}`} tabIndex={-1}>
          {i + 1}
        </a>
        {timestamps && <span className="log-ts">{formatTime(line.timestamp)} </span>}
        {line.stderr && <span className="sr-only">stderr: </span>}
        <span className="log-text">
          {line.segments.map((s, j) => (
            <span key={j} style={css(s.style)}>
              {s.text}
            </span>
          ))}
        </span>
      </div>,
    );
  }

  return (
    <div
      className={`log-viewer${full ? ' log-full' : ''}${wrapped ? ' log-wrapped' : ''}`}
      role={full ? 'dialog' : undefined}
      aria-modal={full ? true : undefined}
      aria-label={full ? 'Run output, full screen' : undefined}
      onKeyDown={(e) => {
        if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === 'f') {
          e.preventDefault();
          findRef.current?.focus();
        }
      }}
    >
      <div className="log-toolbar">
        <form className="log-find" role="search" onSubmit={find}>
          <input
            ref={findRef}
            type="search"
            aria-label="Find in logs"
            aria-keyshortcuts="/"
            placeholder="Find… ( / )"
            value={query}
            onChange={(e) => {
              setQuery(e.target.value);
              setHit(null);
            }}
            onKeyDown={(e) => {
              if (e.key === 'Enter' && e.shiftKey) {
                e.preventDefault();
                jump(-1);
              }
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
        <div className={`log-toggles${options ? ' log-toggles-open' : ''}`}>
          <label>
            <input type="checkbox" checked={follow} onChange={(e) => setFollow(e.target.checked)} /> Follow
          </label>
          <label>
            <input type="checkbox" checked={onlyMatches} onChange={(e) => setOnlyMatches(e.target.checked)} /> Only matching lines
          </label>
          <label title={lines.length > WRAP_MAX ? `Wrapping is offered up to ${WRAP_MAX.toLocaleString('en-US')} lines` : undefined}>
            <input type="checkbox" checked={wrap} disabled={count > WRAP_MAX} onChange={(e) => setWrap(e.target.checked)} /> Wrap lines
          </label>
          <label>
            <input type="checkbox" checked={timestamps} onChange={(e) => setTimestamps(e.target.checked)} /> Timestamps
          </label>
          <button
            type="button"
            onClick={() => {
              setFollow(false);
              if (ref.current) ref.current.scrollTop = 0;
            }}
          >
            Top
          </button>
          <button type="button" onClick={() => setFollow(true)}>
            End
          </button>
        </div>
        <div className="log-buttons">
          <span className="log-count" aria-live="polite">
            {filtering ? `${count.toLocaleString('en-US')} of ` : ''}
            {lines.length.toLocaleString('en-US')} {lines.length === 1 ? 'line' : 'lines'}
            {complete ? '' : ' · following'}
          </span>
          {actions}
          <button type="button" className="log-options" aria-expanded={options} onClick={() => setOptions(!options)}>
            Options
          </button>
          <button type="button" aria-pressed={full} onClick={() => setFull(!full)}>
            {full ? 'Exit full screen' : 'Full screen'}
          </button>
        </div>
      </div>
      <div
        ref={ref}
        className="log-scroll"
        // Short logs get a short box; long ones scroll inside it.
        style={full ? { height: boxHeight } : wrapped ? { maxHeight: boxHeight, minHeight: 120 } : { height: Math.min(boxHeight, Math.max(120, rows * ROW + 24)) }}
        onScroll={onScroll}
        tabIndex={0}
        role="log"
        aria-label="Run output"
        data-testid="log-scroll"
      >
        {rows === 0 ? (
          <p className="log-empty">{filtering ? 'No line matches.' : emptyLabel}</p>
        ) : wrapped ? (
          <div>{items}</div>
        ) : (
          <div style={{ height: rows * ROW, position: 'relative' }}>
            <div style={{ position: 'absolute', top: first * ROW, left: 0, minWidth: '100%' }}>{items}</div>
          </div>
        )}
      </div>
    </div>
  );
}
