import { adminToken, getJson, setAdminToken } from './api.ts';
import { Link } from './components.tsx';
import { useLoad } from './hooks.ts';
import { Invocation } from './pages/invocation.tsx';
import { Invocations } from './pages/invocations.tsx';
import { Overview } from './pages/overview.tsx';
import { Promises } from './pages/promises.tsx';
import { Schedules } from './pages/schedules.tsx';
import { SqlConsole } from './pages/sql.tsx';
import { StatePage } from './pages/state.tsx';
import { type Route, useRoute } from './router.ts';

const NAV: [string, string][] = [
  ['/', 'Overview'],
  ['/invocations', 'Invocations'],
  ['/state', 'State'],
  ['/promises', 'Promises'],
  ['/schedules', 'Schedules'],
  ['/sql', 'SQL'],
];

function Page(props: { route: Route }) {
  const { path } = props.route;
  const inv = /^\/invocations\/([^/]+)$/.exec(path);
  if (inv) return <Invocation id={decodeURIComponent(inv[1])} />;
  switch (path) {
    case '/':
      return <Overview />;
    case '/invocations':
      return <Invocations route={props.route} />;
    case '/state':
      return <StatePage route={props.route} />;
    case '/promises':
      return <Promises />;
    case '/schedules':
      return <Schedules />;
    case '/sql':
      return <SqlConsole route={props.route} />;
    default:
      return (
        <div class="page">
          <h1>Not found</h1>
          <p>
            No page at <span class="mono">{path}</span>. <Link to="/">Overview</Link>
          </p>
        </div>
      );
  }
}

/**
 * The admin token of an API with authentication on: typed once, kept in this browser's localStorage, sent as
 * `Authorization: Bearer` with every request; saving reloads the page so that every view asks again.
 */
function TokenBox() {
  const stored = adminToken();
  if (stored !== undefined)
    return (
      <span class="token">
        token set{' '}
        <button
          type="button"
          onClick={() => {
            setAdminToken('');
            location.reload();
          }}
        >
          forget
        </button>
      </span>
    );
  return (
    <form
      class="token"
      onSubmit={(e) => {
        e.preventDefault();
        const input = (e.currentTarget as HTMLFormElement).elements.namedItem('token') as HTMLInputElement;
        setAdminToken(input.value);
        location.reload();
      }}
    >
      <input name="token" type="password" placeholder="admin token" autocomplete="off" aria-label="admin token" />
      <button type="submit">save</button>
    </form>
  );
}

export function App() {
  const route = useRoute();
  const version = useLoad(() => getJson<{ version?: string }>('/version'), []);
  const section = route.path === '/' ? '/' : `/${route.path.split('/')[1]}`;
  return (
    <>
      <header class="top">
        <Link to="/" class="brand">
          Stead
        </Link>
        <nav>
          {NAV.map(([to, label]) => (
            <Link key={to} to={to} class={section === to ? 'active' : undefined}>
              {label}
            </Link>
          ))}
        </nav>
        <TokenBox />
        <span class="version">{version.data?.version ? `v${version.data.version}` : ''}</span>
      </header>
      <main>
        <Page route={route} />
      </main>
    </>
  );
}
