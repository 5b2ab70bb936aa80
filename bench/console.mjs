#!/usr/bin/env node
// The web console's figure (issue 22): in Debian's chromium, the time from navigation to the
// first usable taxonomy view with N tags (target: under 1 s with 50,000), until every tag is
// loaded, and from navigation and from a keystroke to a query's count and first page with the
// data set of bench/gen.c (target: under 200 ms at 10 million assignments).
//
//   node bench/console.mjs                       # 50,000 tags, then the --small data set
//   node bench/console.mjs --tags 50000 --gen full   # the full data set (10M assignments;
//                                                # generating it takes minutes and ~4 GB)
//   node bench/console.mjs --gen none            # tags only
//   ... --effective 0                            # queries on direct tags only
//   node bench/console.mjs --tags 0 --gen full --url http://127.0.0.1:PORT --data DIR
//                                                # queries on a tagd already serving DIR
//
// Needs a release build in build-bench/ (bench/run makes it) or $TAGD_BIN, `npm ci` in ui/,
// and /usr/bin/chromium (scripts/install-deps). Prints one table of medians over --runs runs.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync, openSync, closeSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(join(ROOT, 'ui', 'package.json'));
const { chromium } = require('playwright-core');
const TOKEN = 'bench-console-token-0123456789abcdef';
const SIZES = {
  small: [5, 4, 5, 20000, 200000],
  full: [10, 9, 10, 1000000, 10000000],
};

const arg = (name, def) => {
  const i = process.argv.indexOf('--' + name);
  return i > 0 ? process.argv[i + 1] : def;
};
const NTAGS = Number(arg('tags', 50000));
const GEN = arg('gen', 'small');
const RUNS = Number(arg('runs', 5));
const EFFECTIVE = arg('effective', '1') === '1'; // queries match inherited tags too
const BIN = process.env.TAGD_BIN ||
  (existsSync(join(ROOT, 'build-bench', 'tagd')) ? join(ROOT, 'build-bench', 'tagd') : join(ROOT, 'build', 'tagd'));

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];

