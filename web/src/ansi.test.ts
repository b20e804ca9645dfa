import { describe, expect, it } from 'vitest';
import { parseAnsi, stripAnsi } from './ansi';

describe('parseAnsi', () => {
  it('leaves plain text alone', () => {
    expect(parseAnsi('hello').segments).toEqual([{ text: 'hello', style: {} }]);
  });

  it('applies colours, bold and reset', () => {
    const { segments, end } = parseAnsi('a\x1b[1;31mred\x1b[0m b');
    expect(segments).toEqual([
      { text: 'a', style: {} },
      { text: 'red', style: { bold: true, fg: '#cd3131' } },
      { text: ' b', style: {} },
    ]);
    expect(end).toEqual({});
  });

  it('supports 256 colours, truecolour and backgrounds', () => {
    expect(parseAnsi('\x1b[38;5;196mx').segments[0].style.fg).toBe('rgb(255,0,0)');
    expect(parseAnsi('\x1b[38;2;1;2;3;48;5;2mx').segments[0].style).toEqual({ fg: 'rgb(1,2,3)', bg: '#0dbc79' });
  });

  it('carries the style to the next line, as a terminal does', () => {
    const first = parseAnsi('\x1b[32mgreen starts');
    const second = parseAnsi('still green\x1b[39m plain', first.end);
    expect(second.segments[0].style.fg).toBe('#0dbc79');
    expect(second.segments[1].style).toEqual({});
  });

  it('drops other escape sequences', () => {
    expect(stripAnsi('\x1b[2K\x1b[1Gprogress \x1b]0;title\x07done')).toBe('progress done');
    expect(parseAnsi('\x1b[?25lhidden cursor').segments).toEqual([{ text: 'hidden cursor', style: {} }]);
  });
});
