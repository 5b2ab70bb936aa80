// The web console end to end: Debian's chromium (/usr/bin/chromium, never a downloaded
// browser) driven by playwright-core against a real tagd on a free port with a fresh data
// directory (tests/clients/tagd.mjs starts it). The tests run in order on one server, as a
// person would: sign in, build a taxonomy, tag a folder, query, rename, travel back in time;
// then the views of a read-only token and of another organization. Screenshots of each main
// view go to build/test-results/console/ ($TAGD_RESULTS/console/).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { startTagd, ADMIN_TOKEN, ROOT } from '../../tests/clients/tagd.mjs';

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SHOTS = join(process.env.TAGD_RESULTS || join(ROOT, 'build', 'test-results'), 'console');
mkdirSync(SHOTS, { recursive: true });

let tagd, browser, page;

async function shot(name, p = page) {
  await p.screenshot({ path: join(SHOTS, name + '.png'), fullPage: false });
}

async function signIn(p, token, url = tagd.url) {
  await p.goto(url + '/ui/');
  await p.getByLabel('API token').fill(token);
  await p.getByRole('button', { name: 'Sign in with token' }).click();
  await p.getByRole('button', { name: 'Sign out' }).waitFor();
}

async function eventually(check, ms = 5000) {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('condition not met in ' + ms + ' ms');
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function newPage(opts = {}) {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 }, ...opts });
  return ctx.newPage();
}

// The type check runs beside the browser tests (it takes seconds of CPU, they mostly wait) and
// is awaited by the last test.
let typecheck;

before(async () => {
  const ui = join(ROOT, 'ui');
  typecheck = promisify(execFile)(process.execPath,
    [join(ui, 'node_modules', 'typescript', 'bin', 'tsc'), '--noEmit', '-p', ui]);
  typecheck.catch(() => {}); // reported by its test
  tagd = await startTagd();
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  page = await newPage();
  page.setDefaultTimeout(10000);
});

after(async () => {
  if (browser) await browser.close();
  if (tagd) await tagd.stop();
});

test('signs in with a token, refuses a wrong one, shows who and where', async () => {
  await page.goto(tagd.url + '/');
  assert.match(page.url(), /\/ui\/$/);
  await page.getByLabel('API token').fill('not-a-token');
  await page.getByRole('button', { name: 'Sign in with token' }).click();
  await page.getByRole('alert').filter({ hasText: /invalid token/ }).waitFor();
  await shot('signin');
  await page.getByLabel('API token').fill(ADMIN_TOKEN);
  await page.getByRole('button', { name: 'Sign in with token' }).click();
  const who = page.getByLabel('Signed in as');
  await who.getByText('TAGD_ADMIN_TOKEN').waitFor();
  await who.getByText('default / default').waitFor();
  await who.getByText('admin', { exact: true }).waitFor();
});

test('builds a taxonomy: create, search as you type, color and description', async () => {
  for (const name of ['Country.DE', 'Country.FR', 'Confidential']) {
    await page.getByRole('button', { name: 'New tag' }).click();
    const dlg = page.getByRole('dialog', { name: 'New tag' });
    await dlg.getByLabel('Full name').fill(name);
    await dlg.getByRole('button', { name: 'Create' }).click();
    await dlg.waitFor({ state: 'detached' });
  }
  // A name the API refuses: the error in words, the dialog keeps what was typed.
  await page.getByRole('button', { name: 'New tag' }).click();
  const dlg = page.getByRole('dialog', { name: 'New tag' });
  await dlg.getByLabel('Full name').fill('Bad..name');
  await dlg.getByRole('button', { name: 'Create' }).click();
  await dlg.getByRole('alert').waitFor();
  assert.equal(await dlg.getByLabel('Full name').inputValue(), 'Bad..name');
  await dlg.getByRole('button', { name: 'Cancel' }).click();

  const tree = page.getByRole('tree', { name: 'Tag tree' });
  await tree.getByRole('treeitem', { name: 'Country' }).waitFor();
  // Keyboard: focus the tree, open Country with the right arrow, walk down to DE, select it.
  await tree.focus();
  await page.keyboard.press('Home');
  await page.keyboard.press('ArrowDown'); // Country (Confidential sorts first)
  await page.keyboard.press('ArrowLeft'); // closed, whatever it was
  await page.keyboard.press('ArrowRight'); // open
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('Enter');
  await page.getByRole('heading', { name: 'Country.DE' }).waitFor();
  await page.getByLabel('Color', { exact: true }).fill('#1E90FF');
  await page.getByLabel('Description').fill('Germany');
  // A malformed localized name is refused before anything is sent, and the form keeps it all.
  const l10n = page.getByLabel('Localized names');
  await l10n.fill('Deutschland');
  await page.getByRole('button', { name: 'Save' }).click();
  await page.getByRole('alert').filter({ hasText: 'localized names' }).waitFor();
  assert.equal(await page.getByLabel('Description').inputValue(), 'Germany');
  await l10n.fill('de-DE = Deutschland\nfr-FR = Allemagne');
  await page.getByRole('button', { name: 'Save' }).click();
  await eventually(async () => (await tagd.native('GET', '/v1/tags/Country.DE')).color === '#1E90FF');
  const de = await tagd.native('GET', '/v1/tags/Country.DE');
  assert.deepEqual(de.l10n, { 'de-DE': 'Deutschland', 'fr-FR': 'Allemagne' });
  assert.equal(de.description, 'Germany');

  await page.getByRole('searchbox', { name: 'Search tags' }).fill('fr');
  const matches = page.getByRole('listbox', { name: 'Matching tags' });
  await matches.getByRole('option', { name: 'Country.FR' }).waitFor();
  assert.equal(await matches.getByRole('option').count(), 1);
  await page.getByRole('searchbox', { name: 'Search tags' }).fill('');
  await shot('taxonomy');
});

