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
  dependencies: 'waiting for the runs it was launched after',
  children: 'waiting for its children',
  // reason_code
  succeeded: 'succeeded',
  exit_code: 'non-zero exit',
  out_of_memory: 'out of memory',
  image_pull: 'the image could not be pulled',
  could_not_start: 'could not start',
  queue_timeout: 'waited in the queue too long',
  run_timeout: 'ran past its timeout',
  stopped: 'stopped on request',
  retries_exhausted: 'failed after all its retries',
  lost: 'lost track of the task',
  dependency_failed: 'a run it waited for did not succeed',
  children_failed: 'some children failed',
};

export function plainWords(code?: string | null): string {
  if (!code) return '';
  return words[code.toLowerCase()] ?? code.replace(/_/g, ' ').toLowerCase();
}

const rtf = new Intl.RelativeTimeFormat('en', { numeric: 'auto', style: 'short' });

/**
 * relativeTime says "3 min ago", "in 2 hr", "now" (Intl.RelativeTimeFormat:
 * the platform's wording, no date library needed), or "—".
 */
export function relativeTime(t?: string | number | null, now = Date.now()): string {
  const ms = parseTime(t);
  if (ms === null) return '—';
  const diff = ms - now;
  const abs = Math.abs(diff);
  if (abs < 45_000) return 'just now';
  const units: [Intl.RelativeTimeFormatUnit, number][] = [
    ['minute', 60_000],
    ['hour', 3_600_000],
    ['day', 86_400_000],
  ];
  let unit: Intl.RelativeTimeFormatUnit = 'day';
  let size = 86_400_000;
  for (const [u, n] of units) {
    unit = u;
    size = n;
    if (abs < n * (u === 'minute' ? 60 : u === 'hour' ? 24 : Infinity)) break;
  }
  return rtf.format(Math.round(diff / size), unit);
}

/** zoneLabel names the viewer's time zone briefly, as times are shown in it: "Europe/Paris (UTC+1)". */
export function zoneLabel(zone?: string): string {
  const tz = zone ?? Intl.DateTimeFormat().resolvedOptions().timeZone ?? 'UTC';
  const part = new Intl.DateTimeFormat('en', { timeZone: tz, timeZoneName: 'shortOffset' })
    .formatToParts(new Date())
    .find((p) => p.type === 'timeZoneName')?.value;
  const offset = part === 'GMT' ? 'UTC' : part?.replace('GMT', 'UTC');
  return offset && offset !== tz ? `${tz} (${offset})` : tz;
}

/** formatTimeIn shows a time in a named IANA zone, "2026-11-27 03:00". */
export function formatTimeIn(t: string | number | null | undefined, zone: string): string {
  const ms = parseTime(t);
  if (ms === null) return '—';
  try {
    const parts = Object.fromEntries(
      new Intl.DateTimeFormat('en-CA', { timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' })
        .formatToParts(new Date(ms))
        .map((p) => [p.type, p.value]),
    );
    return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute}`;
  } catch {
    return formatTime(ms);
  }
}

/** outcome is a run's result in a few words (empty while it runs): "exit 3", "succeeded", "out of memory", "#2 in line". */
export function outcome(r: {
  status: string;
  exit_code?: number | null;
  reason_code?: string;
  queue_position?: number;
  wait_reason?: string;
  after?: string[];
  array?: { size: number };
}): string {
  const code = r.exit_code !== undefined && r.exit_code !== null ? `exit ${r.exit_code}` : '';
  switch (r.status) {
    case 'SUCCEEDED':
      return code || 'succeeded';
    case 'FAILED': {
      const why = r.reason_code && r.reason_code.toLowerCase() !== 'exit_code' ? plainWords(r.reason_code) : '';
      return [code, why].filter(Boolean).join(' · ') || 'failed';
    }
    case 'STOPPED':
      return r.reason_code && r.reason_code.toLowerCase() !== 'stopped' ? plainWords(r.reason_code) : 'stopped on request';
    case 'QUEUED':
      return r.queue_position ? `#${r.queue_position} in line` : 'waiting';
    case 'WAITING':
      if (r.wait_reason === 'children' && r.array) return `${r.array.size} ${r.array.size === 1 ? 'child' : 'children'}`;
      if (r.after?.length) return `after ${r.after.length} ${r.after.length === 1 ? 'run' : 'runs'}`;
      return 'waiting';
    case 'PENDING':
      return 'starting';
    default:
      // RUNNING: the badge says it all; the duration column says for how long.
      return '';
  }
}

/** median of a list of numbers, or null when empty. */
export function median(xs: number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** indexRanges writes ascending indexes compactly: "1, 4–9, 12". */
export function indexRanges(xs: number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < xs.length; ) {
    let j = i;
    while (j + 1 < xs.length && xs[j + 1] === xs[j] + 1) j++;
    parts.push(j === i ? String(xs[i]) : `${xs[i]}–${xs[j]}`);
    i = j + 1;
  }
  return parts.join(', ');
}
