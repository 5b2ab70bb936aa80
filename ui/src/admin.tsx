// Admin: tokens (issue, shown once, revoke) and users of the signed-in organization.
import { useEffect, useState } from 'preact/hooks';
import { api, Me } from './api';
import { ErrorText, fmtTime } from './ui';

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
          New token, shown once: <code>{secret}</code>
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

function Sources() {
  const [items, setItems] = useState<any[]>([]);
  const [name, setName] = useState('');
  const [url, setUrl] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [reload, setReload] = useState(0);
  useEffect(() => {
    api('GET', '/v1/sources').then((p) => setItems(p.items)).catch(setError);
  }, [reload]);
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
      <table>
        <thead><tr><th scope="col">Name</th><th scope="col">URL</th><th scope="col">Last refresh</th><th scope="col"><span class="sr">Remove</span></th></tr></thead>
        <tbody>
          {items.map((x) => (
            <tr key={x.name}>
              <td>{x.name}{x.origin === 'config' ? ' (config file)' : ''}</td>
              <td class="wrap">{x.url}</td>
              <td>{x.refreshed_at ? fmtTime(x.refreshed_at) : 'never'}{x.last_error ? <span class="error"> {x.last_error}</span> : null}</td>
              <td>{x.origin !== 'config' && <button type="button" class="danger" aria-label={`Remove ${x.name}`} onClick={() => remove(x.name)}>Remove</button>}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

function Links(props: { kind: 'applinks' | 'publiclinks'; title: string }) {
  const [items, setItems] = useState<any[]>([]);
  const [error, setError] = useState<unknown>(null);
  const [reload, setReload] = useState(0);
  useEffect(() => {
    api('GET', '/v1/' + props.kind).then((p) => setItems(p.items)).catch(setError);
  }, [reload]);
  const revoke = async (id: string) => {
    if (!confirm('Revoke this link? Whoever holds it loses access at once.')) return;
    try {
      await api('DELETE', `/v1/${props.kind}/${encodeURIComponent(id)}`);
      setReload(reload + 1);
    } catch (x) {
      setError(x);
    }
  };
  return (
    <section aria-labelledby={props.kind + '-h'}>
      <h2 id={props.kind + '-h'}>{props.title}</h2>
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
  return (
    <div class="admin">
      <p class="muted">
        Organization {props.me.organization.name} ({props.me.organization.id}). Applinks and public links
        are created through the API (docs/api.md); sources are refreshed by <code>POST /tag/refresh</code>.
      </p>
      <div class="cols">
        <Tokens />
        <Users />
        <Sources />
        <div>
          <Links kind="applinks" title="Applinks" />
          <Links kind="publiclinks" title="Public links" />
        </div>
      </div>
    </div>
  );
}
