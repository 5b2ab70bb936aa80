// Resources by kind, one resource's direct and effective tags (each inherited one with the
// ancestor it comes from), adding tags with autocomplete and removing them.
import { useEffect, useState } from 'preact/hooks';
import { api, enc, Page, resPath, Resource, Tag, TagOnResource } from './api';
import { ErrorText, navigate, Swatch } from './ui';
import type { Caps } from './main';

function params() {
  return new URLSearchParams(location.search);
}

export function ResourcesView(props: { caps: Caps; asOf: number | null }) {
  const p = params();
  const [kind, setKind] = useState(p.get('kind') || '');
  const [kinds, setKinds] = useState<string[]>([]);
  const [list, setList] = useState<Resource[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [total, setTotal] = useState<number | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [picked, setPicked] = useState<Map<number, Resource>>(new Map());
  const selKind = p.get('kind');
  const selKey = p.get('key');
  const parent = p.get('parent') || '';

  const load = async (more: boolean) => {
    setError(null);
    try {
      const q = new URLSearchParams();
      if (kind) q.set('kind', kind);
      if (parent) q.set('parent', parent);
      q.set('limit', '100');
      if (more && cursor) q.set('cursor', cursor);
      if (props.asOf != null) q.set('as_of', String(props.asOf)); // the resources of then
      const pg = await api<Page<Resource>>('GET', '/v1/resources?' + q);
      setList(more ? list.concat(pg.items) : pg.items);
      setCursor(pg.next_cursor || null);
      setTotal(pg.total ?? null);
      if (!kind) setKinds((k) => Array.from(new Set(k.concat(pg.items.map((r) => r.kind)))).sort());
    } catch (e) {
      setError(e);
    }
  };
  useEffect(() => {
    load(false);
  }, [kind, parent, props.asOf]);

  const open = (r: { kind: string; key: string }) => {
    const q = new URLSearchParams(location.search);
    q.set('kind', r.kind);
    q.set('key', r.key);
    navigate('/ui/resources?' + q);
  };

  return (
    <section class="split" aria-label="Resources">
      <div class="pane">
        <div class="toolbar">
          <label>
            Kind
            <input list="kinds" value={kind} placeholder="any" onChange={(e) => setKind((e.target as HTMLInputElement).value.trim())} />
            <datalist id="kinds">
              {kinds.map((k) => <option key={k} value={k} />)}
            </datalist>
          </label>
          {parent && (
            <span>
              children of <code>{parent}</code>{' '}
              <button type="button" class="link" onClick={() => navigate('/ui/resources')}>show all</button>
            </span>
          )}
        </div>
        <p class="muted" aria-live="polite">{total != null ? `${total} resources` : ''}</p>
        <ErrorText error={error} />
        {props.caps.assign && props.asOf == null && picked.size > 0 && (
          <BulkBar picked={[...picked.values()]} onDone={() => setPicked(new Map())} />
        )}
        <ul class="reslist" aria-label="Resources">
          {list.map((r) => (
            <li key={r.id} class={props.caps.assign && props.asOf == null ? 'pickable' : ''}>
              {props.caps.assign && props.asOf == null && (
                <input
                  type="checkbox"
                  aria-label={`Select ${r.kind}/${r.key}`}
                  checked={picked.has(r.id)}
                  onChange={(e) => {
                    const m = new Map(picked);
                    if ((e.target as HTMLInputElement).checked) m.set(r.id, r);
                    else m.delete(r.id);
                    setPicked(m);
                  }}
                />
              )}
              <button
                type="button"
                class={'item' + (r.kind === selKind && r.key === selKey ? ' selected' : '')}
                aria-current={r.kind === selKind && r.key === selKey ? 'true' : undefined}
                onClick={() => open(r)}
              >
                <span class="badge">{r.kind}</span> {r.name || r.key}
              </button>
            </li>
          ))}
        </ul>
        {cursor && <button type="button" class="secondary" onClick={() => load(true)}>More</button>}
      </div>
      <div class="pane detail">
        {selKind && selKey ? (
          <ResourceDetail key={selKind + '/' + selKey + '@' + props.asOf} kind={selKind} rkey={selKey} caps={props.caps} asOf={props.asOf} open={open} />
        ) : (
          <p class="muted">Select a resource to see its tags.</p>
        )}
      </div>
    </section>
  );
}

/** Tags or untags every selected resource in one step (one request per resource). */
function BulkBar(props: { picked: Resource[]; onDone: () => void }) {
  const [tag, setTag] = useState('');
  const [busy, setBusy] = useState(false);
  const [done, setDone] = useState<string | null>(null);
  const [errors, setErrors] = useState<string[]>([]);
  const run = async (add: boolean) => {
    setBusy(true);
    setDone(null);
    const errs: string[] = [];
    let ok = 0;
    for (let i = 0; i < props.picked.length; i += 8) {
      await Promise.all(
        props.picked.slice(i, i + 8).map(async (r) => {
          try {
            if (add) await api('POST', resPath(r.kind, r.key) + '/tags', { tags: [tag.trim()] });
            else await api('DELETE', resPath(r.kind, r.key) + '/tags/' + enc(tag.trim()));
            ok++;
          } catch (e) {
            errs.push(`${r.kind}/${r.key}: ${(e as Error).message}`);
          }
        }),
      );
    }
    setBusy(false);
    setErrors(errs);
    setDone(`${add ? 'Tagged' : 'Untagged'} ${ok} of ${props.picked.length} resources.`);
  };
  return (
    <form class="bulk" aria-label="Selected resources" onSubmit={(e) => { e.preventDefault(); run(true); }}>
      <span>{props.picked.length} selected</span>
      <label class="grow">
        <span class="sr">Tag for the selected resources</span>
        <input placeholder="Tag name" value={tag} onInput={(e) => setTag((e.target as HTMLInputElement).value)} />
      </label>
      <button type="submit" disabled={busy || !tag.trim()}>Tag all</button>
      <button type="button" class="secondary" disabled={busy || !tag.trim()} onClick={() => run(false)}>Untag all</button>
      <button type="button" class="link" onClick={props.onDone}>Clear selection</button>
      {done && <p role="status" class="full">{done}</p>}
      {errors.length > 0 && (
        <ul class="error full" role="alert">
          {errors.slice(0, 20).map((e) => <li key={e}>{e}</li>)}
        </ul>
      )}
    </form>
  );
}

function ResourceDetail(props: {
  kind: string;
  rkey: string;
  caps: Caps;
  asOf: number | null;
  open: (r: { kind: string; key: string }) => void;
}) {
  const [res, setRes] = useState<Resource | null>(null);
  const [tags, setTags] = useState<TagOnResource[]>([]);
  const [error, setError] = useState<unknown>(null);
  const [addErr, setAddErr] = useState<unknown>(null);
  const [add, setAdd] = useState('');
  const [suggest, setSuggest] = useState<Tag[]>([]);
  const [reload, setReload] = useState(0);
  const base = resPath(props.kind, props.rkey);
  const canAssign = props.caps.assign && props.asOf == null;

  useEffect(() => {
    let live = true;
    (async () => {
      try {
        // As of a past revision, tagd answers the resource and its effective tags as they were
        // then, each inherited one with the ancestor it came from then.
        const at = props.asOf != null ? 'as_of=' + props.asOf : '';
        const r = await api<Resource>('GET', base + (at ? '?' + at : ''));
        if (!live) return;
        setRes(r);
        const p = await api<Page<TagOnResource>>('GET', base + '/tags?effective=true' + (at ? '&' + at : ''));
        if (live) setTags(p.items);
      } catch (e) {
        if (live) setError(e);
      }
    })();
    return () => {
      live = false;
    };
  }, [base, reload, props.asOf]);

  useEffect(() => {
    const q = add.trim();
    if (!q) {
      setSuggest([]);
      return;
    }
    let live = true;
    const timer = setTimeout(() => {
      api<Page<Tag>>('GET', '/v1/tags?limit=10&q=' + enc(q))
        .then((p) => live && setSuggest(p.items))
        .catch(() => {});
    }, 120);
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [add]);

  const doAdd = async (e: Event) => {
    e.preventDefault();
    setAddErr(null);
    try {
      await api('POST', base + '/tags', { tags: [add.trim()] });
      setAdd('');
      setReload(reload + 1);
    } catch (x) {
      setAddErr(x); // keeps what was typed
    }
  };
  const doRemove = async (t: TagOnResource) => {
    setError(null);
    try {
      await api('DELETE', base + '/tags/' + t.tag_id);
      setReload(reload + 1);
    } catch (x) {
      setError(x);
    }
  };
  const direct = tags.filter((t) => !t.inherited_from);
  const inherited = tags.filter((t) => t.inherited_from);

  return (
    <div>
      <h2>
        <span class="badge">{props.kind}</span> {res?.name || props.rkey}
      </h2>
      <dl class="facts">
        <dt>Key</dt>
        <dd><code>{props.rkey}</code></dd>
        <dt>Parent</dt>
        <dd>
          {res?.parent ? (
            <button type="button" class="link" onClick={() => props.open(res.parent!)}>
              {res.parent.kind}/{res.parent.key}
            </button>
          ) : 'none'}
        </dd>
        <dt>Children</dt>
        <dd>
          <button type="button" class="link" onClick={() => navigate('/ui/resources?parent=' + enc(props.kind + '/' + props.rkey))}>
            list them
          </button>
        </dd>
      </dl>
      <ErrorText error={error} />
      <h3>Direct tags{props.asOf != null ? ` as of revision ${props.asOf}` : ''}</h3>
      <ul class="chips" aria-label="Direct tags">
        {direct.length === 0 && <li class="muted">none</li>}
        {direct.map((t) => (
          <li key={t.tag_id} class="chip">
            <Swatch color={t.color} />
            <span>{t.name}</span>
            {canAssign && (
              <button type="button" class="x" aria-label={`Remove ${t.name}`} onClick={() => doRemove(t)}>×</button>
            )}
          </li>
        ))}
      </ul>
      {
        <>
          <h3>Inherited tags{props.asOf != null ? ` as of revision ${props.asOf}` : ''}</h3>
          <ul class="chips" aria-label="Inherited tags">
            {inherited.length === 0 && <li class="muted">none</li>}
            {inherited.map((t) => (
              <li key={t.tag_id + '@' + t.inherited_from!.kind + t.inherited_from!.key} class="chip inherited">
                <Swatch color={t.color} />
                <span>{t.name}</span>
                <span class="from">
                  from{' '}
                  <button type="button" class="link" onClick={() => props.open(t.inherited_from!)}>
                    {t.inherited_from!.kind}/{t.inherited_from!.key}
                  </button>
                </span>
              </li>
            ))}
          </ul>
        </>
      }
      {canAssign && (
        <form class="toolbar addtag" onSubmit={doAdd}>
          <label class="grow">
            Add a tag
            <input
              list="tag-suggest"
              value={add}
              autoComplete="off"
              aria-describedby={addErr ? 'add-err' : undefined}
              aria-invalid={addErr ? true : undefined}
              onInput={(e) => setAdd((e.target as HTMLInputElement).value)}
            />
            <datalist id="tag-suggest">
              {suggest.map((t) => <option key={t.id} value={t.name} />)}
            </datalist>
          </label>
          <button type="submit" disabled={!add.trim()}>Add</button>
        </form>
      )}
      <ErrorText error={addErr} id="add-err" />
    </div>
  );
}