test('tags a folder and the file inherits it, with its origin', async () => {
  await tagd.native('PUT', '/v1/resources/folder/finance', { name: 'Finance' });
  await tagd.native('PUT', '/v1/resources/file/report.pdf', { parent: { kind: 'folder', key: 'finance' } });
  await page.getByRole('link', { name: 'Resources' }).click();
  await page.getByRole('button', { name: /Finance/ }).click();
  await page.getByLabel('Add a tag').fill('Country.DE');
  await page.getByRole('button', { name: 'Add', exact: true }).click();
  await page.getByRole('list', { name: 'Direct tags' }).getByText('Country.DE').waitFor();
  // An unknown tag: refused in words next to the box, which keeps the text.
  await page.getByLabel('Add a tag').fill('No.such.tag');
  await page.getByRole('button', { name: 'Add', exact: true }).click();
  await page.getByRole('alert').filter({ hasText: /tag/i }).waitFor();
  assert.equal(await page.getByLabel('Add a tag').inputValue(), 'No.such.tag');
  await page.getByLabel('Add a tag').fill('');

  await page.getByRole('button', { name: /report\.pdf/ }).click();
  const inherited = page.getByRole('list', { name: 'Inherited tags' });
  await inherited.getByText('Country.DE').waitFor();
  await inherited.getByRole('button', { name: 'folder/finance' }).waitFor();
  await page.getByLabel('Add a tag').fill('Confidential');
  await page.getByRole('button', { name: 'Add', exact: true }).click();
  await page.getByRole('list', { name: 'Direct tags' }).getByText('Confidential').waitFor();
  await shot('resources');
});

test('tags and untags many resources in one step', async () => {
  for (const k of ['a.txt', 'b.txt', 'c.txt'])
    await tagd.native('PUT', '/v1/resources/file/' + k, { parent: { kind: 'folder', key: 'other' } });
  await page.goto(tagd.url + '/ui/resources?kind=file');
  await page.getByLabel('Select file/a.txt').check();
  await page.getByLabel('Select file/b.txt').check();
  const bar = page.getByRole('form', { name: 'Selected resources' });
  await bar.getByText('2 selected').waitFor();
  await bar.getByLabel('Tag for the selected resources').fill('Country.FR');
  await bar.getByRole('button', { name: 'Tag all', exact: true }).click();
  await bar.getByRole('status').filter({ hasText: 'Tagged 2 of 2 resources.' }).waitFor();
  const tagged = async (k) => (await tagd.native('GET', `/v1/resources/file/${k}/tags`)).items.map((t) => t.name);
  assert.deepEqual(await tagged('a.txt'), ['Country.FR']);
  assert.deepEqual(await tagged('b.txt'), ['Country.FR']);
  assert.deepEqual(await tagged('c.txt'), []);
  await bar.getByRole('button', { name: 'Untag all' }).click();
  await bar.getByRole('status').filter({ hasText: 'Untagged 2 of 2 resources.' }).waitFor();
  assert.deepEqual(await tagged('a.txt'), []);
  await bar.getByRole('button', { name: 'Clear selection' }).click();
  assert.equal(await page.getByRole('form', { name: 'Selected resources' }).count(), 0);
});

test('query: count and results as you type, column of a syntax error, URL holds it', async () => {
  await page.getByRole('link', { name: 'Query' }).click();
  const box = page.getByRole('textbox', { name: 'Query', exact: true });
  await box.fill('Country.* and (');
  await page.getByRole('alert').filter({ hasText: /column 16/ }).waitFor();
  assert.equal(await box.getAttribute('aria-invalid'), 'true');
  await box.fill('Country.*');
  await page.getByText(/1 resource matches/).waitFor();
  await page.getByLabel('include inherited tags').check();
  await page.getByText(/2 resources match/).waitFor();
  await page.getByRole('table').getByText('report.pdf').waitFor();
  const url = new URL(page.url());
  assert.equal(url.pathname, '/ui/query');
  assert.equal(url.searchParams.get('q'), 'Country.*');
  assert.equal(url.searchParams.get('effective'), '1');
  await shot('query');
  // The link shares the query: a fresh load of it answers the same.
  await page.goto(url.toString());
  await page.getByText(/2 resources match/).waitFor();
});

test('renames a subtree after a confirmation that counts what it touches', async () => {
  await page.getByRole('link', { name: 'Taxonomy' }).click();
  await page.getByRole('tree').getByRole('treeitem', { name: 'Country' }).click();
  // Each row shows how many resources carry the tag or its subtree: the folder carries
  // Country.DE.
  assert.equal(await page.locator('[data-name="Country"] .uses').textContent(), '1');
  assert.equal(await page.locator('[data-name="Country"] .uses').getAttribute('title'),
    '0 resources directly, 1 with its subtree');
  await page.getByLabel('Full name (rename or move)').fill('Nation');
  await page.getByRole('button', { name: 'Save' }).click();
  const dlg = page.getByRole('dialog', { name: 'Rename Country?' });
  await dlg.getByText('changes 3 tags and 1 resource').waitFor();
  await dlg.getByRole('button', { name: 'Rename' }).click();
  await page.getByRole('heading', { name: 'Nation' }).waitFor();
  await page.getByRole('tree').getByRole('treeitem', { name: 'Nation' }).waitFor();
  assert.equal(await page.getByRole('tree').getByRole('treeitem', { name: 'Country' }).count(), 0);
  // The folder carries the renamed tag.
  await page.goto(tagd.url + '/ui/resources?kind=folder&key=finance');
  await page.getByRole('list', { name: 'Direct tags' }).getByText('Nation.DE').waitFor();
});

