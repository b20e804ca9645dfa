import type { AuthConfig } from './config';

// Sign-in with the Cognito hosted UI: OAuth 2.0 authorization code + PKCE (RFC 7636).
// Tokens live in sessionStorage (per tab, gone when it closes). The ID token is
// the one sent as Bearer: it carries `email`, which the API uses as the run owner,
// and its `aud` is the app client, which the API Gateway JWT authorizer checks.

const TOKENS = 'flotilla.tokens';
const PENDING = 'flotilla.pkce';

interface Tokens {
  id_token: string;
  refresh_token?: string;
  expires_at: number; // epoch ms
}

interface Pending {
  state: string;
  verifier: string;
  return_to: string;
}

function base64url(bytes: Uint8Array): string {
  let s = '';
  bytes.forEach((b) => (s += String.fromCharCode(b)));
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export function randomString(bytes = 32): string {
  const a = new Uint8Array(bytes);
  crypto.getRandomValues(a);
  return base64url(a);
}

/** pkceChallenge is BASE64URL(SHA-256(verifier)), the S256 method. */
export async function pkceChallenge(verifier: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier));
  return base64url(new Uint8Array(digest));
}

export function hostedUiBase(cfg: AuthConfig): string {
  const d = cfg.domain.replace(/\/+$/, '');
  return d.startsWith('http') ? d : `https://${d}`;
}

export function authorizeUrl(cfg: AuthConfig, state: string, challenge: string): string {
  const p = new URLSearchParams({
    response_type: 'code',
    client_id: cfg.client_id,
    redirect_uri: cfg.redirect_uri,
    scope: 'openid email profile',
    state,
    code_challenge: challenge,
    code_challenge_method: 'S256',
  });
  return `${hostedUiBase(cfg)}/oauth2/authorize?${p}`;
}

/** signIn sends the browser to the hosted UI; it comes back to redirect_uri with a code. */
export async function signIn(cfg: AuthConfig, returnTo: string): Promise<never> {
  const pending: Pending = { state: randomString(16), verifier: randomString(48), return_to: returnTo };
  sessionStorage.setItem(PENDING, JSON.stringify(pending));
  window.location.assign(authorizeUrl(cfg, pending.state, await pkceChallenge(pending.verifier)));
  return new Promise<never>(() => {}); // the page is leaving
}

export function signOut(cfg: AuthConfig): void {
  sessionStorage.removeItem(TOKENS);
  const p = new URLSearchParams({ client_id: cfg.client_id, logout_uri: new URL(cfg.redirect_uri).origin + '/' });
  window.location.assign(`${hostedUiBase(cfg)}/logout?${p}`);
}

async function tokenRequest(cfg: AuthConfig, body: Record<string, string>): Promise<Tokens> {
  const res = await fetch(`${hostedUiBase(cfg)}/oauth2/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ client_id: cfg.client_id, ...body }),
  });
  if (!res.ok) throw new Error(`sign-in failed: the token endpoint answered HTTP ${res.status}`);
  const t = (await res.json()) as { id_token: string; refresh_token?: string; expires_in: number };
  return {
    id_token: t.id_token,
    refresh_token: t.refresh_token ?? body.refresh_token,
    expires_at: Date.now() + t.expires_in * 1000,
  };
}

/**
 * completeSignIn finishes the code flow when the page is the redirect target.
 * It returns the path to go back to, or null when this page load is not a sign-in callback.
 */
export async function completeSignIn(cfg: AuthConfig, location: Location = window.location): Promise<string | null> {
  const params = new URLSearchParams(location.search);
  const code = params.get('code');
  const state = params.get('state');
  if (!code || !state) return null;
  const pending = JSON.parse(sessionStorage.getItem(PENDING) ?? 'null') as Pending | null;
  sessionStorage.removeItem(PENDING);
  if (!pending || pending.state !== state) throw new Error('sign-in failed: the state does not match; try again');
  const tokens = await tokenRequest(cfg, {
    grant_type: 'authorization_code',
    code,
    redirect_uri: cfg.redirect_uri,
    code_verifier: pending.verifier,
  });
  sessionStorage.setItem(TOKENS, JSON.stringify(tokens));
  return pending.return_to || '/';
}

/** tokenSource returns the current ID token, refreshing it when it is about to expire, or signing in. */
export function tokenSource(cfg: AuthConfig): () => Promise<string> {
  let refreshing: Promise<Tokens> | null = null;
  return async () => {
    const t = JSON.parse(sessionStorage.getItem(TOKENS) ?? 'null') as Tokens | null;
    if (t && t.expires_at - 60_000 > Date.now()) return t.id_token;
    if (t?.refresh_token) {
      refreshing ??= tokenRequest(cfg, { grant_type: 'refresh_token', refresh_token: t.refresh_token }).finally(() => {
        refreshing = null;
      });
      try {
        const fresh = await refreshing;
        sessionStorage.setItem(TOKENS, JSON.stringify(fresh));
        return fresh.id_token;
      } catch {
        /* fall through to a new sign-in */
      }
    }
    return signIn(cfg, window.location.pathname + window.location.search);
  };
}

export function forgetTokens(): void {
  sessionStorage.removeItem(TOKENS);
}
