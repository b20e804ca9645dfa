import { Link } from 'react-router';
import type { Run } from '../api/types';
import { formatDuration, formatTime, median, outcome, runDuration } from '../format';

/** RunStats sums up a definition's recent runs: the last status, success rate of the finished ones, median duration of the successes. */
export interface RunStats {
  last?: Run;
  finished: number;
  succeeded: number;
  /** successRate is 0..1, or null before any run finished. */
  successRate: number | null;
  medianMs: number | null;
}

export function runStats(runs: Run[]): RunStats {
  const finished = runs.filter((r) => r.status === 'SUCCEEDED' || r.status === 'FAILED' || r.status === 'STOPPED');
  const ok = finished.filter((r) => r.status === 'SUCCEEDED');
  const durations = ok.map((r) => runDuration(r)).filter((d): d is number => d !== null);
  return {
    last: runs[0],
    finished: finished.length,
    succeeded: ok.length,
    successRate: finished.length ? ok.length / finished.length : null,
    medianMs: median(durations),
  };
}

/**
 * RunStrip is a definition's recent runs as coloured bars, oldest on the
 * left, each a link to its run (its outcome in words for screen readers and
 * on hover), then the success rate and the median duration.
 */
export function RunStrip({ runs, label }: { runs: Run[]; label: string }) {
  const s = runStats(runs);
  if (runs.length === 0) return <span className="muted">never run</span>;
  return (
    <span className="run-strip" data-testid="run-strip">
      <span className="strip" role="list" aria-label={`${label}: last ${runs.length} runs, oldest first`}>
        {[...runs].reverse().map((r) => (
          <Link
            key={r.run_id}
            role="listitem"
            className={`s-${r.status.toLowerCase()}`}
            to={`/runs/${encodeURIComponent(r.run_id)}`}
            title={`${r.status} · ${outcome(r)} · ${formatTime(r.queued_at)}`}
            aria-label={`${r.status}, ${outcome(r)}, queued ${formatTime(r.queued_at)}`}
          />
        ))}
      </span>{' '}
      <span className="small">
        {s.successRate === null ? 'none finished' : `${Math.round(s.successRate * 100)}% succeeded`}
        {s.medianMs !== null && ` · median ${formatDuration(s.medianMs)}`}
      </span>
    </span>
  );
}
