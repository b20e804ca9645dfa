// A small ANSI SGR interpreter for log lines: colours, bold, dim, italic, underline.
// It yields text segments with styles; nothing is ever turned into HTML.

export interface AnsiStyle {
  fg?: string;
  bg?: string;
  bold?: boolean;
  dim?: boolean;
  italic?: boolean;
  underline?: boolean;
}

export interface Segment {
  text: string;
  style: AnsiStyle;
}

// xterm's default palette, readable on both light and dark backgrounds.
const BASIC = ['#000000', '#cd3131', '#0dbc79', '#c09c00', '#2472c8', '#bc3fbc', '#11a8cd', '#a0a0a0'];
const BRIGHT = ['#666666', '#f14c4c', '#23d18b', '#d7ba1d', '#3b8eea', '#d670d6', '#29b8db', '#e5e5e5'];

function color256(n: number): string | undefined {
  if (n < 0 || n > 255) return undefined;
  if (n < 8) return BASIC[n];
  if (n < 16) return BRIGHT[n - 8];
  if (n < 232) {
    const i = n - 16;
    const v = (x: number) => (x === 0 ? 0 : 55 + x * 40);
    return `rgb(${v(Math.floor(i / 36))},${v(Math.floor(i / 6) % 6)},${v(i % 6)})`;
  }
  const g = 8 + (n - 232) * 10;
  return `rgb(${g},${g},${g})`;
}

function applySgr(params: number[], s: AnsiStyle): AnsiStyle {
  let st = { ...s };
  if (params.length === 0) params = [0];
  for (let i = 0; i < params.length; i++) {
    const p = params[i];
    if (p === 0) st = {};
    else if (p === 1) st.bold = true;
    else if (p === 2) st.dim = true;
    else if (p === 3) st.italic = true;
    else if (p === 4) st.underline = true;
    else if (p === 22) st.bold = st.dim = undefined;
    else if (p === 23) st.italic = undefined;
    else if (p === 24) st.underline = undefined;
    else if (p >= 30 && p <= 37) st.fg = BASIC[p - 30];
    else if (p >= 90 && p <= 97) st.fg = BRIGHT[p - 90];
    else if (p === 39) st.fg = undefined;
    else if (p >= 40 && p <= 47) st.bg = BASIC[p - 40];
    else if (p >= 100 && p <= 107) st.bg = BRIGHT[p - 100];
    else if (p === 49) st.bg = undefined;
    else if (p === 38 || p === 48) {
      let c: string | undefined;
      if (params[i + 1] === 5) {
        c = color256(params[i + 2]);
        i += 2;
      } else if (params[i + 1] === 2) {
        const [r, g, b] = params.slice(i + 2, i + 5);
        c = `rgb(${r ?? 0},${g ?? 0},${b ?? 0})`;
        i += 4;
      }
      if (p === 38) st.fg = c;
      else st.bg = c;
    }
  }
  for (const k of Object.keys(st) as (keyof AnsiStyle)[]) if (st[k] === undefined) delete st[k];
  return st;
}

// CSI sequences (ESC [ params final), OSC sequences (ESC ] … BEL/ST), and lone escapes.
// eslint-disable-next-line no-control-regex
const ESCAPE = /\x1b\[([0-9;?]*)([@-~])|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]?/g;

/**
 * parseAnsi splits one line into styled segments, starting from the style the
 * previous line ended with (colour state carries across lines, as in a terminal),
 * and returns the style this line ends with.
 */
export function parseAnsi(line: string, start: AnsiStyle = {}): { segments: Segment[]; end: AnsiStyle } {
  const segments: Segment[] = [];
  let style = start;
  let last = 0;
  const push = (text: string) => {
    if (text) segments.push({ text, style });
  };
  if (!line.includes('\x1b')) {
    push(line);
    return { segments, end: style };
  }
  ESCAPE.lastIndex = 0;
  for (let m = ESCAPE.exec(line); m; m = ESCAPE.exec(line)) {
    push(line.slice(last, m.index));
    last = m.index + m[0].length;
    if (m[2] === 'm') {
      const params = m[1] ? m[1].split(';').map((x) => (x === '' ? 0 : Number(x))) : [];
      style = applySgr(params, style);
    }
  }
  push(line.slice(last));
  return { segments, end: style };
}

/** stripAnsi returns the text without escape sequences. */
export function stripAnsi(line: string): string {
  return line.includes('\x1b') ? line.replace(ESCAPE, '') : line;
}
