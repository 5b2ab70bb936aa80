// The taxonomy: the tag tree (virtualized: only the rows in view are in the DOM, so 50,000
// tags scroll as smoothly as 50), search as you type, and the selected tag's editor.
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { allPages, api, enc, Page, Tag } from './api';
import { Dialog, ErrorText, Swatch } from './ui';
import type { Caps } from './main';

const ROW = 30; // px, every row the same height: what makes the window arithmetic exact

interface Row {
  tag: Tag;
  depth: number;
  hasKids: boolean;
}

export function buildChildren(tags: Map<number, Tag>) {
  const kids = new Map<number | null, Tag[]>();
  for (const t of tags.values()) {
    const p = t.parent_id != null && tags.has(t.parent_id) ? t.parent_id : null;
    let l = kids.get(p);
    if (!l) kids.set(p, (l = []));
    l.push(t);
  }
  for (const l of kids.values()) l.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return kids;
}

/** The tags of the workspace, all pages, loaded in the background; `live` tracks them. */
export function useAllTags(reload: number, fixed?: Map<number, Tag>) {
  const [tags, setTags] = useState<Map<number, Tag>>(new Map());
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    if (fixed) {
      setTags(fixed);
      setLoading(false);
      return;
    }
    let cancelled = false;
    const m = new Map<number, Tag>();
    setLoading(true);
    setError(null);
    // The first page is shown at once; later ones at most every 700 ms and at the end, as
    // rebuilding and sorting the tree costs tens of milliseconds at 50,000 tags.
    let shown = 0;
    allPages<Tag>(
      '/v1/tags?counts=true',
      (items) => {
        for (const t of items) m.set(t.id, t);
        const now = performance.now();
        if (!shown || now - shown > 700) {
          shown = now;
          setTags(new Map(m));
        }
      },
      () => cancelled,
    )
      .then(() => !cancelled && setTags(new Map(m)))
      .catch((e) => !cancelled && setError(e))
      .finally(() => !cancelled && setLoading(false));
    return () => {
      cancelled = true;
    };
  }, [reload, fixed]);
  return { tags, loading, error };
}

