// History: the change feed (newest first) of the workspace chosen in the header, filtered by
// tag, resource and principal on the server (GET /v1/changes), followed live through the
// event stream (GET /v1/events; polling when the stream cannot be had), and the state as of a
// past revision. tagd answers reads as of a revision or a time itself (the as_of parameter,
// docs/api.md): the console asks it, it never rebuilds the past.
import { useEffect, useRef, useState } from 'preact/hooks';
import { allPages, api, ApiError, Change, enc, followEvents, Page, resPath, Tag } from './api';
import { ErrorText, fmtTime } from './ui';

/** The live (not deleted) tags as of revision `rev`; revision 0 (before anything) has none. */
export async function tagsAt(rev: number): Promise<Map<number, Tag>> {
  const m = new Map<number, Tag>();
  if (rev <= 0) return m;
  await allPages<Tag>('/v1/tags?as_of=' + rev, (items) => {
    for (const t of items) m.set(t.id, t);
  });
  return m;
}

/** The newest revision committed at or before `ms` (0 when none was: tagd answers 404). */
export async function revisionAt(ms: number): Promise<number> {
  try {
    const p = await api<Page<Tag>>('GET', '/v1/tags?limit=1&as_of=' + encodeURIComponent(new Date(ms).toISOString()));
    return p.as_of ? p.as_of.revision : 0;
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) return 0;
    throw e;
  }
}

/** Names of tags and resources by id, from the records seen (the newest spelling wins). */
interface Names {
  tags: Map<number, string>;
  res: Map<number, string>;
}

function learn(n: Names, cs: Change[]) {
  for (const c of cs) {
    const d = c.after || c.before;
    if (!d) continue;
    if (c.entity === 'tag' && d.name) n.tags.set(c.entity_id, d.name);
    if (c.entity === 'resource' && d.kind) n.res.set(c.entity_id, `${d.kind}/${d.key}`);
  }
}

function describe(c: Change, n: Names): string {
  const d = c.after || c.before || {};
  switch (c.entity) {
    case 'tag':
      if (c.before && c.after && c.before.name !== c.after.name)
        return `tag ${c.before.name} → ${c.after.name}`;
      return `tag ${d.name ?? c.entity_id}`;
    case 'resource':
      return `resource ${d.kind ?? ''}/${d.key ?? c.entity_id}`;
    case 'assignment':
      return `${n.tags.get(d.tag_id) ?? 'tag #' + d.tag_id} on ${n.res.get(d.resource_id) ?? 'resource #' + d.resource_id}`;
    default:
      return `${c.entity} ${d.name ?? d.login ?? c.entity_id}`;
  }
}

/** The server-side filters as typed. */
interface Filters {
  tag: string;
  resource: string;
  principal: string;
}
const NO_FILTERS: Filters = { tag: '', resource: '', principal: '' };

/** The filters as query parameters of /v1/changes and /v1/events ('' for none); a resource
 * typed as kind/key is looked up for its id. */
async function filterQuery(f: Filters): Promise<string> {
  const q: string[] = [];
  if (f.tag.trim()) q.push('tag=' + enc(f.tag.trim()));
  if (f.principal.trim()) q.push('principal=' + enc(f.principal.trim()));
  const r = f.resource.trim();
  if (r) {
    const slash = r.indexOf('/');
    if (/^\d+$/.test(r)) q.push('resource=' + r);
    else if (slash <= 0 || slash === r.length - 1)
      throw new ApiError(400, 'invalid_input', 'A resource is kind/key, e.g. folder/finance', 'resource');
    else q.push('resource=' + (await api<{ id: number }>('GET', resPath(r.slice(0, slash), r.slice(slash + 1)))).id);
  }
  return q.join('&');
}

type Mode = 'loading' | 'live' | 'polling' | 'paused';
const MODE_TEXT: Record<Mode, string> = {
  loading: 'Loading…',
  live: 'Live: new changes appear as they are made',
  polling: 'Polling every 5 s (no event stream)',
  paused: 'Paused',
};

