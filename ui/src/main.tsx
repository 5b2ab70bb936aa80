// tagd's web console: a single page served at /ui/ (src/api/console.c), speaking the native
// API. Pages are /ui/tags, /ui/resources, /ui/query, /ui/history and /ui/admin; the URL
// holds what a link should share (a query, a resource, a revision).
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import {
  api,
  ApiError,
  getCookieSession,
  getToken,
  getWorkspace,
  hasCredential,
  Me,
  setToken,
  setWorkspace,
  signInWithPassword,
  signOutSession,
  Tag,
} from './api';
import { HistoryView, tagsAt } from './history';
import { QueryView } from './query';
import { ResourcesView } from './resources';
import { Taxonomy } from './taxonomy';
import { AdminView } from './admin';
import { GroupsView } from './groups';
import { ErrorText, navigate } from './ui';
import './style.css';

export interface Caps {
  read: boolean;
  write: boolean;
  assign: boolean;
  admin: boolean;
}

function caps(me: Me): Caps {
  const has = (r: string) => me.rights.includes(r) || me.rights.includes('admin');
  return { read: has('tags:read'), write: has('tags:write'), assign: has('tags:assign'), admin: me.rights.includes('admin') };
}

function SignIn(props: { onSignedIn: (me: Me) => void; reason?: unknown }) {
  const [login, setLogin] = useState('');
  const [password, setPassword] = useState('');
  const [org, setOrg] = useState('');
  const [token, setTok] = useState('');
  const [error, setError] = useState<unknown>(props.reason ?? null);
  const [tokenError, setTokenError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const withPassword = async (e: Event) => {
    e.preventDefault();
    setError(null);
    setTokenError(null);
    setBusy(true);
    try {
      setWorkspace(null);
      await signInWithPassword(login.trim(), password, org);
      props.onSignedIn(await api<Me>('GET', '/v1/me'));
    } catch (x) {
      setError(x);
    } finally {
      setBusy(false);
    }
  };
  const withToken = async (e: Event) => {
    e.preventDefault();
    setError(null);
    setTokenError(null);
    await signOutSession();
    setWorkspace(null);
    setToken(token.trim());
    try {
      props.onSignedIn(await api<Me>('GET', '/v1/me'));
    } catch (x) {
      setToken(null);
      setTokenError(x);
    }
  };
  return (
    <main class="signin">
      <h1>tagd</h1>
      <form onSubmit={withPassword} aria-label="Sign in">
        <label>
          Login
          <input
            autoComplete="username"
            required
            autoFocus
            value={login}
            aria-invalid={error ? true : undefined}
            aria-describedby={error ? 'signin-err' : undefined}
            onInput={(e) => setLogin((e.target as HTMLInputElement).value)}
          />
        </label>
        <label>
          Password
          <input
            type="password"
            autoComplete="current-password"
            required
            value={password}
            aria-invalid={error ? true : undefined}
            aria-describedby={error ? 'signin-err' : undefined}
            onInput={(e) => setPassword((e.target as HTMLInputElement).value)}
          />
        </label>
        <details>
          <summary>Another organization</summary>
          <label>
            Organization
            <input
              placeholder="org_2"
              value={org}
              onInput={(e) => setOrg((e.target as HTMLInputElement).value)}
            />
          </label>
        </details>
        <ErrorText error={error} id="signin-err" />
        <button type="submit" disabled={busy}>Sign in</button>
        <p class="muted">
          A user of tagd (<code>POST /v1/users</code>, or Admin → Users). The session is a cookie
          that scripts cannot read; Sign out ends it.
        </p>
      </form>
      <form onSubmit={withToken} aria-label="Sign in with a token">
        <label>
          API token
          <input
            type="password"
            autoComplete="off"
            required
            value={token}
            aria-invalid={tokenError ? true : undefined}
            aria-describedby={tokenError ? 'token-err' : undefined}
            onInput={(e) => setTok((e.target as HTMLInputElement).value)}
          />
        </label>
        <ErrorText error={tokenError} id="token-err" />
        <button type="submit" class="secondary">Sign in with token</button>
        <p class="muted">
          Or a token of the native API (<code>POST /v1/tokens</code>, or the admin token tagd printed at
          its first start). It is kept in this tab only.
        </p>
      </form>
    </main>
  );
}

/**
 * The workspaces of the organization (GET /v1/me lists them): choosing one sends
 * X-Tagd-Workspace with every request from then on, and every view loads again.
 */
function WorkspaceSwitcher(props: { me: Me; onSwitched: (me: Me) => void }) {
  const [error, setError] = useState<unknown>(null);
  const all = props.me.workspaces ?? [];
  if (all.length < 2) return null;
  const change = async (id: string) => {
    setError(null);
    const before = getWorkspace();
    const w = all.find((x) => x.id === id);
    setWorkspace(w && !w.default ? id : null);
    try {
      props.onSwitched(await api<Me>('GET', '/v1/me'));
    } catch (x) {
      setWorkspace(before);
      setError(x);
    }
  };
  return (
    <label class="switch">
      <span class="sr">Workspace</span>
      <select value={props.me.workspace.id} onChange={(e) => change((e.target as HTMLSelectElement).value)}>
        {all.map((w) => <option key={w.id} value={w.id}>{w.name}</option>)}
      </select>
      <ErrorText error={error} />
    </label>
  );
}

/**
 * The installation's admin acts in another organization with a token of that organization:
 * switching issues one (admin, 8 hours, named after the principal), signs in with it and keeps
 * the first token in this tab to come back, which revokes the issued one. Every switch is
 * thus a token in the change log, as any other grant of access.
 */
const HOME = 'tagd.home';

/** The first credential's header: its token, or none when it is the session cookie (an empty
 * Authorization is left out, so that the browser's cookie is what is sent). */
function homeAuth(h: { token: string | null }): Record<string, string> {
  return { Authorization: h.token ? 'Bearer ' + h.token : '' };
}

function OrgSwitcher(props: { me: Me; onSwitched: (me: Me) => void }) {
  const [orgs, setOrgs] = useState<{ id: string; name: string }[]>([]);
  const [error, setError] = useState<unknown>(null);
  const home = sessionStorage.getItem(HOME);
  useEffect(() => {
    // Only the installation's admin lists organizations; from another one, its home token does.
    if (props.me.installation_admin || home)
      api('GET', '/v1/organizations', undefined, home ? homeAuth(JSON.parse(home)) : {})
        .then((p) => setOrgs(p.items))
        .catch(setError);
  }, [props.me.organization.id]);
  if (!orgs.length) return <ErrorText error={error} />;
  const change = async (id: string) => {
    setError(null);
    // A workspace belongs to one organization.
    setWorkspace(null);
    try {
      const h = home ? JSON.parse(home) : null;
      if (h) {
        // Back to the first token first; the token of the organization left is revoked.
        await api('DELETE', '/v1/tokens/' + h.issued, undefined, homeAuth(h));
        setToken(h.token);
        sessionStorage.removeItem(HOME);
      }
      const me = await api<Me>('GET', '/v1/me');
      if (me.organization.id !== id) {
        const t = await api('POST', '/v1/tokens', {
          name: `console: ${me.principal}`,
          rights: ['admin'],
          organization_id: id,
          expires_at: new Date(Date.now() + 8 * 3600 * 1000).toISOString(),
        });
        sessionStorage.setItem(HOME, JSON.stringify({ token: getToken(), issued: t.id }));
        setToken(t.token);
      }
      props.onSwitched(await api<Me>('GET', '/v1/me'));
      navigate('/ui/tags');
    } catch (x) {
      setError(x);
    }
  };
  return (
    <label class="switch">
      <span class="sr">Organization</span>
      <select value={props.me.organization.id} onChange={(e) => change((e.target as HTMLSelectElement).value)}>
        {orgs.map((o) => <option key={o.id} value={o.id}>{o.name}</option>)}
      </select>
      <ErrorText error={error} />
    </label>
  );
}

const PAGES: [string, string][] = [
  ['tags', 'Taxonomy'],
  ['groups', 'Groups'],
  ['resources', 'Resources'],
  ['query', 'Query'],
  ['history', 'History'],
  ['admin', 'Admin'],
];

function page() {
  const p = location.pathname.replace(/^\/ui\/?/, '').split('/')[0];
  return PAGES.some(([k]) => k === p) ? p : 'tags';
}

function asOfFromUrl(): number | null {
  const v = new URLSearchParams(location.search).get('asof');
  return v != null && /^\d+$/.test(v) ? Number(v) : null;
}

function App() {
  const [me, setMe] = useState<Me | null>(null);
  const [checking, setChecking] = useState(hasCredential());
  const [reason, setReason] = useState<unknown>(null);
  const [pg, setPg] = useState(page());
  const [asOf, setAsOfState] = useState<number | null>(asOfFromUrl());
  const [asOfTags, setAsOfTags] = useState<Map<number, Tag> | undefined>(undefined);
  const [asOfErr, setAsOfErr] = useState<unknown>(null);
  // Views read the rest of the URL (?kind=&key=, ?q=) as they render: a new URL renders.
  const [, setHref] = useState(location.href);

  useEffect(() => {
    const on = () => {
      setPg(page());
      setAsOfState(asOfFromUrl());
      setHref(location.href);
    };
    addEventListener('popstate', on);
    const gone = (e: Event) => {
      sessionStorage.removeItem(HOME);
      setToken(null);
      signOutSession();
      setWorkspace(null);
      setMe(null);
      setReason(new ApiError(401, 'unauthorized', 'Signed out: ' + (e as CustomEvent).detail));
    };
    addEventListener('tagd-unauthorized', gone);
    if (hasCredential())
      api<Me>('GET', '/v1/me')
        .then(setMe)
        .catch((e) => {
          setToken(null);
          signOutSession();
          setWorkspace(null);
          if (e instanceof ApiError && e.status !== 401) setReason(e);
        })
        .finally(() => setChecking(false));
    return () => {
      removeEventListener('popstate', on);
      removeEventListener('tagd-unauthorized', gone);
    };
  }, []);

  useEffect(() => {
    if (asOf == null || !me) {
      setAsOfTags(undefined);
      return;
    }
    let live = true;
    setAsOfErr(null);
    tagsAt(asOf)
      .then((m) => live && setAsOfTags(m))
      .catch((e) => live && setAsOfErr(e));
    return () => {
      live = false;
    };
  }, [asOf, me]);

  useEffect(() => {
    const label = PAGES.find(([k]) => k === pg)?.[1] ?? '';
    document.title = (label ? label + ' · ' : '') + 'tagd console';
  }, [pg]);

  const setAsOf = (r: number | null) => {
    const q = new URLSearchParams(location.search);
    if (r == null) q.delete('asof');
    else q.set('asof', String(r));
    const s = q.toString();
    navigate(location.pathname + (s ? '?' + s : ''), true);
  };

  if (checking) return <p class="muted" role="status">Signing in…</p>;
  if (!me)
    return (
      <SignIn
        key={String(reason)}
        reason={reason}
        onSignedIn={(m) => {
              setMe(m);
        }}
      />
    );
  const c = caps(me);
  const signOut = async () => {
    const home = sessionStorage.getItem(HOME);
    if (home) {
      const h = JSON.parse(home);
      api('DELETE', '/v1/tokens/' + h.issued, undefined, homeAuth(h)).catch(() => {});
      sessionStorage.removeItem(HOME);
    }
    // The session ends on the server before the console says signed out.
    if (getCookieSession()) await signOutSession();
    setToken(null);
    setWorkspace(null);
    setMe(null);
  };
  const go = (k: string) => {
    const q = asOf != null ? '?asof=' + asOf : '';
    navigate('/ui/' + k + q);
  };
  const rights = c.admin ? 'admin' : [c.write && 'edit taxonomy', c.assign && 'tag resources', c.read && 'read'].filter(Boolean).join(', ');

  return (
    <>
      <a class="skip" href="#main">Skip to content</a>
      <header class="top">
        <span class="brand">tagd</span>
        <nav aria-label="Console">
          {PAGES.filter(([k]) => k !== 'admin' || c.admin).map(([k, label]) => (
            <a
              key={k}
              href={'/ui/' + k}
              aria-current={pg === k ? 'page' : undefined}
              onClick={(e) => {
                e.preventDefault();
                go(k);
              }}
            >
              {label}
            </a>
          ))}
        </nav>
        <div class="who" aria-label="Signed in as">
          <span class="principal">{me.principal}</span>
          <OrgSwitcher me={me} onSwitched={setMe} />
          <WorkspaceSwitcher me={me} onSwitched={setMe} />
          <span class="org">
            {me.organization.name} / {me.workspace.name}
          </span>
          <span class="rights" title="What this token may do">{rights}</span>
          <button type="button" class="secondary" onClick={signOut}>
            Sign out
          </button>
        </div>
      </header>
      {asOf != null && (
        <div class="banner" role="status">
          Viewing revision {asOf} (read-only).{' '}
          <button type="button" class="link" onClick={() => setAsOf(null)}>
            Back to now
          </button>
          <ErrorText error={asOfErr} />
        </div>
      )}
      <main id="main" tabIndex={-1} key={me.token_id + ' ' + me.workspace.id}>
        {pg === 'tags' && (asOf == null || asOfTags) && <Taxonomy caps={c} asOf={asOf} asOfTags={asOfTags} />}
        {pg === 'groups' && <GroupsView caps={c} />}
        {pg === 'resources' && <ResourcesView caps={c} asOf={asOf} />}
        {pg === 'query' && <QueryView asOf={asOf} />}
        {pg === 'history' && <HistoryView asOf={asOf} setAsOf={setAsOf} workspace={me.workspace} />}
        {pg === 'admin' && c.admin && <AdminView me={me} />}
      </main>
    </>
  );
}

render(<App />, document.getElementById('app')!);
