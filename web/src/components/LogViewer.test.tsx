import { fireEvent, render, screen } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { LogBuffer } from '../logs';
import { LogViewer, ROW } from './LogViewer';

function buffer(n: number, make = (i: number) => `line ${i + 1}`) {
  const b = new LogBuffer();
  b.append(Array.from({ length: n }, (_, i) => ({ timestamp: i, message: make(i) })));
  return b;
}

describe('LogViewer', () => {
  it('keeps only the rows in view in the DOM for 100,000 lines', () => {
    const b = buffer(100_000);
    const { container } = render(<LogViewer lines={b.lines} version={1} complete={false} height={480} />);
    const rows = container.querySelectorAll('.log-line');
    expect(rows.length).toBeGreaterThan(20);
    expect(rows.length).toBeLessThan(100);
    expect(screen.getByText('100,000 lines · following')).toBeTruthy();
    // The spacer gives the scrollbar the full height.
    const spacer = screen.getByTestId('log-scroll').firstElementChild as HTMLElement;
    expect(spacer.style.height).toBe(`${100_000 * ROW}px`);
  });

  it('renders the rows at the scroll position', () => {
    const b = buffer(100_000);
    const { container } = render(<LogViewer lines={b.lines} version={1} complete={false} />);
    const scroller = screen.getByTestId('log-scroll');
    fireEvent.scroll(scroller, { target: { scrollTop: 50_000 * ROW } });
    const texts = [...container.querySelectorAll('.log-line')].map((r) => r.textContent);
    expect(texts.some((t) => t?.endsWith('line 50001'))).toBe(true);
    expect(texts.some((t) => t?.endsWith('line 1'))).toBe(false);
    expect(container.querySelectorAll('.log-line').length).toBeLessThan(100);
  });

  it("marks the job's standard error apart from its output", () => {
    const b = new LogBuffer();
    b.append([
      { timestamp: 0, message: 'fine' },
      { timestamp: 1, message: 'oops', stream: 'stderr' },
    ]);
    const { container } = render(<LogViewer lines={b.lines} version={1} complete={false} />);
    const rows = [...container.querySelectorAll('.log-line')];
    expect(rows.map((r) => r.classList.contains('log-stderr'))).toEqual([false, true]);
    expect(rows[1].textContent).toContain('stderr: oops');
  });

  it('shows job output as text, never as HTML', () => {
    const b = buffer(1, () => '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>');
    const { container } = render(<LogViewer lines={b.lines} version={1} complete={false} />);
    expect(container.querySelector('img')).toBeNull();
    expect(container.querySelector('script')).toBeNull();
    expect(container.querySelector('.log-line')?.textContent).toContain('<img src=x onerror="window.pwned=1">');
  });

  it('colours ANSI output and marks the end once complete', () => {
    const b = buffer(1, () => '\x1b[31mboom\x1b[0m');
    render(<LogViewer lines={b.lines} version={1} complete endLabel="end of logs · FAILED · exit code 2" />);
    expect(screen.getByText('boom').style.color).toBe('rgb(205, 49, 49)');
    expect(screen.getByRole('note').textContent).toContain('end of logs · FAILED · exit code 2');
  });

  it('says it is waiting before any output', () => {
    render(<LogViewer lines={[]} version={0} complete={false} />);
    expect(screen.getByText('Waiting for output…')).toBeTruthy();
  });

  it('lets autoscroll be turned off', () => {
    const b = buffer(10);
    render(<LogViewer lines={b.lines} version={1} complete={false} />);
    const follow = screen.getByLabelText('Follow') as HTMLInputElement;
    expect(follow.checked).toBe(true);
    fireEvent.click(follow);
    expect(follow.checked).toBe(false);
  });

  it('finds text in the logs and scrolls to each match', () => {
    const b = buffer(100_000, (i) => (i % 25_000 === 7 ? `ERROR at step ${i}` : `ok ${i}`));
    const { container } = render(<LogViewer lines={b.lines} version={1} complete />);
    fireEvent.change(screen.getByLabelText('Find in logs'), { target: { value: 'error' } });
    expect(screen.getByText('4 matches')).toBeTruthy();
    fireEvent.click(screen.getByRole('button', { name: 'Next' }));
    fireEvent.click(screen.getByRole('button', { name: 'Next' }));
    expect(screen.getByText('2 of 4')).toBeTruthy();
    expect(container.querySelector('.log-hit')?.textContent).toContain('ERROR at step 25007');
    expect((screen.getByLabelText('Follow') as HTMLInputElement).checked).toBe(false);
    fireEvent.click(screen.getByRole('button', { name: 'Previous' }));
    expect(container.querySelector('.log-hit')?.textContent).toContain('ERROR at step 7');
  });
});
