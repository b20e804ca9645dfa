// Shared by the browser journeys: start a real `flotilla serve` on a random
// port with a temporary data dir, and Debian's chromium through playwright-core.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { it } from 'node:test';
import { chromium } from 'playwright-core';

export const webDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const repoRoot = resolve(webDir, '..');
export const shots = join(webDir, 'e2e-screenshots');
export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

function serverCommand(dataDir, extraArgs = []) {
  const bin = process.env.FLOTILLA_BIN || join(repoRoot, 'bin', 'flotilla');
  const args = ['serve', '--addr', '127.0.0.1:0', '--data-dir', dataDir, '--ui-dir', join(webDir, 'dist'), ...extraArgs];
  if (existsSync(bin)) return { cmd: bin, args };
  return { cmd: 'go', args: ['run', './cmd/flotilla', ...args] };
}

/** startServer runs flotilla in its own process group (extraArgs go to serve) and resolves with its URL from the "listening on" line. */
export function startServer(dataDir, extraArgs = []) {
  const { cmd, args } = serverCommand(dataDir, extraArgs);
  const proc = spawn(cmd, args, { cwd: repoRoot, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  return new Promise((resolveUrl, reject) => {
    const timer = setTimeout(() => reject(new Error(`flotilla did not say "listening on" within 240s:\n${stderr}`)), 240_000);
    proc.stdout.on('data', (b) => (stderr += b));
    proc.stderr.on('data', (b) => {
      stderr += b;
      const m = /flotilla: listening on (http:\/\/[^\s]+)/.exec(stderr);
      if (m) {
        clearTimeout(timer);
        resolveUrl({ proc, url: m[1].replace(/\/$/, ''), get stderr() { return stderr; } });
      }
    });
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${cmd} ${args.join(' ')} exited with ${code} before listening:\n${stderr}`));
    });
    proc.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

/** stopServer ends the server's whole process group (`go run` and its child), SIGKILL after 10 s. */
export async function stopServer(server) {
  if (!server?.proc || server.proc.exitCode !== null) return;
  const gone = new Promise((r) => server.proc.once('exit', r));
  try {
    process.kill(-server.proc.pid, 'SIGTERM');
  } catch {
    /* already gone */
  }
  const timeout = new Promise((r) => setTimeout(() => r('timeout'), 10_000));
  if ((await Promise.race([gone, timeout])) === 'timeout') {
    try {
      process.kill(-server.proc.pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
}

/** launchBrowser starts headless chromium with a fresh profile. */
export async function launchBrowser(viewport = { width: 1280, height: 900 }) {
  const profileDir = mkdtempSync(join(tmpdir(), 'flotilla-e2e-chromium-'));
  const context = await chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    viewport,
  });
  return { context, profileDir };
}

/**
 * recordBench merges figures into the JSON file FLOTILLA_BENCH_OUT names (as
 * the Go benchmarks do); without it, nothing is written.
 */
export function recordBench(figures) {
  const out = process.env.FLOTILLA_BENCH_OUT;
  if (!out) return;
  const path = resolve(repoRoot, out);
  let all = {};
  try {
    all = JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    /* a new file */
  }
  Object.assign(all, figures);
  const sorted = Object.fromEntries(Object.keys(all).sort().map((k) => [k, all[k]]));
  writeFileSync(path, JSON.stringify(sorted, null, 2) + '\n');
}

/**
 * journeys returns the `journey` of a spec: a test that leaves a screenshot
 * of the page (currentPage()) behind when it fails, named
 * FAILED-<prefix><journey>.png.
 */
export function journeys(prefix, currentPage) {
  return (name, opts, fn) =>
    it(name, opts, async () => {
      try {
        await fn();
      } catch (e) {
        const slug = name.replace(/[^a-z0-9]+/gi, '-').slice(0, 60);
        await currentPage()?.screenshot({ path: join(shots, `FAILED-${prefix}${slug}.png`), fullPage: true }).catch(() => {});
        throw e;
      }
    });
}
