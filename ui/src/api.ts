// The native API (/v1, docs/api.md) as the console uses it: same origin, bearer token.

export interface Me {
  principal: string;
  kind: string;
  token_id: string;
  rights: string[];
  installation_admin: boolean;
  organization: { id: string; name: string };
  workspace: { id: string; name: string };
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
let token: string | null = sessionStorage.getItem(KEY);
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

export async function api<T = any>(
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<T> {
  const h: Record<string, string> = { ...headers };
  if (token && !h['Authorization']) h['Authorization'] = 'Bearer ' + token;
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
    if (res.status === 401 && token && path !== '/v1/me')
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
