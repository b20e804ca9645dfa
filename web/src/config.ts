/** AuthConfig is the Cognito hosted-UI setting of an AWS deployment. */
export interface AuthConfig {
  region: string;
  user_pool_id: string;
  client_id: string;
  /** The hosted UI domain, e.g. "flotilla.auth.eu-west-1.amazoncognito.com" (with or without https://). */
  domain: string;
  redirect_uri: string;
}

/** RuntimeConfig is /config.json: one build serves every environment. */
export interface RuntimeConfig {
  /** The API's origin; "" means the origin the UI was served from. */
  api_base_url: string;
  /** null locally (no sign-in). */
  auth: AuthConfig | null;
}

export const defaultConfig: RuntimeConfig = { api_base_url: '', auth: null };

/**
 * loadConfig reads /config.json. A missing file means local defaults; a file
 * that exists but is broken is an error, since guessing could send requests
 * to the wrong place.
 */
export async function loadConfig(fetchFn: typeof fetch = fetch): Promise<RuntimeConfig> {
  let res: Response;
  try {
    res = await fetchFn('/config.json', { cache: 'no-store' });
  } catch {
    return defaultConfig;
  }
  if (res.status === 404) return defaultConfig;
  if (!res.ok) throw new Error(`/config.json answered HTTP ${res.status}`);
  const text = await res.text();
  // A server that falls back to index.html for unknown paths answers 200 with HTML.
  if (text.trimStart().startsWith('<')) return defaultConfig;
  let raw: Partial<RuntimeConfig>;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new Error('/config.json is not valid JSON');
  }
  const auth = raw.auth ?? null;
  if (auth) {
    for (const k of ['client_id', 'domain', 'redirect_uri'] as const) {
      if (!auth[k]) throw new Error(`/config.json: auth.${k} is missing`);
    }
  }
  return { api_base_url: raw.api_base_url ?? '', auth };
}