test('travels back in time: the taxonomy and a resource as of a past revision', async () => {
  await page.getByRole('link', { name: 'History' }).click();
  const row = page.getByRole('row').filter({ hasText: 'tag Country → Nation' });
  await row.waitFor();
  const rev = Number(await row.getByRole('cell').first().textContent());
  await shot('history');
  await page.getByLabel('View as of revision', { exact: true }).fill(String(rev - 1));
  await page.getByRole('button', { name: 'Travel' }).click();
  await page.getByRole('status').filter({ hasText: `Viewing revision ${rev - 1}` }).waitFor();
  await page.getByRole('link', { name: 'Taxonomy' }).click();
  assert.equal(new URL(page.url()).searchParams.get('asof'), String(rev - 1));
  await page.getByRole('tree').getByRole('treeitem', { name: 'Country' }).waitFor();
  assert.equal(await page.getByRole('button', { name: 'New tag' }).count(), 0);
  await shot('taxonomy-as-of');
  await page.goto(tagd.url + `/ui/resources?kind=folder&key=finance&asof=${rev - 1}`);
  await page.getByRole('list', { name: 'Direct tags' }).getByText('Country.DE').waitFor();
  // The file's effective tags then, each inherited one with the ancestor it came from.
  await page.goto(tagd.url + `/ui/resources?kind=file&key=report.pdf&asof=${rev - 1}`);
  const inheritedThen = page.getByRole('list', { name: 'Inherited tags' });
  await inheritedThen.getByText('Country.DE').waitFor();
  await inheritedThen.getByRole('button', { name: 'folder/finance' }).waitFor();
  // A query as of then names the tags of then, and finds what inherited them then.
  await page.goto(tagd.url + `/ui/query?q=Country.DE&effective=1&asof=${rev - 1}`);
  await page.getByText(`2 resources match as of revision ${rev - 1}`).waitFor();
  await page.getByRole('table').getByText('report.pdf').waitFor();
  // Back to now, the old name is an alias of the renamed tag (docs/taxonomy.md): the same
  // resources match, now.
  await page.getByRole('button', { name: 'Back to now' }).click();
  await page.locator('p.count').filter({ hasText: /^2 resources match(?! as of)/ }).waitFor();
  await page.goto(tagd.url + `/ui/resources?kind=folder&key=finance&asof=${rev - 1}`);
  await page.getByRole('list', { name: 'Direct tags' }).getByText('Country.DE').waitFor();
  await page.getByRole('button', { name: 'Back to now' }).click();
  await page.getByRole('list', { name: 'Direct tags' }).getByText('Nation.DE').waitFor();
  // As of a time before anything was written: revision 0, no tags.
  await page.getByRole('link', { name: 'History' }).click();
  await page.getByLabel('or as of a time').fill('2001-01-01T00:00:00');
  await page.getByRole('status').filter({ hasText: 'Viewing revision 0' }).waitFor();
  await page.getByRole('link', { name: 'Taxonomy' }).click();
  await page.getByText('0 tags', { exact: true }).waitFor();
  await page.getByRole('button', { name: 'Back to now' }).click();
  await page.getByRole('tree').getByRole('treeitem', { name: 'Nation' }).waitFor();
});

test('tag groups: create, add tags, order by keyboard and by dragging, exclusive', async () => {
  await page.getByRole('link', { name: 'Groups' }).click();
  const form = page.getByRole('form', { name: 'New group' });
  await form.getByLabel('New group').fill('Nations');
  await form.getByLabel(/exclusive/).check();
  await form.getByRole('button', { name: 'Create group' }).click();
  await page.getByRole('heading', { name: 'Nations' }).waitFor();
  const add = page.getByLabel('Add a tag to the group');
  for (const t of ['Nation.DE', 'Nation.FR', 'Confidential']) {
    await add.fill(t);
    await page.getByRole('button', { name: 'Add', exact: true }).click();
    await page.getByRole('list', { name: 'Tags of Nations, in order' }).getByText(t, { exact: true }).waitFor();
  }
  const order = async () => {
    const g = (await tagd.native('GET', '/v1/groups')).items.find((x) => x.name === 'Nations');
    const names = new Map((await tagd.native('GET', `/v1/tags?group=${g.id}`)).items.map((t) => [t.id, t.name]));
    return { exclusive: g.exclusive, tags: g.tags.map((id) => names.get(id)) };
  };
  assert.deepEqual(await order(), { exclusive: true, tags: ['Nation.DE', 'Nation.FR', 'Confidential'] });
  // From the keyboard: focus Confidential's Up button and press it twice, then save.
  await page.getByRole('button', { name: 'Move Confidential up' }).focus();
  await page.keyboard.press('Enter');
  await page.getByRole('button', { name: 'Move Confidential up' }).press('Enter');
  await page.getByRole('button', { name: 'Save order' }).click();
  await eventually(async () => (await order()).tags[0] === 'Confidential');
  assert.deepEqual((await order()).tags, ['Confidential', 'Nation.DE', 'Nation.FR']);
  // By dragging Nation.FR onto the first place.
  const items = page.getByRole('list', { name: 'Tags of Nations, in order' }).getByRole('listitem');
  await items.nth(2).dragTo(items.nth(0));
  await page.getByRole('button', { name: 'Save order' }).click();
  await eventually(async () => (await order()).tags[0] === 'Nation.FR');
  assert.deepEqual((await order()).tags, ['Nation.FR', 'Confidential', 'Nation.DE']);
  await page.getByLabel('exclusive', { exact: true }).uncheck();
  await eventually(async () => (await order()).exclusive === false);
  await shot('groups');
});

