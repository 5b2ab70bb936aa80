// tests/clients/launchdarkly.test.mjs: tagd driven by LaunchDarkly's official generated client
// (launchdarkly-api-typescript, pinned in package.json), every answer validated with ajv against
// LaunchDarkly's own OpenAPI document (launchdarkly-openapi.json: the part of it for the
// operations tagd serves, with its source in info.x-subset-of).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import AjvModule from 'ajv';
import ldapi from 'launchdarkly-api-typescript';
import { startTagd, ADMIN_TOKEN } from './tagd.mjs';

const { Configuration, TagsApi, FeatureFlagsApi, SegmentsApi } = ldapi;
const Ajv = AjvModule.default || AjvModule;
const spec = JSON.parse(readFileSync(join(dirname(fileURLToPath(import.meta.url)),
  'launchdarkly-openapi.json'), 'utf8'));
// OpenAPI 3.0 schemas are JSON Schema with extra keywords (format "int64", "string"):
// strict mode off lets ajv ignore those, and every type, enum and required still counts.
const ajv = new Ajv({ strict: false, validateFormats: false, allErrors: true });
ajv.addSchema(spec, 'ld');

function validate(ref, body) {
  const v = ajv.getSchema('ld' + ref);
  assert.ok(v, `no schema ${ref}`);
  assert.ok(v(body), `${ref}: ${ajv.errorsText(v.errors)}\n${JSON.stringify(body)}`);
}

const schema = (name) => `#/components/schemas/${name}`;

// The answer of `status` of an operation, as the OpenAPI document gives it.
function validateAnswer(path, method, status, body) {
  const op = spec.paths[path][method];
  const resp = op.responses[String(status)];
  assert.ok(resp, `${op.operationId} documents no ${status}`);
  validate(resp.content['application/json'].schema.$ref, body);
}

// Runs a client call that must fail; answers the axios response.
async function failing(call) {
  try {
    await call();
  } catch (e) {
    assert.ok(e.response, `no HTTP answer: ${e}`);
    return e.response;
  }
  assert.fail('the call succeeded');
}

const api = (url, token, Cls) => new Cls(new Configuration({ apiKey: token, basePath: url }));

let tagd;
let limited;
before(async () => {
  tagd = await startTagd();
  limited = await startTagd(['--rate-limit', '1', '--rate-burst', '1']);
  for (const [kind, key, tags] of [['flag', 'web/checkout', ['ops', 'beta']],
    ['project', 'web', ['team-web']], ['environment', 'web/prod', ['env.prod']],
    ['segment', 'web/prod/vip', ['ops']], ['metric', 'm1', ['metric-a']],
    ['metric-data-source', 'ds1', ['mds-a']], ['aiconfig', 'a1', ['ai']], ['view', 'v1', ['view-a']]]) {
    const path = `/v1/resources/${kind}/${encodeURIComponent(key)}`;
    await tagd.native('PUT', path, { name: key });
    await tagd.native('POST', `${path}/tags`, { tags, create_missing: true });
  }
});
after(async () => {
  await tagd?.stop();
  await limited?.stop();
});

test('getTags: every kind of the OpenAPI, validated as TagsCollection', async () => {
  const tags = api(tagd.url, ADMIN_TOKEN, TagsApi);
  const all = await tags.getTags();
  validateAnswer('/api/v2/tags', 'get', 200, all.data);
  assert.deepEqual(all.data.items,
    ['ai', 'beta', 'env.prod', 'mds-a', 'metric-a', 'ops', 'team-web', 'view-a']);
  const expect = { flag: ['beta', 'ops'], project: ['team-web'], environment: ['env.prod'],
    segment: ['ops'], metric: ['metric-a'], 'metric-data-source': ['mds-a'], aiconfig: ['ai'],
    view: ['view-a'] };
  const kinds = spec.paths['/api/v2/tags'].get.parameters.find((p) => p.name === 'kind')
    .description.match(/`[a-z-]+`/g).map((k) => k.slice(1, -1));
  assert.deepEqual(kinds.sort(), Object.keys(expect).sort());
  for (const kind of kinds) {
    const r = await tags.getTags([kind]);
    validateAnswer('/api/v2/tags', 'get', 200, r.data);
    assert.deepEqual(r.data.items, expect[kind], kind);
  }
  const two = await tags.getTags(['project', 'view'], undefined, false, 1, 1);
  validateAnswer('/api/v2/tags', 'get', 200, two.data);
  assert.deepEqual(two.data.items, ['view-a']);
  assert.equal(two.data.totalCount, 2);
  const pre = await tags.getTags(undefined, 'me', true, undefined, undefined,
    new Date().toISOString());
  assert.deepEqual(pre.data.items, ['metric-a']);
});

