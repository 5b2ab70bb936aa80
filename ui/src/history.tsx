// History: the change feed (newest first, polled for new changes) and the state as of a past
// revision. tagd answers reads as of a revision or a time itself (the as_of parameter,
// docs/api.md): the console asks it, it never rebuilds the past.
import { useEffect, useRef, useState } from 'preact/hooks';
import { allPages, api, ApiError, Change, Page, Tag } from './api';
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

export function HistoryView(props: {
  asOf: number | null;
  setAsOf: (r: number | null) => void;
}) {
  const [items, setItems] = useState<Change[]>([]);
  const [head, setHead] = useState(0);
  const [filter, setFilter] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [rev, setRev] = useState(String(props.asOf ?? ''));
  const [when, setWhen] = useState('');
  const names = useRef<Names>({ tags: new Map(), res: new Map() }).current;

  useEffect(() => {
    let live = true;
    let since = 0;
    const poll = async () => {
      try {
        const all: Change[] = [];
        for (;;) {
          const p = await api<{ items: Change[]; next_since: number }>(
            'GET',
            `/v1/changes?since=${since}&limit=1000`,
          );
          if (!live) return;
          if (!p.items.length) break;
          all.push(...p.items);
          since = p.next_since;
        }
        if (all.length) {
          learn(names, all);
          setItems((old) => all.reverse().concat(old));
          setHead(since);
        }
      } catch (e) {
        if (live) setError(e);
      }
    };
    poll();
    // New changes appear by polling (tagd has no event stream yet).
    const timer = setInterval(poll, 5000);
    return () => {
      live = false;
      clearInterval(timer);
    };
  }, []);

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
      <div class="toolbar">
        <label class="grow">
          <span class="sr">Filter the changes</span>
          <input type="search" placeholder="Filter by tag, resource, principal, operation" value={filter} onInput={(e) => setFilter((e.target as HTMLInputElement).value)} />
        </label>
        <span class="muted">newest revision {head}</span>
      </div>
      <ErrorText error={error} />
      <table class="changes">
        <caption class="sr">Changes, newest first</caption>
        <thead>
          <tr><th scope="col">Rev</th><th scope="col">When</th><th scope="col">Who</th><th scope="col">What</th><th scope="col">Change</th><th scope="col"><span class="sr">Travel</span></th></tr>
        </thead>
        <tbody>
          {shown.map((c) => (
            <tr key={c.revision + '.' + c.seq}>
              <td>{c.revision}</td>
              <td>{fmtTime(c.at)}</td>
              <td>{c.principal}</td>
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