function freePort() {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function start(data) {
  const port = await freePort();
  const log = openSync(join(data, 'bench.log'), 'a');
  const proc = spawn(BIN, ['--data', data, '--listen', `127.0.0.1:${port}`, '--threads', '2',
    '--log-level', 'warn'], { env: { ...process.env, TAGD_ADMIN_TOKEN: TOKEN }, stdio: ['ignore', log, log] });
  closeSync(log);
  const url = `http://127.0.0.1:${port}`;
  // Loading 10 million assignments into the engine takes a while on a busy machine.
  for (const end = Date.now() + 20 * 60 * 1000; Date.now() < end && proc.exitCode === null;) {
    try {
      if ((await fetch(url + '/healthz')).status === 200) return { proc, url };
    } catch { /* not yet */ }
    await sleep(100);
  }
  proc.kill('SIGKILL');
  throw new Error('tagd did not start: ' + readFileSync(join(data, 'bench.log'), 'utf8'));
}

function stop(t) {
  return new Promise((r) => {
    t.proc.on('exit', r);
    t.proc.kill('SIGTERM');
  });
}

async function call(t, method, path, body) {
  const r = await fetch(t.url + path, {
    method,
    headers: { Authorization: 'Bearer ' + TOKEN, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${await r.text()}`);
  return r.json();
}

// Marks taken in the page itself (ms since navigation started), by a MutationObserver and a
// keydown listener installed before the console runs: the driver's own polling would add its
// latency, and would wait for a main thread busy loading tags.
function marks() {
  const m = (window.__marks = {});
  let count = null;
  addEventListener('keydown', () => { m.key = performance.now(); }, true);
  new MutationObserver(() => {
    const now = performance.now();
    if (m.row == null && document.querySelector('[role=treeitem]')) m.row = now;
    const st = document.querySelector('.pane p.muted');
    if (st && /^\d+ tags$/.test(st.textContent)) m.all = m.all ?? now;
    const c = document.querySelector('.count strong');
    // The typed query differs from the shown one by its last character only, whose prefix is
    // no valid query: its results appear where there were none, or with another count.
    const shown = c && document.querySelector('table.results tbody tr') ? c.textContent : null;
    if (shown != null && m.results == null) m.results = now;
    if (shown != null && shown !== count && m.key != null && m.typed == null) m.typed = now - m.key;
    count = shown;
  }).observe(document, { subtree: true, childList: true, characterData: true });
}

async function page(browser) {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  await ctx.addInitScript((tok) => sessionStorage.setItem('tagd.token', tok), TOKEN);
  await ctx.addInitScript(marks);
  const p = await ctx.newPage();
  p.setDefaultTimeout(120000);
  return p;
}

const rows = [];

async function taxonomy(browser) {
  const data = mkdtempSync(join(tmpdir(), 'tagd-bench-console-'));
  const t = await start(data);
  try {
    // Ten roots, a hundred groups under each, leaves under those: a realistic, deep tree.
    for (let i = 0; i < NTAGS; i += 1000) {
      const tags = [];
      for (let k = i; k < Math.min(NTAGS, i + 1000); k++)
        tags.push({ name: `Area${k % 10}.Group${Math.floor(k / 10) % 100}.Tag${k}` });
      await call(t, 'POST', '/v1/tags', { tags });
    }
    const total = (await call(t, 'GET', '/v1/tags?limit=1')).total;
    const first = [], all = [];
    for (let r = 0; r < RUNS; r++) {
      const p = await page(browser);
      await p.goto(t.url + '/ui/tags');
      await p.getByText(`${total} tags`, { exact: true }).waitFor();
      const m = await p.evaluate(() => window.__marks);
      first.push(m.row);
      all.push(m.all);
      await p.context().close();
    }
    rows.push([`first usable taxonomy view, ${total} tags`, median(first), '< 1000 ms']);
    rows.push([`every tag loaded in the tree, ${total} tags`, median(all), '']);
  } finally {
    await stop(t);
    rmSync(data, { recursive: true, force: true });
  }
}

async function queries(browser) {
  const size = SIZES[GEN];
  // --url and --data: a tagd already running (admin token TOKEN) on a data set generated
  // before (the directory holding its terms.tsv), so that a big one is made only once.
  const attach = arg('url', null);
  const data = attach ? arg('data') : mkdtempSync(join(tmpdir(), 'tagd-bench-console-'));
  let t = { url: attach, proc: null };
  if (!attach) {
    const gen = join(data, 'gen');
    execFileSync('cc', ['-O2', '-o', gen, join(ROOT, 'bench', 'gen.c'), '-lsqlite3']);
    await stop(await start(data)); // the schema
    execFileSync(gen, [join(data, 'tagd.db'), data, ...size.map(String), '20261123'], { stdio: 'ignore' });
    t = await start(data);
  }
  try {
    const terms = Object.fromEntries(readFileSync(join(data, 'terms.tsv'), 'utf8').trim().split('\n')
      .map((l) => l.split('\t')).map(([k, , name]) => [k, name]));
    const q1 = `${terms.A} and not ${terms.B}`;
    const q2 = `(${terms.A} or ${terms.C}) and ${terms.P}.*`;
    const nav = [], typed = [];
    for (let r = 0; r < RUNS; r++) {
      const p = await page(browser);
      await p.goto(t.url + '/ui/query?' + (EFFECTIVE ? 'effective=1&' : '') + 'q=' + encodeURIComponent(q1));
      await p.locator('table.results tbody tr').first().waitFor();
      nav.push(await p.evaluate(() => window.__marks.results));
      // From the keystroke that completes the query to its count and first page on screen.
      const box = p.getByRole('textbox', { name: 'Query', exact: true });
      await box.fill(q2.slice(0, -1));
      await p.waitForTimeout(400);
      await p.evaluate(() => { window.__marks.key = null; });
      await box.press(q2.slice(-1));
      await p.waitForFunction(() => window.__marks.typed != null);
      typed.push(await p.evaluate(() => window.__marks.typed));
      await p.context().close();
    }
    const [, , , res, asg] = size;
    const how = EFFECTIVE ? 'effective tags' : 'direct tags';
    rows.push([`navigation to a query's count and first page, ${how}, ${asg} assignments (${res} resources)`, median(nav), '']);
    rows.push([`keystroke to a query's count and first page, ${how}, ${asg} assignments`, median(typed), '< 200 ms']);
  } finally {
    if (!attach) {
      await stop(t);
      rmSync(data, { recursive: true, force: true });
    }
  }
}

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: ['--no-sandbox'] });
try {
  if (NTAGS > 0) await taxonomy(browser);
  if (GEN !== 'none') await queries(browser);
} finally {
  await browser.close();
}
let rev = '';
try { rev = execFileSync('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD']).toString().trim(); } catch { /* no git */ }
console.log(`\n| measure (median of ${RUNS}, ${BIN.includes('build-bench') ? 'release' : 'debugoptimized'} tagd ${rev}) | ms | target |`);
console.log('| --- | --- | --- |');
for (const [m, v, target] of rows) console.log(`| ${m} | ${Math.round(v)} | ${target} |`);