test('getFeatureFlag and patchFeatureFlag: complete FeatureFlag answers', async () => {
  const flags = api(tagd.url, ADMIN_TOKEN, FeatureFlagsApi);
  const got = await flags.getFeatureFlag('web', 'checkout');
  validate(schema('FeatureFlag'), got.data);
  assert.equal(got.data.key, 'checkout');
  assert.deepEqual(got.data.tags, ['beta', 'ops']);
  // The spec's own example: a version test and a description, with a tag added.
  const patched = await flags.patchFeatureFlag('web', 'checkout', {
    comment: 'describe it',
    patch: [{ op: 'test', path: '/version', value: got.data._version },
      { op: 'replace', path: '/description', value: 'The new checkout' },
      { op: 'add', path: '/tags/0', value: 'checkout' }],
  });
  validateAnswer('/api/v2/flags/{projectKey}/{featureFlagKey}', 'patch', 200, patched.data);
  assert.equal(patched.data.description, 'The new checkout');
  assert.deepEqual(patched.data.tags, ['beta', 'checkout', 'ops']);
  assert.equal(patched.data._version, got.data._version + 1);
  // The tag is an assignment: the tag list and the native API see it.
  const listed = await api(tagd.url, ADMIN_TOKEN, TagsApi).getTags(['flag']);
  assert.ok(listed.data.items.includes('checkout'));
  const native = await tagd.native('GET', '/v1/resources/flag/web%2Fcheckout/tags');
  assert.deepEqual(native.items.map((a) => a.name), ['beta', 'checkout', 'ops']);
  // Merge patch through the wrapper, then a read that shows what was written.
  const merged = await flags.patchFeatureFlag('web', 'checkout', {
    merge: { temporary: false, customProperties: { team: { name: 'Team', value: ['web'] } } },
  });
  validate(schema('FeatureFlag'), merged.data);
  const again = await flags.getFeatureFlag('web', 'checkout');
  validate(schema('FeatureFlag'), again.data);
  assert.equal(again.data.temporary, false);
  assert.deepEqual(again.data.customProperties.team.value, ['web']);
  assert.equal(again.data.description, 'The new checkout');
});

test('getSegment and patchSegment: complete UserSegment answers', async () => {
  const segs = api(tagd.url, ADMIN_TOKEN, SegmentsApi);
  const got = await segs.getSegment('web', 'prod', 'vip');
  validate(schema('UserSegment'), got.data);
  const patched = await segs.patchSegment('web', 'prod', 'vip', {
    patch: [{ op: 'test', path: '/version', value: got.data.version },
      { op: 'add', path: '/included/-', value: 'user-7' },
      { op: 'add', path: '/tags/-', value: 'vip' }],
  });
  validateAnswer('/api/v2/segments/{projectKey}/{environmentKey}/{segmentKey}', 'patch', 200,
    patched.data);
  assert.deepEqual(patched.data.included, ['user-7']);
  assert.deepEqual(patched.data.tags, ['ops', 'vip']);
});

test('errors: 400, 401, 403, 404, 409 and 429 in LaunchDarkly\'s documented shapes', async () => {
  const flagPath = '/api/v2/flags/{projectKey}/{featureFlagKey}';
  const flags = api(tagd.url, ADMIN_TOKEN, FeatureFlagsApi);
  let r = await failing(() => flags.patchFeatureFlag('web', 'checkout',
    { patch: [{ op: 'replace', path: '/kind', value: 'bogus' }] }));
  assert.equal(r.status, 400);
  validateAnswer(flagPath, 'patch', 400, r.data);
  assert.equal(r.data.code, 'invalid_request');
  r = await failing(() => api(tagd.url, 'not-a-token', FeatureFlagsApi)
    .patchFeatureFlag('web', 'checkout', { patch: [] }));
  assert.equal(r.status, 401);
  validateAnswer(flagPath, 'patch', 401, r.data);
  r = await failing(() => flags.patchFeatureFlag('web', 'missing', { patch: [] }));
  assert.equal(r.status, 404);
  validateAnswer(flagPath, 'patch', 404, r.data);
  r = await failing(() => flags.patchFeatureFlag('web', 'checkout',
    { patch: [{ op: 'test', path: '/version', value: 99999 }] }));
  assert.equal(r.status, 409);
  validateAnswer(flagPath, 'patch', 409, r.data);
  const reader = await tagd.token(['tags:read'], 'ld-reader');
  r = await failing(() => api(tagd.url, reader, SegmentsApi).patchSegment('web', 'prod', 'vip',
    { patch: [] }));
  assert.equal(r.status, 403);
  validateAnswer('/api/v2/segments/{projectKey}/{environmentKey}/{segmentKey}', 'patch', 403,
    r.data);
  const noRights = await tagd.token([], 'ld-none');
  r = await failing(() => api(tagd.url, noRights, TagsApi).getTags());
  assert.equal(r.status, 403);
  validateAnswer('/api/v2/tags', 'get', 403, r.data);
  r = await failing(() => api(tagd.url, ADMIN_TOKEN, TagsApi).getTags(['flags']));
  assert.equal(r.status, 400);
  validateAnswer('/api/v2/tags', 'get', 400, r.data);
  // One request per second: the second at once is 429, with Retry-After.
  const tags = api(limited.url, ADMIN_TOKEN, TagsApi);
  await tags.getTags();
  r = await failing(() => tags.getTags());
  assert.equal(r.status, 429);
  validateAnswer('/api/v2/tags', 'get', 429, r.data);
  assert.ok(Number(r.headers['retry-after']) >= 1);
});
