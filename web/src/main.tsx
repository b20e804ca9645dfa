import { StrictMode, type ReactNode } from 'react';
import { createRoot } from 'react-dom/client';
import { BrowserRouter } from 'react-router';
import { Api } from './api/client';
import { App, newQueryClient } from './App';
import { completeSignIn, forgetTokens, signIn, signOut, tokenSource } from './auth';
import { loadConfig } from './config';
import './styles.css';

const root = createRoot(document.getElementById('root')!);

async function start() {
  const config = await loadConfig();
  let token: (() => Promise<string | null>) | undefined;
  let onUnauthorized: (() => void) | undefined;
  let user: ReactNode;
  if (config.auth) {
    const auth = config.auth;
    const back = await completeSignIn(auth);
    if (back) window.history.replaceState(null, '', back);
    token = tokenSource(auth);
    onUnauthorized = () => {
      forgetTokens();
      void signIn(auth, window.location.pathname + window.location.search);
    };
    user = (
      <button type="button" onClick={() => signOut(auth)}>
        Sign out
      </button>
    );
  }
  const api = new Api(config.api_base_url, token, undefined, onUnauthorized);
  root.render(
    <StrictMode>
      <BrowserRouter>
        <App api={api} queryClient={newQueryClient()} user={user} />
      </BrowserRouter>
    </StrictMode>,
  );
}

start().catch((e: Error) => {
  // Never a blank page: say what failed at start-up.
  root.render(
    <main className="startup-error" role="alert">
      <h1>Flotilla could not start</h1>
      <p>{e.message}</p>
      <p>
        <a href="/">Reload</a>
      </p>
    </main>,
  );
});