test('admin issues a token, shown once', async () => {
  await page.getByRole('link', { name: 'Admin' }).click();
  const tokens = page.getByRole('region', { name: 'Tokens' });
  await tokens.getByLabel('Name').fill('console-reader');
  await tokens.getByRole('button', { name: 'Issue token' }).click();
  const secret = await tokens.getByRole('status').locator('code').textContent();
  assert.match(secret, /^tgd_/);
  await tokens.getByRole('cell', { name: 'console-reader', exact: true }).waitFor();
  await shot('admin');
  const me = await (await fetch(tagd.url + '/v1/me', { headers: { Authorization: 'Bearer ' + secret } })).json();
  assert.deepEqual(me.rights, ['tags:read']);
});

test('admin manages sources and revokes links', async () => {
  const sources = page.getByRole('region', { name: 'External tag sources' });
  await sources.getByLabel('Name').fill('local');
  await sources.getByLabel('URL or file path').fill('/tmp/tags.json');
  await sources.getByRole('button', { name: 'Add source' }).click();
  await sources.getByRole('alert').filter({ hasText: 'local files' }).waitFor();
  assert.equal(await sources.getByLabel('URL or file path').inputValue(), '/tmp/tags.json');
  await sources.getByLabel('URL or file path').fill('https://tags.example.com/tags.json');
  await sources.getByRole('button', { name: 'Add source' }).click();
  await sources.getByRole('cell', { name: 'https://tags.example.com/tags.json' }).waitFor();

  const link = await tagd.native('POST', '/v1/applinks', { resource: { kind: 'folder', key: 'finance' }, role: 'viewer' });
  await page.reload();
  const applinks = page.getByRole('region', { name: 'Applinks' });
  await applinks.getByText(link.id).waitFor();
  page.once('dialog', (d) => d.accept());
  await applinks.getByRole('button', { name: 'Revoke ' + link.id }).click();
  await applinks.getByText('none').waitFor();
  assert.deepEqual((await tagd.native('GET', '/v1/applinks')).items, []);
});