function VirtualList(props: {
  rows: Row[];
  selected: number | null;
  expanded: Set<number>;
  flat: boolean;
  onSelect: (t: Tag) => void;
  onToggle: (t: Tag) => void;
}) {
  const { rows } = props;
  const box = useRef<HTMLDivElement>(null);
  const [top, setTop] = useState(0);
  const [height, setHeight] = useState(600);
  const [active, setActive] = useState(0);
  useEffect(() => {
    const el = box.current!;
    const ro = new ResizeObserver(() => setHeight(el.clientHeight || 600));
    ro.observe(el);
    return () => ro.disconnect();
  }, []);
  useEffect(() => {
    if (active >= rows.length) setActive(Math.max(0, rows.length - 1));
  }, [rows.length]);
  const first = Math.max(0, Math.floor(top / ROW) - 10);
  const last = Math.min(rows.length, Math.ceil((top + height) / ROW) + 10);
  const reveal = (i: number) => {
    const el = box.current!;
    if (i * ROW < el.scrollTop) el.scrollTop = i * ROW;
    else if ((i + 1) * ROW > el.scrollTop + el.clientHeight)
      el.scrollTop = (i + 1) * ROW - el.clientHeight;
  };
  const onKey = (e: KeyboardEvent) => {
    if (!rows.length) return;
    let i = active;
    const r = rows[i];
    switch (e.key) {
      case 'ArrowDown': i = Math.min(rows.length - 1, i + 1); break;
      case 'ArrowUp': i = Math.max(0, i - 1); break;
      case 'Home': i = 0; break;
      case 'End': i = rows.length - 1; break;
      case 'PageDown': i = Math.min(rows.length - 1, i + Math.floor(height / ROW)); break;
      case 'PageUp': i = Math.max(0, i - Math.floor(height / ROW)); break;
      case 'ArrowRight':
        if (r && r.hasKids && !props.expanded.has(r.tag.id)) props.onToggle(r.tag);
        else if (r && r.hasKids) i = Math.min(rows.length - 1, i + 1);
        break;
      case 'ArrowLeft':
        if (r && r.hasKids && props.expanded.has(r.tag.id)) props.onToggle(r.tag);
        else if (r && r.tag.parent_id != null) {
          const p = rows.findIndex((x) => x.tag.id === r.tag.parent_id);
          if (p >= 0) i = p;
        }
        break;
      case 'Enter':
      case ' ':
        if (r) props.onSelect(r.tag);
        break;
      default:
        return;
    }
    e.preventDefault();
    setActive(i);
    reveal(i);
  };
  const activeRow = rows[active];
  return (
    <div
      class="vlist"
      ref={box}
      role={props.flat ? 'listbox' : 'tree'}
      aria-label={props.flat ? 'Matching tags' : 'Tag tree'}
      tabIndex={0}
      aria-activedescendant={activeRow ? 'tag-row-' + activeRow.tag.id : undefined}
      onScroll={(e) => setTop((e.currentTarget as HTMLElement).scrollTop)}
      onKeyDown={onKey}
    >
      <div style={{ height: rows.length * ROW + 'px', position: 'relative' }}>
        {rows.slice(first, last).map((r, k) => {
          const i = first + k;
          const open = props.expanded.has(r.tag.id);
          return (
            <div
              key={r.tag.id}
              id={'tag-row-' + r.tag.id}
              role={props.flat ? 'option' : 'treeitem'}
              aria-level={props.flat ? undefined : r.depth + 1}
              aria-expanded={!props.flat && r.hasKids ? open : undefined}
              aria-selected={props.selected === r.tag.id}
              class={'row' + (i === active ? ' active' : '') + (props.selected === r.tag.id ? ' selected' : '')}
              style={{ top: i * ROW + 'px', paddingLeft: 8 + r.depth * 18 + 'px' }}
              data-name={r.tag.name}
              onClick={() => {
                setActive(i);
                props.onSelect(r.tag);
              }}
            >
              {!props.flat && (
                <span
                  class="twisty"
                  aria-hidden="true"
                  onClick={(e) => {
                    e.stopPropagation();
                    if (r.hasKids) props.onToggle(r.tag);
                  }}
                >
                  {r.hasKids ? (open ? '▾' : '▸') : ''}
                </span>
              )}
              <Swatch color={r.tag.color} />
              <span class="label">{props.flat ? r.tag.name : r.tag.display_name}</span>
              {r.tag.source !== 'curated' && <span class="badge">{r.tag.source}</span>}
              {r.tag.usage && (
                // Hidden from screen readers, which would hear it in every row's name; the
                // selected tag's panel says it in words.
                <span
                  class="uses"
                  aria-hidden="true"
                  title={`${r.tag.usage.resources} resources directly, ${r.tag.usage.subtree} with its subtree`}
                >
                  {r.tag.usage.subtree}
                </span>
              )}
            </div>
          );
        })}
      </div>
    </div>
  );
}

