import { afterEach, describe, expect, it } from 'vitest';
import { authorizeUrl, completeSignIn, hostedUiBase, pkceChallenge } from './auth';
import { loadConfig } from './config';

const cfg = {
  region: 'eu-west-1',
  user_pool_id: 'eu-west-1_abc',
  client_id: 'client123',
  domain: 'flotilla.auth.eu-west-1.amazoncognito.com',
  redirect_uri: 'https://flotilla.example.com/',
};

afterEach(() => sessionStorage.clear());

describe('PKCE sign-in', () => {
  it('computes the S256 challenge of RFC 7636 appendix B', async () => {
    expect(await pkceChallenge('dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk')).toBe('E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM');
  });

  it('builds the hosted UI authorize URL', () => {
    const u = new URL(authorizeUrl(cfg, 'st', 'ch'));
    expect(u.origin + u.pathname).toBe('https://flotilla.auth.eu-west-1.amazoncognito.com/oauth2/authorize');
    expect(Object.fromEntries(u.searchParams)).toMatchObject({
      response_type: 'code',
      client_id: 'client123',
      redirect_uri: 'https://flotilla.example.com/',
      state: 'st',
      code_challenge: 'ch',
      code_challenge_method: 'S256',
    });
    expect(hostedUiBase({ ...cfg, domain: 'https://auth.example.com/' })).toBe('https://auth.example.com');
  });

  it('ignores page loads that are not a callback, and rejects a wrong state', async () => {
    expect(await completeSignIn(cfg, { search: '' } as Location)).toBeNull();
    sessionStorage.setItem('flotilla.pkce', JSON.stringify({ state: 'good', verifier: 'v', return_to: '/runs' }));
    await expect(completeSignIn(cfg, { search: '?code=c&state=evil' } as Location)).rejects.toThrow(/state/);
  });
});

describe('loadConfig', () => {
  const answer = (body: string, status = 200) => async () => new Response(body, { status });
  it('reads api_base_url and auth', async () => {
    const c = await loadConfig(answer(JSON.stringify({ api_base_url: 'https://api.x', auth: cfg })));
    expect(c.api_base_url).toBe('https://api.x');
    expect(c.auth?.client_id).toBe('client123');
  });
  it('falls back to same-origin without sign-in when there is no config file', async () => {
    expect(await loadConfig(answer('', 404))).toEqual({ api_base_url: '', auth: null });
    expect(await loadConfig(answer('<!doctype html><html>'))).toEqual({ api_base_url: '', auth: null });
  });
  it('refuses a broken config rather than guessing', async () => {
    await expect(loadConfig(answer('{nope'))).rejects.toThrow(/not valid JSON/);
    await expect(loadConfig(answer(JSON.stringify({ auth: { domain: 'd' } })))).rejects.toThrow(/client_id/);
  });
});
