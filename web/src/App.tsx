import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { Component, type ErrorInfo, type ReactNode } from 'react';
import { Link, NavLink, Route, Routes, useLocation } from 'react-router';
import { ApiError, type Api } from './api/client';
import { ApiProvider } from './api/context';
import { ErrorNotice, useTitle } from './components/common';
import { ClustersPage } from './pages/ClustersPage';
import { CostsPage } from './pages/CostsPage';
import { DefinitionFormPage } from './pages/DefinitionFormPage';
import { DefinitionPage } from './pages/DefinitionPage';
import { DefinitionsPage } from './pages/DefinitionsPage';
import { LaunchPage } from './pages/LaunchPage';
import { RunPage } from './pages/RunPage';
import { RunsPage } from './pages/RunsPage';
import { SchedulesPage } from './pages/SchedulesPage';

/** ErrorBoundary keeps a rendering bug from leaving a blank page. */
class ErrorBoundary extends Component<{ children: ReactNode }, { error: unknown }> {
  state = { error: null as unknown };
  static getDerivedStateFromError(error: unknown) {
    return { error };
  }
  componentDidCatch(error: unknown, info: ErrorInfo) {
    console.error('flotilla ui:', error, info.componentStack);
  }
  render() {
    if (this.state.error) {
      return (
        <>
          <ErrorNotice error={this.state.error} what="This page failed" />
          <p>
            <a href={window.location.href}>Reload the page</a> or <Link to="/">go to the runs</Link>.
          </p>
        </>
      );
    }
    return this.props.children;
  }
}

export function newQueryClient(): QueryClient {
  return new QueryClient({
    defaultOptions: {
      queries: {
        // Client errors (404, 400, 403) will not heal by asking again; outages might.
        retry: (count, err) => count < 2 && (!(err instanceof ApiError) || err.status === 0 || err.status >= 500 || err.status === 429),
        staleTime: 1000,
      },
    },
  });
}

function NotFound() {
  useTitle('Page not found');
  return (
    <section>
      <h1>Page not found</h1>
      <p>
        Nothing lives at <code>{useLocation().pathname}</code>. <Link to="/">See the runs</Link>.
      </p>
    </section>
  );
}

/** AppRoutes is every page; each URL survives a reload (the server falls back to index.html). */
export function AppRoutes() {
  const location = useLocation();
  return (
    <ErrorBoundary key={location.pathname}>
      <Routes>
        <Route path="/" element={<RunsPage />} />
        <Route path="/runs" element={<RunsPage />} />
        <Route path="/runs/:runId" element={<RunPage />} />
        <Route path="/definitions" element={<DefinitionsPage />} />
        <Route path="/definitions/new" element={<DefinitionFormPage mode="create" />} />
        <Route path="/definitions/:ref" element={<DefinitionPage />} />
        <Route path="/definitions/:ref/edit" element={<DefinitionFormPage mode="edit" />} />
        <Route path="/launch/:ref" element={<LaunchPage />} />
        <Route path="/clusters" element={<ClustersPage />} />
        <Route path="/schedules" element={<SchedulesPage />} />
        <Route path="/costs" element={<CostsPage />} />
        <Route path="*" element={<NotFound />} />
      </Routes>
    </ErrorBoundary>
  );
}

export function Layout({ children, user }: { children: ReactNode; user?: ReactNode }) {
  const { pathname } = useLocation();
  const runsActive = pathname === '/' || pathname.startsWith('/runs');
  return (
    <>
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="top">
        <Link to="/" className="brand">
          Flotilla
        </Link>
        <nav aria-label="Main">
          <ul>
            <li>
              <NavLink to="/runs" className={() => (runsActive ? 'active' : '')} aria-current={runsActive ? 'page' : undefined}>
                Runs
              </NavLink>
            </li>
            <li>
              <NavLink to="/definitions">Definitions</NavLink>
            </li>
            <li>
              <NavLink to="/clusters">Clusters</NavLink>
            </li>
            <li>
              <NavLink to="/schedules">Schedules</NavLink>
            </li>
            <li>
              <NavLink to="/costs">Costs</NavLink>
            </li>
          </ul>
        </nav>
        {user && <div className="user">{user}</div>}
      </header>
      <main id="main" tabIndex={-1}>
        {children}
      </main>
    </>
  );
}

/** App wires the API client and the query cache around the pages; the router comes from outside. */
export function App({ api, queryClient, user }: { api: Api; queryClient: QueryClient; user?: ReactNode }) {
  return (
    <ApiProvider api={api}>
      <QueryClientProvider client={queryClient}>
        <Layout user={user}>
          <AppRoutes />
        </Layout>
      </QueryClientProvider>
    </ApiProvider>
  );
}
