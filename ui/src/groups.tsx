// Tag groups: ordered sets of tags, optionally exclusive (a resource carries at most one tag
// of an exclusive group). The order is changed by dragging a tag or, from the keyboard, with
// its Up and Down buttons; Save order sends it (PUT /v1/groups/{id}/tags).
import { useEffect, useState } from 'preact/hooks';
import { api, enc, Page, Tag } from './api';
import { ErrorText, Swatch } from './ui';
import type { Caps } from './main';

interface Group {
  id: number;
  name: string;
  exclusive: boolean;
  tags: number[];
  version: number;
}

export function GroupsView(props: { caps: Caps }) {
  const [groups, setGroups] = useState<Group[]>([]);
  const [sel, setSel] = useState<number | null>(null);
  const [name, setName] = useState('');
  const [exclusive, setExclusive] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [reload, setReload] = useState(0);
  const canWrite = props.caps.write;

  useEffect(() => {
    api<Page<Group>>('GET', '/v1/groups').then((p) => setGroups(p.items)).catch(setError);
  }, [reload]);

  const create = async (e: Event) => {
    e.preventDefault();
    setError(null);
    try {
      const g = await api<Group>('POST', '/v1/groups', { name, exclusive });
      setName('');
      setExclusive(false);
      setSel(g.id);
      setReload(reload + 1);
    } catch (x) {
      setError(x);
    }
  };
  const g = groups.find((x) => x.id === sel);

  return (
    <section class="split" aria-label="Tag groups">
      <div class="pane">
        <ul class="reslist" aria-label="Groups">
          {groups.length === 0 && <li class="muted">No groups yet.</li>}
          {groups.map((x) => (
            <li key={x.id}>
              <button type="button" class={'item' + (x.id === sel ? ' selected' : '')} aria-current={x.id === sel ? 'true' : undefined} onClick={() => setSel(x.id)}>
                {x.name} <span class="muted">({x.tags.length} tags{x.exclusive ? ', exclusive' : ''})</span>
              </button>
            </li>
          ))}
        </ul>
        {canWrite && (
          <form onSubmit={create} class="stack newgroup" aria-label="New group">
            <label>
              New group
              <input required value={name} onInput={(e) => setName((e.target as HTMLInputElement).value)} />
            </label>
            <label class="check">
              <input type="checkbox" checked={exclusive} onChange={(e) => setExclusive((e.target as HTMLInputElement).checked)} />
              exclusive (at most one of its tags per resource)
            </label>
            <button type="submit">Create group</button>
          </form>
        )}
        <ErrorText error={error} />
      </div>
      <div class="pane detail">
        {g ? (
          <GroupEditor key={g.id + ':' + g.version + ':' + g.tags.join(',')} group={g} canWrite={canWrite} onChanged={() => setReload(reload + 1)} onDeleted={() => { setSel(null); setReload(reload + 1); }} />
        ) : (
          <p class="muted">Select a group to see and order its tags.</p>
        )}
      </div>
    </section>
  );
}