export function HistoryView(props: {
  asOf: number | null;
  setAsOf: (r: number | null) => void;
  /** The workspace chosen in the header: the change log is the organization's, and tagd
   * keeps only this workspace's records (the workspace filter). */
  workspace: { id: string; name: string };
}) {
  const [items, setItems] = useState<Change[]>([]);
  const [head, setHead] = useState(0);
  const [filter, setFilter] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [rev, setRev] = useState(String(props.asOf ?? ''));
  const [when, setWhen] = useState('');
  const [draft, setDraft] = useState<Filters>(NO_FILTERS);
  const [applied, setApplied] = useState('');
  const [filterError, setFilterError] = useState<unknown>(null);
  const [follow, setFollow] = useState(true);
  const [mode, setMode] = useState<Mode>('loading');
  const names = useRef<Names>({ tags: new Map(), res: new Map() }).current;

  useEffect(() => {
    let live = true;
    let since = 0;
    let timer: ReturnType<typeof setInterval> | undefined;
    const ctl = new AbortController();
    const fq = '&workspace=' + enc(props.workspace.id) + (applied ? '&' + applied : '');
    setItems([]);
    setError(null);
    setMode('loading');
    const add = (cs: Change[]) => {
      learn(names, cs);
      setItems((old) => cs.slice().reverse().concat(old));
    };
    // Everything after `since`, page by page; a filtered page may be empty with next_since
    // past what the server skipped, so the end is where next_since stays put.
    const catchUp = async () => {
      try {
        const all: Change[] = [];
        for (;;) {
          const p = await api<{ items: Change[]; next_since: number }>('GET', `/v1/changes?since=${since}&limit=1000${fq}`);
          if (!live) return;
          all.push(...p.items);
          const end = p.next_since === since;
          since = p.next_since;
          if (end) break;
        }
        if (all.length) add(all);
        setHead((h) => Math.max(h, since));
      } catch (e) {
        if (live) setError(e);
      }
    };
    const poll = () => {
      setMode('polling');
      timer = setInterval(catchUp, 5000);
    };
    // The stream resumes exactly after the last record it gave (its id), across reconnects.
    const stream = async () => {
      let last = String(since);
      for (let tries = 0; live; ) {
        try {
          setMode('live');
          const why = await followEvents(`?since=${last}${fq}`, (c) => {
            if (!live) return;
            last = `${c.revision}-${c.seq}`;
            since = Math.max(since, c.revision);
            add([c]);
            setHead((h) => Math.max(h, c.revision));
          }, ctl.signal);
          // The server ended it: signed out (stop), or lagging or shutting down (go on from
          // where it says, or from the last record had).
          let end: { reason?: string; resume?: string } = {};
          try {
            end = JSON.parse(why);
          } catch {
            /* the connection went: no last words */
          }
          if (end.reason === 'unauthorized') {
            setMode('paused');
            return;
          }
          if (end.resume) last = end.resume;
          tries = 0;
          await new Promise((r) => setTimeout(r, 500));
        } catch (e) {
          if (!live) return;
          if (++tries >= 3) {
            poll();
            return;
          }
          await new Promise((r) => setTimeout(r, 1000));
        }
      }
    };
    catchUp().then(() => {
      if (!live) return;
      if (!follow) setMode('paused');
      else if (typeof TextDecoderStream === 'undefined') poll();
      else stream();
    });
    return () => {
      live = false;
      ctl.abort();
      if (timer) clearInterval(timer);
    };
  }, [applied, follow, props.workspace.id]);

  const applyFilters = async (e: Event) => {
    e.preventDefault();
    setFilterError(null);
    try {
      setApplied(await filterQuery(draft));
    } catch (x) {
      setFilterError(x);
    }
  };
  const field = (k: keyof Filters) => ({
    value: draft[k],
    onInput: (e: Event) => setDraft({ ...draft, [k]: (e.target as HTMLInputElement).value }),
  });

  const f = filter.trim().toLowerCase();
  const shown = (f
    ? items.filter((c) => (c.principal + ' ' + c.entity + ' ' + c.op + ' ' + describe(c, names)).toLowerCase().includes(f))
    : items
  ).slice(0, 500);

  return (
    <section aria-label="History">
      <form
        class="toolbar asof"
        onSubmit={(e) => {
          e.preventDefault();
          const n = Number(rev);
          props.setAsOf(rev.trim() && n >= 0 ? Math.min(n, head || n) : null);
        }}
      >
        <label>
          View as of revision
          <input type="number" min="0" max={head || undefined} value={rev} onInput={(e) => setRev((e.target as HTMLInputElement).value)} />
        </label>
        <input
          type="range"
          aria-label="Revision"
          min="0"
          max={head}
          value={rev || head}
          onInput={(e) => setRev((e.target as HTMLInputElement).value)}
        />
        <button type="submit">Travel</button>
        <label>
          or as of a time
          <input
            type="datetime-local"
            step="1"
            value={when}
            onChange={async (e) => {
              const v = (e.target as HTMLInputElement).value;
              setWhen(v);
              if (!v) return;
              try {
                const r = await revisionAt(new Date(v).getTime());
                setRev(String(r));
                props.setAsOf(r);
              } catch (x) {
                setError(x);
              }
            }}
          />
        </label>
        {props.asOf != null && (
          <button type="button" class="secondary" onClick={() => { setRev(''); props.setAsOf(null); }}>
            Back to now
          </button>
        )}
      </form>
      <form class="toolbar" aria-label="Filter the history" onSubmit={applyFilters}>
        <label>
          Tag
          <input placeholder="PII or PII.*" {...field('tag')} />
        </label>
        <label>
          Resource
          <input placeholder="folder/finance" {...field('resource')} />
        </label>
        <label>
          Principal
          <input placeholder="alice" {...field('principal')} />
        </label>
        <button type="submit">Filter</button>
        {applied && (
          <button
            type="button"
            class="secondary"
            onClick={() => {
              setDraft(NO_FILTERS);
              setFilterError(null);
              setApplied('');
            }}
          >
            Clear filters
          </button>
        )}
        <label class="check">
          <input type="checkbox" checked={follow} onChange={(e) => setFollow((e.target as HTMLInputElement).checked)} />
          Live
        </label>
        <span class="muted" role="status">{MODE_TEXT[mode]}</span>
      </form>
      <ErrorText error={filterError} />
      <div class="toolbar">
        <label class="grow">
          <span class="sr">Filter the changes</span>
          <input type="search" placeholder="Filter by tag, resource, principal, operation" value={filter} onInput={(e) => setFilter((e.target as HTMLInputElement).value)} />
        </label>
        <span class="muted">
          workspace {props.workspace.name}, newest revision {head}
        </span>
      </div>
      <ErrorText error={error} />
      <table class="changes">
        <caption class="sr">Changes in workspace {props.workspace.name}, newest first</caption>
        <thead>
          <tr><th scope="col">Rev</th><th scope="col">When</th><th scope="col">Who</th><th scope="col">API</th><th scope="col">What</th><th scope="col">Change</th><th scope="col"><span class="sr">Travel</span></th></tr>
        </thead>
        <tbody>
          {shown.map((c) => (
            <tr key={c.revision + '.' + c.seq}>
              <td>{c.revision}</td>
              <td>{fmtTime(c.at)}</td>
              <td>{c.principal}</td>
              <td>{c.api ?? ''}</td>
              <td>{c.op}</td>
              <td>{describe(c, names)}</td>
              <td>
                <button type="button" class="link" aria-label={`View as of revision ${c.revision}`} onClick={() => { setRev(String(c.revision)); props.setAsOf(c.revision); }}>
                  as of
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