export function Taxonomy(props: { caps: Caps; asOf: number | null; asOfTags?: Map<number, Tag> }) {
  const [reload, setReload] = useState(0);
  const { tags, loading, error } = useAllTags(reload, props.asOf != null ? props.asOfTags : undefined);
  const [q, setQ] = useState('');
  const [expanded, setExpanded] = useState<Set<number>>(new Set());
  const [selected, setSelected] = useState<number | null>(null);
  const [creating, setCreating] = useState(false);
  const kids = useMemo(() => buildChildren(tags), [tags]);
  // Until every tag is loaded, a search also asks the server, so it finds all from the start.
  const [remote, setRemote] = useState<Tag[]>([]);
  useEffect(() => {
    const needle = q.trim();
    if (!loading || !needle || props.asOf != null) {
      setRemote([]);
      return;
    }
    let live = true;
    const timer = setTimeout(() => {
      api<Page<Tag>>('GET', '/v1/tags?limit=1000&q=' + enc(needle))
        .then((p) => live && setRemote(p.items))
        .catch(() => {});
    }, 80);
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [q, loading]);
  const readOnly = !props.caps.write || props.asOf != null;

  const rows = useMemo(() => {
    const out: Row[] = [];
    const needle = q.trim().toLowerCase();
    if (needle) {
      // Prefix matches first, then substring matches, both in name order.
      const pre: Tag[] = [];
      const sub: Tag[] = [];
      const pool = remote.length ? [...tags.values(), ...remote.filter((t) => !tags.has(t.id))] : tags.values();
      for (const t of pool) {
        const n = t.name.toLowerCase();
        if (n.startsWith(needle)) pre.push(t);
        else if (n.includes(needle)) sub.push(t);
      }
      const by = (a: Tag, b: Tag) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
      for (const t of pre.sort(by).concat(sub.sort(by)))
        out.push({ tag: t, depth: 0, hasKids: false });
      return out;
    }
    const walk = (p: number | null, depth: number) => {
      for (const t of kids.get(p) || []) {
        const hasKids = kids.has(t.id);
        out.push({ tag: t, depth, hasKids });
        if (hasKids && expanded.has(t.id)) walk(t.id, depth + 1);
      }
    };
    walk(null, 0);
    return out;
  }, [tags, kids, expanded, q, remote]);

  const toggle = (t: Tag) => {
    const s = new Set(expanded);
    if (s.has(t.id)) s.delete(t.id);
    else s.add(t.id);
    setExpanded(s);
  };
  const sel = selected != null ? tags.get(selected) : undefined;
  const changed = (keep?: Tag) => {
    if (keep) setSelected(keep.id);
    setReload(reload + 1);
  };

  return (
    <section class="split" aria-label="Taxonomy">
      <div class="pane">
        <div class="toolbar">
          <label class="grow">
            <span class="sr">Search tags</span>
            <input
              type="search"
              placeholder="Search tags (prefix or part of a name)"
              value={q}
              onInput={(e) => setQ((e.target as HTMLInputElement).value)}
            />
          </label>
          {!readOnly && (
            <button type="button" onClick={() => setCreating(true)}>
              New tag
            </button>
          )}
        </div>
        <p class="muted" aria-live="polite">
          {loading ? `Loading… ${tags.size} tags so far` : q ? `${rows.length} of ${tags.size} tags match` : `${tags.size} tags`}
        </p>
        <ErrorText error={error} />
        <VirtualList
          rows={rows}
          selected={selected}
          expanded={expanded}
          flat={!!q.trim()}
          onSelect={(t) => setSelected(t.id)}
          onToggle={toggle}
        />
      </div>
      <div class="pane detail">
        {sel ? (
          <TagEditor
            key={sel.id + ':' + sel.version}
            tag={sel}
            tags={tags}
            kids={kids}
            readOnly={readOnly || sel.source !== 'curated'}
            onChanged={changed}
            onDeleted={() => {
              setSelected(null);
              setReload(reload + 1);
            }}
          />
        ) : (
          <p class="muted">Select a tag to see and edit it.</p>
        )}
      </div>
      {creating && (
        <CreateTag
          parent={sel ? sel.name + '.' : ''}
          onClose={() => setCreating(false)}
          onCreated={(t) => {
            setCreating(false);
            if (t.parent_id != null) setExpanded(new Set([...expanded, ...ancestors(t, tags)]));
            changed(t);
          }}
        />
      )}
    </section>
  );
}

function ancestors(t: Tag, tags: Map<number, Tag>) {
  const out: number[] = [];
  // The new tag's parents by name: the map may not hold the new ones yet.
  const parts = t.name.split('.');
  for (let i = 1; i < parts.length; i++) {
    const name = parts.slice(0, i).join('.').toLowerCase();
    for (const x of tags.values()) if (x.name.toLowerCase() === name) out.push(x.id);
  }
  if (t.parent_id != null) out.push(t.parent_id);
  return out;
}

function subtree(t: Tag, kids: Map<number | null, Tag[]>) {
  const out: Tag[] = [];
  const walk = (x: Tag) => {
    out.push(x);
    for (const k of kids.get(x.id) || []) walk(k);
  };
  walk(t);
  return out;
}

function CreateTag(props: { parent: string; onClose: () => void; onCreated: (t: Tag) => void }) {
  const [name, setName] = useState(props.parent);
  const [color, setColor] = useState('');
  const [description, setDescription] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const body: any = { name };
      if (color) body.color = color;
      if (description) body.description = description;
      props.onCreated(await api<Tag>('POST', '/v1/tags', body));
    } catch (x) {
      setError(x); // the form keeps what was typed
    } finally {
      setBusy(false);
    }
  };
  return (
    <Dialog title="New tag" onClose={props.onClose}>
      <form onSubmit={submit}>
        <label>
          Full name (dots make the hierarchy)
          <input required autoFocus value={name} onInput={(e) => setName((e.target as HTMLInputElement).value)} />
        </label>
        <label>
          Color
          <input placeholder="#1E90FF" value={color} onInput={(e) => setColor((e.target as HTMLInputElement).value)} />
        </label>
        <label>
          Description
          <textarea value={description} onInput={(e) => setDescription((e.target as HTMLTextAreaElement).value)} />
        </label>
        <ErrorText error={error} />
        <div class="actions">
          <button type="submit" disabled={busy}>Create</button>
          <button type="button" class="secondary" onClick={props.onClose}>Cancel</button>
        </div>
      </form>
    </Dialog>
  );
}

