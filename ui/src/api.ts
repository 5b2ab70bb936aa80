// The native API (/v1, docs/api.md) as the console uses it: same origin, a bearer token or
// the session cookie of a sign-in with login and password (POST /v1/sessions), and the
// workspace chosen in the header (X-Tagd-Workspace) on every request.

export interface Me {
  principal: string;
  kind: string;
  token_id: string;
  rights: string[];
  installation_admin: boolean;
  organization: { id: string; name: string };
  workspace: { id: string; name: string };
  /** Every workspace of the organization (X-Tagd-Workspace reaches each). */
  workspaces?: { id: string; name: string; default: boolean }[];
  expires_at: string | null;
}

export interface Tag {
  id: number;
  name: string;
  display_name: string;
  parent_id: number | null;
  color: string | null;
  description: string | null;
  l10n?: Record<string, string> | null;
  source: string;
  protected: boolean;
  archived: boolean;
  deleted: boolean;
  group_id: number | null;
  version: number;
  created_by?: string;
  updated_at?: string;
  /** Only in GET /v1/tags?counts=true: resources carrying it directly, and with its subtree. */
  usage?: { resources: number; subtree: number };
}

export interface Resource {
  id: number;
  kind: string;
  key: string;
  name: string | null;
  parent: { kind: string; key: string } | null;
  archived: boolean;
  version: number;
}

export interface TagOnResource {
  tag_id: number;
  name: string;
  display_name: string;
  color: string | null;
  context: string | null;
  added_by: string;
  added_at: string;
  inherited_from: { kind: string; key: string } | null;
}

export interface Change {
  revision: number;
  seq: number;
  at: string;
  principal: string;
  entity: string;
  entity_id: number;
  op: string;
  /** The API the change came through (native, easydb …, system); null on old records. */
  api: string | null;
  before: any;
  after: any;
}

export interface Page<T> {
  items: T[];
  next_cursor?: string | null;
  total?: number;
  /** Set when the page was read as of a past revision (the as_of parameter). */
  as_of?: { revision: number; at: string };
}

/** An error the API answered, in words, with the field (and query column) it names. */
export class ApiError extends Error {
  constructor(
    public status: number,
    public code: string,
    message: string,
    public field?: string,
    public column?: number,
  ) {
    super(message);
  }
}

const KEY = 'tagd.token';
const SESSION = 'tagd.session';
const WS = 'tagd.workspace';
let token: string | null = sessionStorage.getItem(KEY);
// Signed in with login and password: the credential is an HttpOnly cookie this script never
// sees; this only remembers, for this tab, that there is one to try.
let cookieSession = sessionStorage.getItem(SESSION) === '1';
let workspace: string | null = sessionStorage.getItem(WS);
/** The newest revision any answer named (X-Tagd-Revision). */
export let lastRevision = 0;

export function setToken(t: string | null) {
  token = t;
  if (t) sessionStorage.setItem(KEY, t);
  else sessionStorage.removeItem(KEY);
}
export function getToken() {
  return token;
}

/** Whether this tab holds a credential to try: a token, or a session cookie. */
export function hasCredential() {
  return !!token || cookieSession;
}

export function setCookieSession(on: boolean) {
  cookieSession = on;
  if (on) sessionStorage.setItem(SESSION, '1');
  else sessionStorage.removeItem(SESSION);
}
export function getCookieSession() {
  return cookieSession;
}

/** The workspace every request acts in (null: the organization's default). */
export function setWorkspace(id: string | null) {
  workspace = id;
  if (id) sessionStorage.setItem(WS, id);
  else sessionStorage.removeItem(WS);
}
export function getWorkspace() {
  return workspace;
}

/** The headers of the console's credential and workspace. */
export function authHeaders(): Record<string, string> {
  const h: Record<string, string> = {};
  if (token) h['Authorization'] = 'Bearer ' + token;
  if (workspace) h['X-Tagd-Workspace'] = workspace;
  return h;
}