test('admin refreshes external sources and sees each result in words', async () => {
  // A tagd of its own that lets API-registered sources read local files, so that a refresh
  // succeeds (counts) and fails (a bad document) without the network.
  const dir = mkdtempSync(join(tmpdir(), 'tagd-console-src-'));
  writeFileSync(join(dir, 'good.json'), JSON.stringify(['Ext.a', 'Ext.b']));
  writeFileSync(join(dir, 'bad.json'), '{not json');
  const t2 = await startTagd(['--sources-allow-local', '1']);
  const p = await newPage();
  try {
    await t2.native('POST', '/v1/sources', { name: 'good', url: join(dir, 'good.json') });
    await t2.native('POST', '/v1/sources', { name: 'bad', url: join(dir, 'bad.json') });
    await signIn(p, ADMIN_TOKEN, t2.url);
    await p.getByRole('link', { name: 'Admin' }).click();
    const sources = p.getByRole('region', { name: 'External tag sources' });
    await sources.getByRole('button', { name: 'Refresh good' }).click();
    await sources.getByRole('status', { name: 'Refresh of good' })
      .filter({ hasText: 'Refreshed: 3 created, 0 updated, 0 deleted, 0 unchanged.' }).waitFor();
    assert.equal((await t2.native('GET', '/v1/tags/Ext.b')).source, 'good');
    // Refresh all: the failing source says why next to it, and stops no other.
    writeFileSync(join(dir, 'good.json'), JSON.stringify(['Ext.a']));
    await sources.getByRole('button', { name: 'Refresh all' }).click();
    await sources.getByRole('status', { name: 'Refresh of good' })
      .filter({ hasText: '0 created, 0 updated, 1 deleted, 2 unchanged' }).waitFor();
    const bad = sources.getByRole('status', { name: 'Refresh of bad' });
    await bad.filter({ hasText: /^Refresh failed: \S/ }).waitFor();
    assert.equal(await bad.locator('.error').count(), 1);
    assert.equal((await t2.native('GET', '/v1/tags/Ext.b')).deleted, true);
    await sources.scrollIntoViewIfNeeded();
    await p.evaluate(() => window.scrollBy(0, -40)); // the heading too
    await shot('admin-sources', p);
    // A principal without the admin right (what a refresh takes) has no Refresh to press, even
    // on the page's own URL.
    const writer = await t2.token(['tags:read', 'tags:write'], 'writer');
    const q = await newPage();
    await signIn(q, writer, t2.url);
    await q.goto(t2.url + '/ui/admin');
    await q.getByRole('button', { name: 'Sign out' }).waitFor();
    assert.equal(await q.getByRole('button', { name: /^Refresh/ }).count(), 0);
    await q.context().close();
  } finally {
    await p.context().close();
    await t2.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('admin creates an applink and a public link, shown once with a copy button, and revokes them', async () => {
  await page.goto(tagd.url + '/ui/admin');
  await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: tagd.url });
  const applinks = page.getByRole('region', { name: 'Applinks' });
  await applinks.getByLabel('Resource key').fill('finance');
  await applinks.getByLabel('Role').selectOption('contributor');
  await applinks.getByRole('button', { name: 'Create applink' }).click();
  const shown = applinks.getByRole('status');
  await shown.getByText(/New applink to folder\/finance, shown once/).waitFor();
  const [id, token] = await shown.locator('code').allTextContents();
  const listed = (await tagd.native('GET', '/v1/applinks')).items;
  assert.deepEqual(listed.map((l) => [l.id, l.role]), [[id, 'contributor']]);
  assert.ok(token && !listed.some((l) => 'access_token' in l));
  await shown.getByRole('button', { name: 'Copy access token' }).click();
  await shown.getByText('Copied.').waitFor();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), token);
  // The token answered works with the id, through the Oracle dialect's headers.
  const r = await fetch(tagd.url + '/documents/api/1.2/folders/finance/tags', { headers: { appLinkID: id, accessToken: token } });
  assert.notEqual(r.status, 401);
  await page.reload();
  await applinks.getByRole('cell', { name: id, exact: true }).waitFor();
  assert.equal(await applinks.getByText(token).count(), 0); // shown once
  page.once('dialog', (d) => d.accept());
  await applinks.getByRole('button', { name: 'Revoke ' + id }).click();
  await applinks.getByText('none').waitFor();

  const pub = page.getByRole('region', { name: 'Public links' });
  await pub.getByLabel('Resource key').fill('no-such-folder');
  await pub.getByRole('button', { name: 'Create public link' }).click();
  await pub.getByRole('alert').filter({ hasText: 'does not exist' }).waitFor();
  assert.equal(await pub.getByLabel('Resource key').inputValue(), 'no-such-folder');
  await pub.getByLabel('Resource key').fill('finance');
  await pub.getByLabel(/Access code/).fill('short');
  await pub.getByRole('button', { name: 'Create public link' }).click();
  await pub.getByRole('alert').filter({ hasText: 'access_code' }).waitFor();
  await pub.getByLabel(/Access code/).fill('a-long-access-code');
  await pub.getByRole('button', { name: 'Create public link' }).click();
  const pid = await pub.getByRole('status').locator('code').textContent();
  await pub.getByRole('cell', { name: 'viewer, protected' }).waitFor();
  assert.deepEqual((await tagd.native('GET', '/v1/publiclinks')).items.map((l) => [l.id, l.protected]), [[pid, true]]);
  page.once('dialog', (d) => d.accept());
  await pub.getByRole('button', { name: 'Revoke ' + pid }).click();
  await pub.getByText('none').waitFor();
  assert.deepEqual((await tagd.native('GET', '/v1/publiclinks')).items, []);
});

test('every control of every view has an accessible name', async () => {
  for (const view of ['tags', 'groups', 'resources?kind=folder&key=finance', 'query?q=Nation.*', 'history', 'admin']) {
    await page.goto(tagd.url + '/ui/' + view);
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
    await page.waitForTimeout(300);
    const unnamed = await page.evaluate(() => {
      const out = [];
      for (const el of document.querySelectorAll('input, textarea, select, button, a[href], [tabindex="0"]')) {
        const name = el.getAttribute('aria-label') || el.getAttribute('aria-labelledby') ||
          (el.labels && el.labels.length) || (el.tagName === 'BUTTON' || el.tagName === 'A' ? el.textContent.trim() : '');
        if (!name) out.push(el.outerHTML.slice(0, 120));
      }
      return out;
    });
    assert.deepEqual(unnamed, [], view);
  }
});

test('a read-only token sees no write controls', async () => {
  const token = await tagd.token(['tags:read'], 'reader');
  const p = await newPage();
  await signIn(p, token);
  await p.getByLabel('Signed in as').getByText('read', { exact: true }).waitFor();
  await p.getByRole('tree').getByRole('treeitem', { name: 'Nation' }).click();
  await p.getByRole('heading', { name: 'Nation' }).waitFor();
  assert.equal(await p.getByRole('button', { name: 'New tag' }).count(), 0);
  assert.equal(await p.getByRole('button', { name: 'Save' }).count(), 0);
  assert.equal(await p.getByRole('button', { name: /Delete/ }).count(), 0);
  assert.equal(await p.getByRole('link', { name: 'Admin' }).count(), 0);
  await p.getByRole('link', { name: 'Groups' }).click();
  await p.getByRole('button', { name: /Nations/ }).click();
  await p.getByRole('list', { name: 'Tags of Nations, in order' }).getByText('Nation.DE').waitFor();
  assert.equal(await p.getByRole('button', { name: /Create group|Save order|Move|Delete group/ }).count(), 0);
  await p.getByRole('link', { name: 'Taxonomy' }).click();
  await p.goto(tagd.url + '/ui/resources?kind=folder&key=finance');
  await p.getByRole('list', { name: 'Direct tags' }).getByText('Nation.DE').waitFor();
  assert.equal(await p.getByLabel('Add a tag').count(), 0);
  assert.equal(await p.getByRole('button', { name: /^Remove/ }).count(), 0);
  await shot('read-only', p);
  // Revoked while signed in: the next answer (401) signs the console out, saying why.
  const id = (await tagd.native('GET', '/v1/tokens?kind=api')).items.find((t) => t.name === 'reader').id;
  await tagd.native('DELETE', '/v1/tokens/' + id);
  await p.getByRole('link', { name: 'Query' }).click();
  await p.getByRole('textbox', { name: 'Query', exact: true }).fill('kind:folder');
  await p.getByRole('alert').filter({ hasText: /Signed out: token revoked/ }).waitFor();
  await p.getByLabel('API token').waitFor();
  await p.context().close();
});

