import { describe, expect, it } from 'vitest';
import { formatDuration, fromLocalInput, plainWords, runDuration, toLocalInput, formatTimeIn, median, outcome, relativeTime } from './format';

describe('format', () => {
  it.each([
    [450, '450ms'],
    [41_000, '41s'],
    [125_000, '2m 5s'],
    [3 * 3600_000 + 4 * 60_000, '3h 4m'],
    [26 * 3600_000, '1d 2h'],
    [null, '—'],
    [-5, '—'],
  ])('formatDuration(%s) = %s', (ms, want) => {
    expect(formatDuration(ms)).toBe(want);
  });

  it('measures a run from start to finish, or to now while it runs', () => {
    expect(runDuration({ started_at: '2026-01-01T00:00:00Z', finished_at: '2026-01-01T00:01:30Z' })).toBe(90_000);
    expect(runDuration({ started_at: '2026-01-01T00:00:00Z' }, Date.parse('2026-01-01T00:00:10Z'))).toBe(10_000);
    expect(runDuration({})).toBeNull();
  });

  it('round-trips datetime-local values through RFC 3339', () => {
    const iso = fromLocalInput('2026-11-26T09:30');
    expect(iso).toMatch(/^2026-11-2\dT\d\d:30:00Z$/);
    expect(toLocalInput(iso)).toBe('2026-11-26T09:30');
    expect(fromLocalInput('')).toBe('');
  });

  it('says codes in plain words, and unknown ones readably', () => {
    expect(plainWords('out_of_memory')).toBe('out of memory');
    expect(plainWords('SOMETHING_NEW')).toBe('something new');
    expect(plainWords(undefined)).toBe('');
  });
});

describe('issue 15 helpers', () => {
  const now = Date.parse('2026-11-26T12:00:00Z');
  it('says times relative to now', () => {
    expect(relativeTime('2026-11-26T11:59:30Z', now)).toBe('just now');
    expect(relativeTime('2026-11-26T11:57:00Z', now)).toBe('3 min. ago');
    expect(relativeTime('2026-11-26T09:00:00Z', now)).toBe('3 hr. ago');
    expect(relativeTime('2026-11-24T12:00:00Z', now)).toBe('2 days ago');
    expect(relativeTime('2026-11-26T14:00:00Z', now)).toBe('in 2 hr.');
    expect(relativeTime(undefined, now)).toBe('—');
  });
  it('says a run outcome with its exit code', () => {
    expect(outcome({ status: 'FAILED', exit_code: 3, reason_code: 'exit_code' })).toBe('exit 3');
    expect(outcome({ status: 'FAILED', exit_code: 137, reason_code: 'out_of_memory' })).toBe('exit 137 · out of memory');
    expect(outcome({ status: 'FAILED', reason_code: 'image_pull' })).toBe('the image could not be pulled');
    expect(outcome({ status: 'SUCCEEDED', exit_code: 0 })).toBe('exit 0');
    expect(outcome({ status: 'QUEUED', queue_position: 2 })).toBe('#2 in line');
    expect(outcome({ status: 'RUNNING' })).toBe('');
  });
  it('shows a time in a named zone and takes medians', () => {
    expect(formatTimeIn('2026-11-27T02:00:00Z', 'Europe/Paris')).toBe('2026-11-27 03:00');
    expect(formatTimeIn('2026-11-27T02:00:00Z', 'America/New_York')).toBe('2026-11-26 21:00');
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNull();
  });
});