/** Signs in with a user's login and password: the session comes back as a cookie only. */
export async function signInWithPassword(login: string, password: string, organization: string) {
  const body: Record<string, unknown> = { login, password, cookie: true };
  if (organization.trim()) body.organization = organization.trim();
  setToken(null);
  await api('POST', '/v1/sessions', body);
  setCookieSession(true);
}

/** Ends a session of login and password (the server revokes it and clears the cookie). The
 * tab forgets it first, so that a refusal (it had ended already) signs nothing out twice. */
export async function signOutSession() {
  if (!cookieSession) return;
  setCookieSession(false);
  // With the cookie, whatever token the tab uses meanwhile (an organization switch's).
  await api('DELETE', '/v1/sessions/current', undefined, { Authorization: '' }).catch(() => {});
}

export async function api<T = any>(
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<T> {
  const h: Record<string, string> = { ...authHeaders(), ...headers };
  if (h['Authorization'] === '') delete h['Authorization'];
  if (body !== undefined) h['Content-Type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      headers: h,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw new ApiError(0, 'network', 'tagd cannot be reached: ' + String(e));
  }
  const rev = Number(res.headers.get('X-Tagd-Revision') || 0);
  if (rev > lastRevision) lastRevision = rev;
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  let data: any = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    /* not JSON: reported below */
  }
  if (!res.ok) {
    const e = data && data.error;
    // The token was revoked or expired while signed in: the console signs out (main.tsx).
    if (res.status === 401 && (token || cookieSession) && path !== '/v1/me' && path !== '/v1/sessions')
      dispatchEvent(new CustomEvent('tagd-unauthorized', { detail: e ? e.message : 'unauthorized' }));
    throw new ApiError(
      res.status,
      e ? e.code : 'http_' + res.status,
      e ? e.message : `HTTP ${res.status}`,
      e && e.details ? e.details.field : undefined,
      e && e.details ? e.details.column : undefined,
    );
  }
  return data as T;
}

export const enc = encodeURIComponent;

export function resPath(kind: string, key: string) {
  return `/v1/resources/${enc(kind)}/${enc(key)}`;
}

/** Every page of a list, handing each to `onPage` as it arrives. */
export async function allPages<T>(
  path: string,
  onPage: (items: T[], total: number | undefined) => void,
  isCancelled: () => boolean = () => false,
) {
  let cursor: string | null | undefined = null;
  const sep = path.includes('?') ? '&' : '?';
  do {
    const p: Page<T> = await api('GET', path + sep + 'limit=1000' + (cursor ? '&cursor=' + enc(cursor) : ''));
    if (isCancelled()) return;
    onPage(p.items, p.total);
    cursor = p.next_cursor;
  } while (cursor);
}

/** A change as the event stream sends it (its time in ms, at_ms). */
interface StreamedChange extends Omit<Change, 'at'> {
  at_ms: number;
}

/**
 * Follows GET /v1/events (Server-Sent Events, docs/events.md) with the console's credential
 * and workspace, which the browser's EventSource cannot send as headers, handing each change
 * to `onChange`. Resolves when the stream ends (the server said so, or the connection went);
 * rejects when it cannot start. `signal` stops it.
 */
export async function followEvents(
  query: string,
  onChange: (c: Change) => void,
  signal: AbortSignal,
): Promise<string> {
  const res = await fetch('/v1/events' + query, { headers: authHeaders(), signal });
  if (!res.ok || !res.body) throw new ApiError(res.status, 'http_' + res.status, `the event stream answered ${res.status}`);
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return 'closed';
      buf += value.replace(/\r\n?/g, '\n');
      let i: number;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        let event = 'message';
        let data = '';
        for (const line of block.split('\n')) {
          if (line.startsWith(':')) continue;
          const c = line.indexOf(':');
          const k = c < 0 ? line : line.slice(0, c);
          const v = c < 0 ? '' : line.slice(c + 1).replace(/^ /, '');
          if (k === 'event') event = v;
          else if (k === 'data') data += (data ? '\n' : '') + v;
        }
        if (event === 'end') return data;
        if (event === 'change' && data) {
          const s = JSON.parse(data) as StreamedChange;
          const { at_ms, ...rest } = s;
          onChange({ ...rest, at: new Date(at_ms).toISOString() });
        }
      }
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}