test('a second organization sees nothing of the first', async () => {
  const org = await tagd.native('POST', '/v1/organizations', { name: 'Other' });
  const { token } = await tagd.native('POST', '/v1/tokens', {
    name: 'other-admin', rights: ['admin'], organization_id: org.id,
  });
  const p = await newPage();
  await signIn(p, token);
  await p.getByLabel('Signed in as').getByText('Other / default').waitFor();
  await p.getByText('0 tags', { exact: true }).waitFor();
  await p.getByRole('link', { name: 'Resources' }).click();
  await p.getByText('0 resources', { exact: true }).waitFor();
  await p.getByRole('link', { name: 'Query' }).click();
  await p.getByRole('textbox', { name: 'Query', exact: true }).fill('kind:folder');
  await p.getByText(/0 resources match/).waitFor();
  await p.getByRole('link', { name: 'History' }).click();
  await p.getByText('newest revision').waitFor();
  assert.equal(await p.getByRole('row').filter({ hasText: /Country|Nation|finance/ }).count(), 0);
  await p.context().close();
});

// WCAG 2 contrast of every visible text against its nearest opaque background: 4.5:1, or
// 3:1 for large text (24px, or 18.66px bold). Disabled controls are exempt, as WCAG has them.
function lowContrast() {
  const rgb = (c) => (c.match(/[\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = (v) => ((v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const bg = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] === 1)) return c.slice(0, 3);
    }
    return rgb(getComputedStyle(document.body).backgroundColor).slice(0, 3);
  };
  const out = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (!n.textContent.trim() || !el || el.closest('.sr, [disabled], dialog:not([open])')) continue;
    const st = getComputedStyle(el);
    if (st.visibility === 'hidden' || st.display === 'none' || !el.getClientRects().length) continue;
    const fg = rgb(st.color).slice(0, 3);
    const [a, b] = [lum(fg), lum(bg(el))].sort((x, y) => y - x);
    const ratio = (a + 0.05) / (b + 0.05);
    const size = parseFloat(st.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(st.fontWeight) >= 700);
    if (ratio < (large ? 3 : 4.5)) out.push(`${n.textContent.trim().slice(0, 30)}: ${ratio.toFixed(2)}`);
  }
  return out;
}

test('text is readable: contrast in light and dark', async () => {
  for (const scheme of ['light', 'dark']) {
    const p = await newPage({ colorScheme: scheme });
    await signIn(p, ADMIN_TOKEN);
    for (const view of ['tags', 'groups', 'resources?kind=folder&key=finance', 'query?q=Nation.*', 'history', 'admin']) {
      await p.goto(tagd.url + '/ui/' + view);
      await p.getByRole('button', { name: 'Sign out' }).waitFor();
      await p.waitForTimeout(300);
      assert.deepEqual(await p.evaluate(lowContrast), [], `${scheme} ${view}`);
    }
    await p.context().close();
  }
});

test("the installation's admin switches organization and back", async () => {
  await page.goto(tagd.url + '/ui/tags');
  const who = page.getByLabel('Signed in as');
  const sw = who.getByRole('combobox', { name: 'Organization' });
  await sw.selectOption({ label: 'Other' });
  await who.getByText('Other / default', { exact: true }).waitFor();
  await page.getByText('0 tags', { exact: true }).waitFor();
  const issued = (await tagd.native('GET', '/v1/tokens?organization_id=org_2')).items
    .find((t) => t.name === 'console: TAGD_ADMIN_TOKEN');
  assert.ok(issued && !issued.revoked_at && issued.expires_at);
  await sw.selectOption({ label: 'default' });
  await who.getByText('default / default', { exact: true }).waitFor();
  await page.getByRole('tree').getByRole('treeitem', { name: 'Nation' }).waitFor();
  const after = (await tagd.native('GET', '/v1/tokens?organization_id=org_2')).items
    .find((t) => t.id === issued.id);
  assert.ok(!after || after.revoked_at, 'the switched token is revoked');
});

test('stays small in the DOM with 5,000 tags, at phone width and in dark mode', async () => {
  const names = [];
  for (let i = 0; i < 5000; i++) names.push({ name: `Bulk.g${Math.floor(i / 100)}.t${i}` });
  for (let i = 0; i < names.length; i += 1000)
    await tagd.native('POST', '/v1/tags', { tags: names.slice(i, i + 1000) });
  const p = await newPage({ viewport: { width: 390, height: 844 }, colorScheme: 'dark' });
  await signIn(p, ADMIN_TOKEN);
  await p.getByText(/^50\d\d tags$/).waitFor({ timeout: 20000 });
  await p.getByRole('searchbox', { name: 'Search tags' }).fill('t49');
  await p.getByRole('listbox').getByRole('option', { name: 'Bulk.g49.t4900' }).waitFor();
  await p.getByText(/111 of 50\d\d tags match/).waitFor();
  const rows = await p.locator('.row').count();
  assert.ok(rows < 80, `${rows} rows in the DOM`);
  await shot('phone-dark', p);
  await p.context().close();
});

// ---- issue 22: sign-in with a password, the workspace switcher, history filters, live ----

