import { useEffect, useRef, useState } from 'react';
import { parseAnsi, type AnsiStyle, type Segment } from './ansi';
import type { Api } from './api/client';
import type { LogEvent } from './api/types';

/** LogLine is one line of output, parsed once when it arrives. */
export interface LogLine {
  timestamp: string | number;
  raw: string;
  segments: Segment[];
  stderr?: boolean;
}

/** LogBuffer appends lines in place, so 100,000 lines are never copied on each page. */
export class LogBuffer {
  readonly lines: LogLine[] = [];
  private style: AnsiStyle = {};

  append(events: LogEvent[]): void {
    for (const ev of events) {
      for (let text of String(ev.message ?? '').replace(/\r?\n$/, '').split('\n')) {
        // A carriage return redraws the line (progress bars): keep what was drawn last.
        const cr = text.lastIndexOf('\r');
        if (cr >= 0) text = cr === text.length - 1 ? text.slice(0, cr) : text.slice(cr + 1);
        const { segments, end } = parseAnsi(text, this.style);
        this.style = end;
        this.lines.push({ timestamp: ev.timestamp, raw: text, segments, stderr: ev.stream === 'stderr' || undefined });
      }
    }
  }
}

export interface LogState {
  buffer: LogBuffer;
  /** version changes whenever lines were added. */
  version: number;
  complete: boolean;
  error: Error | null;
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(t);
      resolve();
    });
  });

/**
 * followLogs pages through a run's logs with the returned next_token until the
 * API says complete, waiting idleMs between empty pages. A failed request is
 * retried after errorMs with the same token, so no line is skipped.
 */
export async function followLogs(
  api: Api,
  runId: string,
  onPage: (events: LogEvent[], complete: boolean) => void,
  onError: (e: Error | null) => void,
  signal: AbortSignal,
  { idleMs = 1000, errorMs = 3000 } = {},
): Promise<void> {
  let token: string | undefined;
  while (!signal.aborted) {
    try {
      const page = await api.getLogs(runId, token);
      if (signal.aborted) return;
      onError(null);
      token = page.next_token ?? token;
      const events = page.events ?? [];
      onPage(events, !!page.complete);
      if (page.complete) return;
      // Catch up quickly while there is backlog, but always yield to the browser between pages.
      await sleep(events.length === 0 ? idleMs : 0, signal);
    } catch (e) {
      if (signal.aborted) return;
      onError(e as Error);
      await sleep(errorMs, signal);
    }
  }
}

/** useRunLogs follows a run's logs live until they are complete. */
export function useRunLogs(api: Api, runId: string, opts?: { idleMs?: number; errorMs?: number }): LogState {
  const bufferRef = useRef<LogBuffer>(new LogBuffer());
  const [state, setState] = useState<Omit<LogState, 'buffer'>>({ version: 0, complete: false, error: null });
  useEffect(() => {
    const buffer = new LogBuffer();
    bufferRef.current = buffer;
    setState({ version: 0, complete: false, error: null });
    const ctl = new AbortController();
    void followLogs(
      api,
      runId,
      (events, complete) => {
        buffer.append(events);
        if (events.length || complete) setState((s) => ({ ...s, version: s.version + 1, complete }));
      },
      (error) => setState((s) => (s.error === error ? s : { ...s, error })),
      ctl.signal,
      opts,
    );
    return () => ctl.abort();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [api, runId]);
  return { buffer: bufferRef.current, ...state };
}
