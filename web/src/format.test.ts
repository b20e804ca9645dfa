import { describe, expect, it } from 'vitest';
import { formatDuration, fromLocalInput, plainWords, runDuration, toLocalInput } from './format';

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
