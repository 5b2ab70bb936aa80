// The query box: the tag query language (docs/query.md), answered as you type, with the
// column of a syntax error pointed at, the count and the results page by page. The URL holds
// the query (?q=...&effective=1), so a link shares it.
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, ApiError, enc, Page, Resource } from './api';
import { ErrorText, navigate } from './ui';

const PAGE = 50;

/** `asOf`: the query is answered on the workspace as it was at that revision. */
export function QueryView(props: { asOf: number | null }) {
  const p = new URLSearchParams(location.search);
  const [q, setQ] = useState(p.get('q') || '');
  const [effective, setEffective] = useState(p.get('effective') === '1');
  const [items, setItems] = useState<Resource[]>([]);
  const [total, setTotal] = useState<number | null>(null);
  const [cursor, setCursor] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [ms, setMs] = useState<number | null>(null);
  const first = useRef(true);

  const run = async (more: boolean, live: () => boolean = () => true) => {
    const t0 = performance.now();
    const url =
      '/v1/resources?query=' + enc(q) + '&limit=' + PAGE + (effective ? '&effective=true' : '') +
      (more && cursor ? '&cursor=' + enc(cursor) : '') +
      (props.asOf != null ? '&as_of=' + props.asOf : '');
    try {
      const pg = await api<Page<Resource>>('GET', url);
      if (!live()) return;
      setError(null);
      setItems(more ? items.concat(pg.items) : pg.items);
      setTotal(pg.total ?? null);
      setCursor(pg.next_cursor || null);
      setMs(Math.round(performance.now() - t0));
    } catch (e) {
      if (!live()) return;
      setError(e);
      if (!more) {
        setItems([]);
        setTotal(null);
        setCursor(null);
      }
    }
  };

  useEffect(() => {
    const s = new URLSearchParams(location.search);
    if (q) s.set('q', q);
    else s.delete('q');
    if (effective) s.set('effective', '1');
    else s.delete('effective');
    const str = s.toString();
    navigate('/ui/query' + (str ? '?' + str : ''), true);
    if (!q.trim()) {
      setItems([]);
      setTotal(null);
      setError(null);
      return;
    }
    let alive = true;
    // A query from the URL runs at once; typing waits for a pause of 60 ms.
    const timer = setTimeout(() => run(false, () => alive), first.current ? 0 : 60);
    first.current = false;
    return () => {
      alive = false;
      clearTimeout(timer);
    };
  }, [q, effective, props.asOf]);

  const col = error instanceof ApiError && error.column ? error.column : null;
  return (
    <section aria-label="Query">
      <form class="querybox" onSubmit={(e) => { e.preventDefault(); run(false); }}>
        <label class="grow">
          Query
          <input
            class="mono"
            value={q}
            placeholder='Country.* and not Confidential'
            spellcheck={false}
            autoComplete="off"
            aria-invalid={error ? true : undefined}
            aria-describedby="query-help query-err"
            onInput={(e) => setQ((e.target as HTMLInputElement).value)}
          />
        </label>
        <label class="check">
          <input type="checkbox" checked={effective} onChange={(e) => setEffective((e.target as HTMLInputElement).checked)} />
          include inherited tags
        </label>
      </form>
      <p id="query-help" class="muted">
        <code>and</code>, <code>or</code>, <code>not</code>, parentheses, <code>Tag.*</code> for a subtree,{' '}
        <code>kind:file</code>; quote names with spaces.
      </p>
      {col != null && (
        <pre class="caret mono" aria-hidden="true">
          {q + '\n' + ' '.repeat(Math.max(0, col - 1)) + '^'}
        </pre>
      )}
      <div id="query-err">
        {col != null && <span class="sr">Error at column {col}.</span>}
        <ErrorText error={error} />
      </div>
      {total != null && (
        <p class="count" aria-live="polite">
          <strong>{total}</strong> resource{total === 1 ? '' : 's'} match{total === 1 ? 'es' : ''}
          {props.asOf != null && ` as of revision ${props.asOf}`}
          {ms != null && <span class="muted"> ({ms} ms)</span>}
        </p>
      )}
      {items.length > 0 && (
        <table class="results">
          <caption class="sr">Matching resources</caption>
          <thead>
            <tr><th scope="col">Kind</th><th scope="col">Key</th><th scope="col">Name</th><th scope="col">Parent</th></tr>
          </thead>
          <tbody>
            {items.map((r) => (
              <tr key={r.id}>
                <td>{r.kind}</td>
                <td>
                  <a href={`/ui/resources?kind=${enc(r.kind)}&key=${enc(r.key)}`} onClick={(e) => { e.preventDefault(); navigate(`/ui/resources?kind=${enc(r.kind)}&key=${enc(r.key)}`); }}>
                    {r.key}
                  </a>
                </td>
                <td>{r.name}</td>
                <td>{r.parent ? `${r.parent.kind}/${r.parent.key}` : ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {cursor && <button type="button" class="secondary" onClick={() => run(true)}>Next {PAGE}</button>}
    </section>
  );
}
