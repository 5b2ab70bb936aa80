// Admin: tokens (issue, shown once, revoke), users, external sources (refresh and result),
// applinks and public links (create, shown once, revoke) of the signed-in organization.
import { useEffect, useState } from 'preact/hooks';
import { api, Me } from './api';
import { ErrorText, fmtTime } from './ui';

/** A secret the API answers once: shown here, with a button that copies it, and never again. */
function Secret(props: { label: string; value: string }) {
  const [copied, setCopied] = useState<string | null>(null);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(props.value);
      setCopied('Copied.');
    } catch {
      // Without the clipboard (an insecure origin, a refused permission) the text is selectable.
      setCopied('Could not copy: select the text and copy it.');
    }
  };
  return (
    <span class="secretv">
      {props.label}: <code>{props.value}</code>{' '}
      <button type="button" class="secondary" aria-label={'Copy ' + props.label} onClick={copy}>Copy</button>
      {copied && <span class="muted"> {copied}</span>}
    </span>
  );
}

const RIGHTS = ['tags:read', 'tags:write', 'tags:assign', 'admin'];

function Rights(props: { value: string[]; onChange: (v: string[]) => void }) {
  return (
    <fieldset class="rights">
      <legend>Rights</legend>
      {RIGHTS.map((r) => (
        <label key={r} class="check">
          <input
            type="checkbox"
            checked={props.value.includes(r)}
            onChange={(e) =>
              props.onChange((e.target as HTMLInputElement).checked ? props.value.concat(r) : props.value.filter((x) => x !== r))
            }
          />
          {r}
        </label>
      ))}
    </fieldset>
  );
}