const PW = 'correct horse battery';

async function signInWithPassword(p, login, password) {
  await p.goto(tagd.url + '/ui/');
  await p.getByLabel('Login', { exact: true }).fill(login);
  await p.getByLabel('Password', { exact: true }).fill(password);
  await p.getByRole('button', { name: 'Sign in', exact: true }).click();
}

// A native call with another credential or workspace than tagd.native's.
async function call(method, path, { token = ADMIN_TOKEN, body, headers = {} } = {}) {
  const r = await fetch(tagd.url + path, {
    method,
    headers: { Authorization: 'Bearer ' + token, 'Content-Type': 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : null };
}

test('signs in with login and password, refuses a wrong one, signs out', async () => {
  await tagd.native('POST', '/v1/users', { login: 'steward', password: PW, rights: ['tags:read', 'tags:write'] });
  const p = await newPage();
  await signInWithPassword(p, 'steward', 'not the password');
  await p.getByRole('alert').filter({ hasText: /wrong login or password/ }).waitFor();
  assert.equal(await p.getByLabel('Login', { exact: true }).inputValue(), 'steward');
  await shot('signin-password', p);
  await p.getByLabel('Password', { exact: true }).fill(PW);
  await p.getByRole('button', { name: 'Sign in', exact: true }).click();
  const who = p.getByLabel('Signed in as');
  await who.getByText('steward', { exact: true }).waitFor();
  await who.getByText('edit taxonomy, read').waitFor();
  assert.equal(await p.getByRole('link', { name: 'Admin' }).count(), 0);
  // The session is an HttpOnly, SameSite=Strict cookie; no script of the page can read it.
  const [cookie] = (await p.context().cookies()).filter((c) => c.name === 'tagd_session');
  assert.ok(cookie && cookie.httpOnly && cookie.sameSite === 'Strict' && !cookie.secure);
  assert.equal(await p.evaluate(() => document.cookie.includes('tagd_session')), false);
  assert.equal(await p.evaluate(() => sessionStorage.getItem('tagd.token')), null);
  // It writes as its user, and a reload keeps it signed in.
  await p.getByRole('button', { name: 'New tag' }).click();
  const dlg = p.getByRole('dialog', { name: 'New tag' });
  await dlg.getByLabel('Full name').fill('Steward.made');
  await dlg.getByRole('button', { name: 'Create' }).click();
  await dlg.waitFor({ state: 'detached' });
  assert.equal((await tagd.native('GET', '/v1/tags/Steward.made')).created_by, 'steward');
  // What the session cookie wrote came through the console, and History says so beside what
  // a token wrote through the native API.
  await tagd.native('POST', '/v1/tags', { name: 'Steward.by_token' });
  await p.getByRole('link', { name: 'History' }).click();
  const made = p.getByRole('row').filter({ hasText: 'tag Steward.made' });
  await made.getByRole('cell', { name: 'console', exact: true }).waitFor();
  await p.getByRole('row').filter({ hasText: 'tag Steward.by_token' })
    .getByRole('cell', { name: 'native', exact: true }).waitFor();
  const form = p.getByRole('form', { name: 'Filter the history' });
  await form.getByLabel('Tag', { exact: true }).fill('Steward.*');
  await form.getByRole('button', { name: 'Filter', exact: true }).click();
  await eventually(async () => (await historyRows(p)).length === 3);
  await shot('history-console', p);
  await p.reload();
  await who.getByText('steward', { exact: true }).waitFor();
  await p.getByRole('button', { name: 'Sign out' }).click();
  await p.getByLabel('Login', { exact: true }).waitFor();
  // Signed out is ended on the server, not only forgotten by the browser.
  const ended = await fetch(tagd.url + '/v1/me', { headers: { Cookie: 'tagd_session=' + cookie.value } });
  assert.equal(ended.status, 401);
  await p.context().close();
});

test('the workspace switcher changes what the tag list shows', async () => {
  const ws = await tagd.native('POST', '/v1/organizations/org_1/workspaces', { name: 'Staging' });
  const made = await call('POST', '/v1/tags', { body: { name: 'StagingOnly' }, headers: { 'X-Tagd-Workspace': ws.id } });
  assert.equal(made.status, 201);
  await tagd.native('POST', '/v1/tags', { name: 'DefaultOnly' });
  const p = await newPage();
  await signIn(p, ADMIN_TOKEN);
  const tree = p.getByRole('tree', { name: 'Tag tree' });
  await tree.getByRole('treeitem', { name: 'DefaultOnly' }).waitFor();
  const who = p.getByLabel('Signed in as');
  await who.getByRole('combobox', { name: 'Workspace' }).selectOption({ label: 'Staging' });
  await who.getByText('default / Staging', { exact: true }).waitFor();
  await tree.getByRole('treeitem', { name: 'StagingOnly' }).waitFor();
  assert.equal(await tree.getByRole('treeitem', { name: 'DefaultOnly' }).count(), 0);
  // Every view follows: resources and queries of the default workspace are not there.
  await p.getByRole('link', { name: 'Resources' }).click();
  await p.getByText('0 resources', { exact: true }).waitFor();
  await shot('workspace', p);
  // History holds this workspace's changes only, also those that come live.
  await p.getByRole('link', { name: 'History' }).click();
  await p.getByRole('cell', { name: 'tag StagingOnly' }).waitFor();
  await p.getByText('workspace Staging, newest revision').waitFor();
  assert.equal(await p.getByRole('cell', { name: 'tag DefaultOnly' }).count(), 0);
  await p.getByRole('status').filter({ hasText: /^Live: new changes appear/ }).waitFor();
  await tagd.native('POST', '/v1/tags', { name: 'DefaultLive' });
  await call('POST', '/v1/tags', { body: { name: 'StagingLive' }, headers: { 'X-Tagd-Workspace': ws.id } });
  await p.getByRole('cell', { name: 'tag StagingLive' }).waitFor({ timeout: 3000 });
  assert.equal(await p.getByRole('cell', { name: 'tag DefaultLive' }).count(), 0);
  // And back, the choice held across a reload meanwhile.
  await p.reload();
  await who.getByText('default / Staging', { exact: true }).waitFor();
  await who.getByRole('combobox', { name: 'Workspace' }).selectOption({ label: 'default' });
  await who.getByText('default / default', { exact: true }).waitFor();
  await p.getByRole('link', { name: 'Taxonomy' }).click();
  await tree.getByRole('treeitem', { name: 'DefaultOnly' }).waitFor();
  assert.equal(await tree.getByRole('treeitem', { name: 'StagingOnly' }).count(), 0);
  await p.context().close();
});

async function historyRows(p) {
  return p.locator('table.changes tbody tr').allInnerTexts();
}

test('history filters by tag, resource and principal', async () => {
  const historian = await tagd.token(['tags:read', 'tags:write', 'tags:assign'], 'historian');
  await tagd.native('POST', '/v1/tags', { name: 'Hist.x' });
  await call('POST', '/v1/tags', { token: historian, body: { name: 'Hist.y' } });
  await tagd.native('PUT', '/v1/resources/folder/hist', { name: 'Hist folder' });
  await call('POST', '/v1/resources/folder/hist/tags', { token: historian, body: { tags: ['Hist.x'] } });
  const p = await newPage();
  await signIn(p, ADMIN_TOKEN);
  await p.goto(tagd.url + '/ui/history');
  await p.getByRole('cell', { name: 'tag Hist.y' }).waitFor();
  const form = p.getByRole('form', { name: 'Filter the history' });
  const filtered = async (want) => {
    await form.getByRole('button', { name: 'Filter', exact: true }).click();
    await eventually(async () => {
      const rows = await historyRows(p);
      return rows.length === want.length && want.every((w, i) => rows[i].includes(w));
    });
  };
  await form.getByLabel('Tag', { exact: true }).fill('Hist.x');
  await filtered(['Hist.x on folder/hist', 'tag Hist.x']);
  await form.getByLabel('Tag', { exact: true }).fill('');
  await form.getByLabel('Principal', { exact: true }).fill('historian');
  await filtered(['Hist.x on folder/hist', 'tag Hist.y']);
  // Each row says the API its change came through: these were made through the native API.
  assert.ok((await historyRows(p)).every((r) => r.includes('historian') && r.includes('native')));
  await form.getByLabel('Principal', { exact: true }).fill('');
  await form.getByLabel('Resource', { exact: true }).fill('folder/hist');
  await filtered(['Hist.x on folder/hist', 'resource folder/hist']);
  await shot('history-filtered', p);
  // A resource that does not exist is said so, next to the filters.
  await form.getByLabel('Resource', { exact: true }).fill('folder/none-such');
  await form.getByRole('button', { name: 'Filter', exact: true }).click();
  await p.getByRole('alert').filter({ hasText: /not found/ }).waitFor();
  await form.getByRole('button', { name: 'Clear filters' }).click();
  // Everything again: the rows of every filter above together.
  await eventually(async () => {
    const rows = (await historyRows(p)).join('\n');
    return ['tag Hist.x', 'tag Hist.y', 'resource folder/hist', 'Hist.x on folder/hist'].every((w) => rows.includes(w));
  });
  await p.context().close();
});

test('history is live: a change made through the API appears as it is made', async () => {
  const p = await newPage();
  await signIn(p, ADMIN_TOKEN);
  await p.goto(tagd.url + '/ui/history');
  await p.getByRole('status').filter({ hasText: /^Live: new changes appear/ }).waitFor();
  const form = p.getByRole('form', { name: 'Filter the history' });
  await form.getByLabel('Principal', { exact: true }).fill('TAGD_ADMIN_TOKEN');
  await form.getByRole('button', { name: 'Filter', exact: true }).click();
  await p.getByRole('status').filter({ hasText: /^Live: new changes appear/ }).waitFor();
  const historian = await tagd.token(['tags:write'], 'live-other');
  await call('POST', '/v1/tags', { token: historian, body: { name: 'Live.other' } });
  const t0 = Date.now();
  await tagd.native('POST', '/v1/tags', { name: 'Live.now' });
  // Polling would take up to 5 s; the stream brings it at once.
  await p.getByRole('cell', { name: 'tag Live.now' }).waitFor({ timeout: 3000 });
  assert.ok(Date.now() - t0 < 3000);
  assert.equal(await p.getByRole('cell', { name: 'tag Live.other' }).count(), 0);
  // Paused, nothing new comes in.
  await form.getByLabel('Live').uncheck();
  await p.getByRole('status').filter({ hasText: /^Paused/ }).waitFor();
  await tagd.native('POST', '/v1/tags', { name: 'Live.later' });
  await p.waitForTimeout(1000);
  assert.equal(await p.getByRole('cell', { name: 'tag Live.later' }).count(), 0);
  await p.context().close();
});

test('the console type-checks (tsc --noEmit, strict)', async () => {
  await typecheck;
});
