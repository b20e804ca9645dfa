// Display helpers: times in the viewer's zone, durations in words a person reads at a glance.

export function parseTime(t?: string | number | null): number | null {
  if (t === undefined || t === null || t === '') return null;
  const ms = typeof t === 'number' ? (t > 1e12 ? t : t * 1000) : Date.parse(t);
  return Number.isNaN(ms) ? null : ms;
}

const pad = (n: number) => String(n).padStart(2, '0');

/** formatTime shows "2026-11-26 17:20:14" in local time, or "—". */
export function formatTime(t?: string | number | null): string {
  const ms = parseTime(t);
  if (ms === null) return '—';
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** formatDuration shows 3h 4m, 2m 5s, 41s, or 850ms. */
export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || Number.isNaN(ms) || ms < 0) return '—';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = Math.floor(ms / 1000);
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  if (d) return `${d}d ${h}h`;
  if (h) return `${h}h ${m}m`;
  if (m) return `${m}m ${sec}s`;
  return `${sec}s`;
}

/** runDuration is start→finish, or start→now while it runs. */
export function runDuration(r: { started_at?: string; finished_at?: string }, now = Date.now()): number | null {
  const start = parseTime(r.started_at);
  if (start === null) return null;
  return (parseTime(r.finished_at) ?? now) - start;
}

export function formatCpu(units?: number): string {
  if (units === undefined || units === null) return '—';
  return `${units} (${+(units / 1024).toFixed(2)} vCPU)`;
}

export function formatMemory(mib?: number): string {
  if (mib === undefined || mib === null) return '—';
  return mib >= 1024 ? `${mib} MiB (${+(mib / 1024).toFixed(2)} GiB)` : `${mib} MiB`;
}

export function formatUsd(v?: number | null): string {
  if (v === undefined || v === null) return 'unknown';
  return v < 0.01 && v > 0 ? `$${v.toFixed(4)}` : `$${v.toFixed(2)}`;
}

/** toLocalInput turns RFC 3339 into the value of an <input type="datetime-local">. */
export function toLocalInput(iso?: string | null): string {
  const ms = parseTime(iso);
  if (ms === null) return '';
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** fromLocalInput turns a datetime-local value into RFC 3339 UTC. */
export function fromLocalInput(v: string): string {
  if (!v) return '';
  const ms = new Date(v).getTime();
  return Number.isNaN(ms) ? '' : new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Plain words for the closed sets of issue 8; unknown codes are shown as they come. */
const words: Record<string, string> = {
  // wait_reason
  no_free_slot: 'every slot of the cluster is busy',
  engine_capacity: 'the engine has no capacity right now',
  account_quota: 'the account quota is reached',
  owner_turn: "another owner's turn",
  fair_share: "another owner's turn",
  launch_throttle: 'launches are being throttled',
  // reason_code
  succeeded: 'succeeded',
  exit_code: 'exited with a non-zero code',
  out_of_memory: 'out of memory',
  image_pull: 'the image could not be pulled',
  could_not_start: 'could not start',
  queue_timeout: 'waited in the queue too long',
  run_timeout: 'ran past its timeout',
  stopped: 'stopped on request',
  retries_exhausted: 'failed after all its retries',
  lost: 'lost track of the task',
};

export function plainWords(code?: string | null): string {
  if (!code) return '';
  return words[code.toLowerCase()] ?? code.replace(/_/g, ' ').toLowerCase();
}