function Tokens() {
  const [items, setItems] = useState<any[]>([]);
  const [name, setName] = useState('');
  const [rights, setRights] = useState<string[]>(['tags:read']);
  const [expires, setExpires] = useState('');
  const [secret, setSecret] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [reload, setReload] = useState(0);
  useEffect(() => {
    api('GET', '/v1/tokens?kind=api').then((p) => setItems(p.items)).catch(setError);
  }, [reload]);
  const issue = async (e: Event) => {
    e.preventDefault();
    setError(null);
    try {
      const body: any = { name, rights };
      if (expires) body.expires_at = new Date(expires).toISOString();
      const t = await api('POST', '/v1/tokens', body);
      setSecret(t.token);
      setName('');
      setReload(reload + 1);
    } catch (x) {
      setError(x);
    }
  };
  const revoke = async (id: string) => {
    if (!confirm('Revoke this token? Clients using it stop working at once.')) return;
    try {
      await api('DELETE', '/v1/tokens/' + id);
      setReload(reload + 1);
    } catch (x) {
      setError(x);
    }
  };
  return (
    <section aria-labelledby="tokens-h">
      <h2 id="tokens-h">Tokens</h2>
      <form onSubmit={issue} class="stack">
        <label>
          Name
          <input required value={name} onInput={(e) => setName((e.target as HTMLInputElement).value)} />
        </label>
        <Rights value={rights} onChange={setRights} />
        <label>
          Expires (optional)
          <input type="datetime-local" value={expires} onInput={(e) => setExpires((e.target as HTMLInputElement).value)} />
        </label>
        <ErrorText error={error} />
        <button type="submit">Issue token</button>
      </form>
      {secret && (
        <p class="secret" role="status">
          New token, shown once: <Secret label="token" value={secret} />
        </p>
      )}
      <table>
        <thead><tr><th scope="col">Name</th><th scope="col">Rights</th><th scope="col">Created</th><th scope="col">Expires</th><th scope="col"><span class="sr">Revoke</span></th></tr></thead>
        <tbody>
          {items.filter((t) => !t.revoked_at).map((t) => (
            <tr key={t.id}>
              <td>{t.name}</td>
              <td>{Array.isArray(t.rights) ? t.rights.join(', ') : t.rights}</td>
              <td>{t.created_at ? fmtTime(t.created_at) : ''}</td>
              <td>{t.expires_at ? fmtTime(t.expires_at) : 'never'}</td>
              <td><button type="button" class="danger" aria-label={`Revoke ${t.name}`} onClick={() => revoke(String(t.id))}>Revoke</button></td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

function Users() {
  const [items, setItems] = useState<any[]>([]);
  const [login, setLogin] = useState('');
  const [password, setPassword] = useState('');
  const [rights, setRights] = useState<string[]>(['tags:read']);
  const [error, setError] = useState<unknown>(null);
  const [reload, setReload] = useState(0);
  useEffect(() => {
    api('GET', '/v1/users').then((p) => setItems(p.items)).catch(setError);
  }, [reload]);
  const create = async (e: Event) => {
    e.preventDefault();
    setError(null);
    try {
      await api('POST', '/v1/users', { login, password, rights });
      setLogin('');
      setPassword('');
      setReload(reload + 1);
    } catch (x) {
      setError(x);
    }
  };
  return (
    <section aria-labelledby="users-h">
      <h2 id="users-h">Users</h2>
      <form onSubmit={create} class="stack">
        <label>
          Login
          <input required value={login} onInput={(e) => setLogin((e.target as HTMLInputElement).value)} />
        </label>
        <label>
          Password (8 characters or more)
          <input type="password" autoComplete="new-password" required value={password} onInput={(e) => setPassword((e.target as HTMLInputElement).value)} />
        </label>
        <Rights value={rights} onChange={setRights} />
        <ErrorText error={error} />
        <button type="submit">Create user</button>
      </form>
      <table>
        <thead><tr><th scope="col">Login</th><th scope="col">Rights</th><th scope="col">Created</th></tr></thead>
        <tbody>
          {items.map((u) => (
            <tr key={u.id}>
              <td>{u.login}</td>
              <td>{Array.isArray(u.rights) ? u.rights.join(', ') : u.rights}</td>
              <td>{u.created_at ? fmtTime(u.created_at) : ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

/** A refresh's answer for one source in words: its counts, or why it failed. */
function RefreshResult({ r }: { r: any }) {
  if (!r.ok) return <span class="error">Refresh failed: {r.error}</span>;
  const c = r.conflicts && r.conflicts.length ? r.conflicts : null;
  return (
    <span>
      Refreshed: {r.created} created, {r.updated} updated, {r.deleted} deleted, {r.unchanged} unchanged
      {c && `; left alone (held by curated tags or another source): ${c.join(', ')}`}.
    </span>
  );
}

function Sources(props: { canRefresh: boolean }) {
  const [items, setItems] = useState<any[]>([]);
  const [name, setName] = useState('');
  const [url, setUrl] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [reload, setReload] = useState(0);
  // The last refresh's answer per source name, shown beside it until the page is left.
  const [results, setResults] = useState<Record<string, any>>({});
  const [busy, setBusy] = useState<string | null>(null);
  const [refreshError, setRefreshError] = useState<unknown>(null);
  useEffect(() => {
    api('GET', '/v1/sources').then((p) => setItems(p.items)).catch(setError);
  }, [reload]);
  // One source (its result alone) or all of them ({items}); a source that fails is ok: false in
  // a 200, an HTTP error (the source gone, rights lost) is shown above the table.
  const refresh = async (n: string | null) => {
    setBusy(n ?? '*');
    setRefreshError(null);
    try {
      const out = await api('POST', n ? `/v1/sources/${encodeURIComponent(n)}:refresh` : '/v1/sources:refresh');
      const got: Record<string, any> = {};
      for (const r of n ? [out] : out.items) got[r.name] = r;
      setResults((old) => ({ ...old, ...got }));
    } catch (x) {
      setRefreshError(x);
    } finally {
      setBusy(null);
      setReload((v) => v + 1);
    }
  };
  const add = async (e: Event) => {
    e.preventDefault();
    setError(null);
    try {
      await api('POST', '/v1/sources', { name, url });
      setName('');
      setUrl('');
      setReload(reload + 1);
    } catch (x) {
      setError(x);
    }
  };
  const remove = async (n: string) => {
    if (!confirm(`Remove the source ${n}? Its tags stay.`)) return;
    try {
      await api('DELETE', '/v1/sources/' + encodeURIComponent(n));
      setReload(reload + 1);
    } catch (x) {
      setError(x);
    }
  };
  return (
    <section aria-labelledby="sources-h">
      <h2 id="sources-h">External tag sources</h2>
      <form onSubmit={add} class="stack">
        <label>
          Name (becomes the tags' source)
          <input required value={name} onInput={(e) => setName((e.target as HTMLInputElement).value)} />
        </label>
        <label>
          URL or file path
          <input required value={url} onInput={(e) => setUrl((e.target as HTMLInputElement).value)} />
        </label>
        <ErrorText error={error} />
        <button type="submit">Add source</button>
      </form>
      {props.canRefresh && items.length > 0 && (
        <p>
          <button type="button" class="secondary" disabled={busy !== null} onClick={() => refresh(null)}>
            {busy === '*' ? 'Refreshing all…' : 'Refresh all'}
          </button>
        </p>
      )}
      <ErrorText error={refreshError} />
      <table>
        <thead><tr><th scope="col">Name</th><th scope="col">URL</th><th scope="col">Last refresh</th>{props.canRefresh && <th scope="col"><span class="sr">Refresh</span></th>}<th scope="col"><span class="sr">Remove</span></th></tr></thead>
        <tbody>
          {items.map((x) => (
            <tr key={x.name}>
              <td>{x.name}{x.origin === 'config' ? ' (config file)' : ''}</td>
              <td class="wrap">{x.url}</td>
              <td>
                {x.refreshed_at ? fmtTime(x.refreshed_at) : 'never'}
                {x.last_error && !results[x.name] ? <span class="error"> {x.last_error}</span> : null}
                <div role="status" aria-label={`Refresh of ${x.name}`}>{results[x.name] && <RefreshResult r={results[x.name]} />}</div>
              </td>
              {props.canRefresh && (
                <td><button type="button" class="secondary" disabled={busy !== null} aria-label={`Refresh ${x.name}`} onClick={() => refresh(x.name)}>{busy === x.name ? 'Refreshing…' : 'Refresh'}</button></td>
              )}
              <td>{x.origin !== 'config' && <button type="button" class="danger" aria-label={`Remove ${x.name}`} onClick={() => remove(x.name)}>Remove</button>}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

// Applinks and public links (docs/dialects/oracle.md): a link reaches one resource (a folder
// and what is below it, or a file) with a role. The API answers an applink's access token, and
// a public link's id (which is the link), once on creation; lists never hold a token.
function Links(props: { kind: 'applinks' | 'publiclinks'; title: string }) {
  const pub = props.kind === 'publiclinks';
  const what = pub ? 'public link' : 'applink';
  const [items, setItems] = useState<any[]>([]);
  const [error, setError] = useState<unknown>(null);
  const [formError, setFormError] = useState<unknown>(null);
  const [reload, setReload] = useState(0);
  const [rkind, setRkind] = useState('folder');
  const [rkey, setRkey] = useState('');
  const [role, setRole] = useState('viewer');
  const [expires, setExpires] = useState('');
  const [code, setCode] = useState('');
  const [created, setCreated] = useState<any>(null);
  useEffect(() => {
    api('GET', '/v1/' + props.kind).then((p) => setItems(p.items)).catch(setError);
  }, [reload]);
  const create = async (e: Event) => {
    e.preventDefault();
    setFormError(null);
    try {
      const body: any = { resource: { kind: rkind, key: rkey }, role };
      if (expires) body.expires_at = new Date(expires).toISOString();
      if (pub && code) body.access_code = code;
      setCreated(await api('POST', '/v1/' + props.kind, body));
      setRkey('');
      setCode('');
      setReload((v) => v + 1);
    } catch (x) {
      setFormError(x);
    }
  };
  const revoke = async (id: string) => {
    if (!confirm('Revoke this link? Whoever holds it loses access at once.')) return;
    try {
      await api('DELETE', `/v1/${props.kind}/${encodeURIComponent(id)}`);
      if (created && created.id === id) setCreated(null);
      setReload((v) => v + 1);
    } catch (x) {
      setError(x);
    }
  };
  const h = props.kind + '-h';
  return (
    <section aria-labelledby={h}>
      <h2 id={h}>{props.title}</h2>
      <form onSubmit={create} class="stack" aria-label={'New ' + what}>
        <label>
          Resource kind
          <select value={rkind} onChange={(e) => setRkind((e.target as HTMLSelectElement).value)}>
            <option value="folder">folder</option>
            <option value="file">file</option>
          </select>
        </label>
        <label>
          Resource key
          <input required value={rkey} onInput={(e) => setRkey((e.target as HTMLInputElement).value)} />
        </label>
        <label>
          Role
          <select value={role} onChange={(e) => setRole((e.target as HTMLSelectElement).value)}>
            <option value="viewer">viewer</option>
            <option value="contributor">contributor</option>
          </select>
        </label>
        <label>
          Expires (optional)
          <input type="datetime-local" value={expires} onInput={(e) => setExpires((e.target as HTMLInputElement).value)} />
        </label>
        {pub && (
          <label>
            Access code (optional, 8 to 50 characters)
            <input type="password" autoComplete="new-password" value={code} onInput={(e) => setCode((e.target as HTMLInputElement).value)} />
          </label>
        )}
        <ErrorText error={formError} />
        <button type="submit">Create {what}</button>
      </form>
      {created && (
        <p class="secret" role="status">
          New {what} to {created.resource.kind}/{created.resource.key}, shown once:{' '}
          <Secret label={pub ? 'link id' : 'applink id'} value={created.id} />
          {created.access_token && <> <Secret label="access token" value={created.access_token} /></>}
        </p>
      )}
      <ErrorText error={error} />
      {items.length === 0 ? <p class="muted">none</p> : (
        <table>
          <thead><tr><th scope="col">Id</th><th scope="col">Resource</th><th scope="col">Role</th><th scope="col">Expires</th><th scope="col"><span class="sr">Revoke</span></th></tr></thead>
          <tbody>
            {items.map((l) => (
              <tr key={l.id}>
                <td><code>{l.id}</code></td>
                <td>{l.resource ? `${l.resource.kind}/${l.resource.key}` : ''}</td>
                <td>{l.role}{l.protected ? ', protected' : ''}</td>
                <td>{l.expires_at ? fmtTime(l.expires_at) : 'never'}</td>
                <td><button type="button" class="danger" aria-label={`Revoke ${l.id}`} onClick={() => revoke(l.id)}>Revoke</button></td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

export function AdminView(props: { me: Me }) {
  // Refreshing (like every /v1/sources call) takes the admin right: the page is an admin's, but
  // the check stays here so the buttons follow the rule if the page opens to others.
  const canRefresh = props.me.rights.includes('admin');
  return (
    <div class="admin">
      <p class="muted">
        Organization {props.me.organization.name} ({props.me.organization.id}).
      </p>
      <div class="cols">
        <Tokens />
        <Users />
        <Sources canRefresh={canRefresh} />
        <div>
          <Links kind="applinks" title="Applinks" />
          <Links kind="publiclinks" title="Public links" />
        </div>
      </div>
    </div>
  );
}