function TagEditor(props: {
  tag: Tag;
  tags: Map<number, Tag>;
  kids: Map<number | null, Tag[]>;
  readOnly: boolean;
  onChanged: (t: Tag) => void;
  onDeleted: () => void;
}) {
  const t = props.tag;
  const [name, setName] = useState(t.name);
  const [color, setColor] = useState(t.color || '');
  const [description, setDescription] = useState(t.description || '');
  const l10nText = (l: Record<string, string> | null | undefined) =>
    Object.entries(l || {}).map(([k, v]) => `${k} = ${v}`).join('\n');
  const [l10n, setL10n] = useState(l10nText(t.l10n));
  const [error, setError] = useState<unknown>(null);
  const [usage, setUsage] = useState<{ own: number; tree: number } | null>(null);
  const [confirm, setConfirm] = useState<null | 'delete' | 'rename'>(null);
  const sub = useMemo(() => subtree(t, props.kids), [t, props.kids]);

  useEffect(() => {
    let live = true;
    Promise.all([
      api('GET', `/v1/tags/${t.id}/resources?limit=1`),
      api('GET', `/v1/tags/${t.id}/resources?limit=1&descendants=true`),
    ])
      .then(([a, b]) => live && setUsage({ own: a.total ?? 0, tree: b.total ?? 0 }))
      .catch(() => live && setUsage(null));
    return () => {
      live = false;
    };
  }, [t.id, t.version]);

  const save = async () => {
    setError(null);
    const body: any = {};
    if (name !== t.name) body.name = name;
    if (color !== (t.color || '')) body.color = color || null;
    if (description !== (t.description || '')) body.description = description || null;
    if (l10n !== l10nText(t.l10n)) {
      const out: Record<string, string> = {};
      for (const line of l10n.split('\n')) {
        if (!line.trim()) continue;
        const m = /^\s*([A-Za-z]{2,3}-[A-Za-z]{2})\s*=\s*(.+?)\s*$/.exec(line);
        if (!m) {
          setError(new Error(`"${line.trim()}" is not a line like "de-DE = E-Mail" (localized names)`));
          return;
        }
        out[m[1]] = m[2];
      }
      body.l10n = Object.keys(out).length ? out : null;
    }
    try {
      const out = await api<Tag>('PATCH', `/v1/tags/${t.id}`, body, { 'If-Match': `"${t.version}"` });
      props.onChanged(out);
    } catch (x) {
      setError(x);
    }
  };
  const remove = async () => {
    setError(null);
    try {
      await api('DELETE', `/v1/tags/${t.id}` + (sub.length > 1 ? '?recursive=true' : ''), undefined, {
        'If-Match': `"${t.version}"`,
      });
      props.onDeleted();
    } catch (x) {
      setConfirm(null);
      setError(x);
    }
  };
  const touches = `${sub.length} tag${sub.length === 1 ? '' : 's'} and ${usage ? usage.tree : '…'} resource${usage && usage.tree === 1 ? '' : 's'} carrying ${sub.length === 1 ? 'it' : 'them'}`;

  return (
    <div>
      <h2 class="tagtitle">
        <Swatch color={t.color} /> {t.name}
      </h2>
      <dl class="facts">
        <dt>Source</dt>
        <dd>{t.source === 'curated' ? 'curated' : `${t.source} (external, read-only)`}</dd>
        <dt>Used on</dt>
        <dd>{usage ? `${usage.own} resources directly, ${usage.tree} with its subtree` : '…'}</dd>
        <dt>Subtree</dt>
        <dd>{sub.length === 1 ? 'this tag only' : `${sub.length} tags`}</dd>
        <dt>Version</dt>
        <dd>{t.version}</dd>
      </dl>
      {t.description && props.readOnly && <p>{t.description}</p>}
      {props.readOnly && t.l10n && (
        <p class="muted">{Object.entries(t.l10n).map(([k, v]) => `${k}: ${v}`).join(' · ')}</p>
      )}
      {!props.readOnly && (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            if (name !== t.name) setConfirm('rename');
            else save();
          }}
        >
          <label>
            Full name (rename or move)
            <input value={name} onInput={(e) => setName((e.target as HTMLInputElement).value)} />
          </label>
          <div class="field">
            <span class="flabel" id="color-l">Color</span>
            <span class="colorpick">
              <input
                type="color"
                aria-label="Pick a color"
                value={/^#[0-9a-fA-F]{6}$/.test(color) ? color : '#888888'}
                onInput={(e) => setColor((e.target as HTMLInputElement).value.toUpperCase())}
              />
              <input aria-labelledby="color-l" value={color} placeholder="none" onInput={(e) => setColor((e.target as HTMLInputElement).value)} />
            </span>
          </div>
          <label>
            Description
            <textarea value={description} onInput={(e) => setDescription((e.target as HTMLTextAreaElement).value)} />
          </label>
          <label>
            Localized names (one per line: de-DE = E-Mail)
            <textarea class="mono" value={l10n} onInput={(e) => setL10n((e.target as HTMLTextAreaElement).value)} />
          </label>
          <ErrorText error={error} />
          <div class="actions">
            <button type="submit">Save</button>
            <button type="button" class="danger" onClick={() => setConfirm('delete')}>
              Delete…
            </button>
          </div>
        </form>
      )}
      {props.readOnly && <ErrorText error={error} />}
      {confirm === 'delete' && (
        <Dialog title={`Delete ${t.name}?`} onClose={() => setConfirm(null)}>
          <p>This deletes {touches}. Deleted tags can be restored through the API.</p>
          <div class="actions">
            <button type="button" class="danger" autoFocus onClick={remove}>
              Delete {sub.length} tag{sub.length === 1 ? '' : 's'}
            </button>
            <button type="button" class="secondary" onClick={() => setConfirm(null)}>Cancel</button>
          </div>
        </Dialog>
      )}
      {confirm === 'rename' && (
        <Dialog title={`Rename ${t.name}?`} onClose={() => setConfirm(null)}>
          <p>
            Renaming to <strong>{name}</strong> changes {touches}.
          </p>
          <div class="actions">
            <button
              type="button"
              autoFocus
              onClick={() => {
                setConfirm(null);
                save();
              }}
            >
              Rename
            </button>
            <button type="button" class="secondary" onClick={() => setConfirm(null)}>Cancel</button>
          </div>
        </Dialog>
      )}
    </div>
  );
}