function GroupEditor(props: { group: Group; canWrite: boolean; onChanged: () => void; onDeleted: () => void }) {
  const g = props.group;
  const [tags, setTags] = useState<Tag[]>([]);
  const [dirty, setDirty] = useState(false);
  const [add, setAdd] = useState('');
  const [suggest, setSuggest] = useState<Tag[]>([]);
  const [drag, setDrag] = useState<number | null>(null);
  const [error, setError] = useState<unknown>(null);

  useEffect(() => {
    api<Page<Tag>>('GET', `/v1/tags?group=${g.id}&limit=1000`)
      .then((p) => {
        const by = new Map(p.items.map((t) => [t.id, t]));
        setTags(g.tags.map((id) => by.get(id)).filter((t): t is Tag => !!t));
      })
      .catch(setError);
  }, [g.id, g.version]);

  useEffect(() => {
    const q = add.trim();
    if (!q) return setSuggest([]);
    let live = true;
    const timer = setTimeout(() => {
      api<Page<Tag>>('GET', '/v1/tags?limit=10&q=' + enc(q)).then((p) => live && setSuggest(p.items)).catch(() => {});
    }, 120);
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [add]);

  const move = (from: number, to: number) => {
    if (to < 0 || to >= tags.length || from === to) return;
    const next = tags.slice();
    const [t] = next.splice(from, 1);
    next.splice(to, 0, t);
    setTags(next);
    setDirty(true);
  };
  const save = async (list: (string | number)[]) => {
    setError(null);
    try {
      await api('PUT', `/v1/groups/${g.id}/tags`, { tags: list });
      setDirty(false);
      props.onChanged();
      return true;
    } catch (x) {
      setError(x);
      return false;
    }
  };
  const [excl, setExcl] = useState(g.exclusive);
  const setExclusive = async (on: boolean) => {
    setError(null);
    setExcl(on); // shown at once, put back if the API refuses
    try {
      await api('PATCH', `/v1/groups/${g.id}`, { exclusive: on }, { 'If-Match': `"${g.version}"` });
      props.onChanged();
    } catch (x) {
      setExcl(!on);
      setError(x);
    }
  };
  const remove = async () => {
    if (!confirm(`Delete the group ${g.name}? Its ${tags.length} tags stay, without a group.`)) return;
    try {
      await api('DELETE', `/v1/groups/${g.id}`);
      props.onDeleted();
    } catch (x) {
      setError(x);
    }
  };

  return (
    <div>
      <h2>{g.name}</h2>
      {props.canWrite ? (
        <label class="check">
          <input type="checkbox" checked={excl} onChange={(e) => setExclusive((e.target as HTMLInputElement).checked)} />
          exclusive
        </label>
      ) : (
        <p class="muted">{g.exclusive ? 'Exclusive: a resource carries at most one of these tags.' : 'Not exclusive.'}</p>
      )}
      <ErrorText error={error} />
      <ol class="grouptags" aria-label={`Tags of ${g.name}, in order`}>
        {tags.map((t, i) => (
          <li
            key={t.id}
            draggable={props.canWrite}
            class={drag === i ? 'dragging' : ''}
            onDragStart={(e) => {
              setDrag(i);
              e.dataTransfer?.setData('text/plain', String(i));
            }}
            onDragOver={(e) => e.preventDefault()}
            onDrop={(e) => {
              e.preventDefault();
              if (drag != null) move(drag, i);
              setDrag(null);
            }}
            onDragEnd={() => setDrag(null)}
          >
            <Swatch color={t.color} />
            <span class="grow">{t.name}</span>
            {props.canWrite && (
              <span class="ord">
                <button type="button" class="secondary" aria-label={`Move ${t.name} up`} disabled={i === 0} onClick={() => move(i, i - 1)}>↑</button>
                <button type="button" class="secondary" aria-label={`Move ${t.name} down`} disabled={i === tags.length - 1} onClick={() => move(i, i + 1)}>↓</button>
                <button type="button" class="x" aria-label={`Take ${t.name} out of the group`} onClick={() => save(tags.filter((x) => x.id !== t.id).map((x) => x.id))}>×</button>
              </span>
            )}
          </li>
        ))}
      </ol>
      {props.canWrite && (
        <>
          <div class="actions">
            <button type="button" disabled={!dirty} onClick={() => save(tags.map((t) => t.id))}>Save order</button>
            <button type="button" class="danger" onClick={remove}>Delete group…</button>
          </div>
          <form class="toolbar addtag" onSubmit={(e) => { e.preventDefault(); save([...tags.map((t) => t.id), add.trim()]).then((ok) => ok && setAdd('')); }}>
            <label class="grow">
              Add a tag to the group
              <input list="group-suggest" autoComplete="off" value={add} onInput={(e) => setAdd((e.target as HTMLInputElement).value)} />
              <datalist id="group-suggest">
                {suggest.map((t) => <option key={t.id} value={t.name} />)}
              </datalist>
            </label>
            <button type="submit" disabled={!add.trim()}>Add</button>
          </form>
        </>
      )}
    </div>
  );
}
