import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HangarError } from '../../../src/lib/errors.js';
import { formatReference, lookupNames, normalizeReference, parseReference } from '../../../src/oci/reference.js';

const D = `sha256:${'a'.repeat(64)}`;

describe('image references', () => {
  const valid: Array<[string, { domain?: string; path: string; tag?: string; digest?: string; canonical: string }]> = [
    ['hello', { path: 'hello', canonical: 'hello:latest' }],
    ['hello:latest', { path: 'hello', tag: 'latest', canonical: 'hello:latest' }],
    ['hello:v1.2.3-rc_1', { path: 'hello', tag: 'v1.2.3-rc_1', canonical: 'hello:v1.2.3-rc_1' }],
    ['team/app:1', { path: 'team/app', tag: '1', canonical: 'team/app:1' }],
    ['a.b/c', { domain: 'a.b', path: 'c', canonical: 'a.b/c:latest' }],
    ['my-app__x.y', { path: 'my-app__x.y', canonical: 'my-app__x.y:latest' }],
    ['a---b', { path: 'a---b', canonical: 'a---b:latest' }],
    ['localhost:5000/hello:latest', { domain: 'localhost:5000', path: 'hello', tag: 'latest', canonical: 'localhost:5000/hello:latest' }],
    ['localhost/hello', { domain: 'localhost', path: 'hello', canonical: 'localhost/hello:latest' }],
    ['registry.example.com:443/ns/sub/app:tag', { domain: 'registry.example.com:443', path: 'ns/sub/app', tag: 'tag', canonical: 'registry.example.com:443/ns/sub/app:tag' }],
    ['[::1]:5000/app', { domain: '[::1]:5000', path: 'app', canonical: '[::1]:5000/app:latest' }],
    ['Registry.Example.com/app', { domain: 'Registry.Example.com', path: 'app', canonical: 'Registry.Example.com/app:latest' }],
    [`hello@${D}`, { path: 'hello', digest: D, canonical: `hello@${D}` }],
    [`hello:1@${D}`, { path: 'hello', tag: '1', digest: D, canonical: `hello@${D}` }],
    [`localhost:5000/hello@${D}`, { domain: 'localhost:5000', path: 'hello', digest: D, canonical: `localhost:5000/hello@${D}` }],
    ['docker.io/library/nginx:1.25', { path: 'nginx', tag: '1.25', canonical: 'nginx:1.25' }],
    ['docker.io/foo/bar', { path: 'foo/bar', canonical: 'foo/bar:latest' }],
    ['localhost:5000', { path: 'localhost', tag: '5000', canonical: 'localhost:5000' }],
    [`${'a'.repeat(255)}`, { path: 'a'.repeat(255), canonical: `${'a'.repeat(255)}:latest` }],
    [`a:${'t'.repeat(128)}`, { path: 'a', tag: 't'.repeat(128), canonical: `a:${'t'.repeat(128)}` }],
  ];
  for (const [input, want] of valid) {
    it(`accepts ${input.length > 60 ? `${input.slice(0, 57)}...` : input}`, () => {
      const r = parseReference(input);
      assert.equal(r.domain, want.domain);
      assert.equal(r.path, want.path);
      assert.equal(r.tag, want.tag);
      assert.equal(r.digest, want.digest);
      assert.equal(formatReference(r), want.canonical);
    });
  }

  const invalidRefs: Array<[string, RegExp]> = [
    ['', /empty/],
    ['Hello', /lowercase/],
    ['team/App:1', /lowercase/],
    ['hello:', /empty tag/],
    ['hello:-x', /invalid tag/],
    ['hello:.x', /invalid tag/],
    [`hello:${'t'.repeat(129)}`, /invalid tag/],
    ['hello:a/b', /invalid|empty/],
    ['../hello', /invalid registry host '\.\.'/],
    ['a/../b', /invalid repository name component '\.\.'/],
    ['a//b', /empty path component/],
    ['/hello', /empty path component|missing/],
    ['hello/', /empty path component|missing repository/],
    ['-hello', /invalid repository name component/],
    ['hello-', /invalid repository name component/],
    ['a..b', /invalid repository name component/],
    ['a___b', /invalid repository name component/],
    ['hel lo', /whitespace/],
    ['hello@sha256:abc', /64 lowercase hex/],
    [`hello@sha256:${'A'.repeat(64)}`, /64 lowercase hex/],
    [`hello@sha512:${'a'.repeat(128)}`, /unsupported digest algorithm/],
    ['hello@', /malformed digest/],
    ['hello@latest', /malformed digest/],
    [`@${D}`, /missing image name/],
    [':tag', /missing image name/],
    [`${'a'.repeat(256)}`, /too long/],
    [`${'a'.repeat(200)}/${'b'.repeat(60)}`, /too long/],
    [`x/${'a'.repeat(1000)}`, /too long/],
    ['host.com:99999/app', /invalid registry port/],
    ['-bad.com/app', /invalid registry host/],
    ['localhost:5000/', /missing repository name/],
  ];
  for (const [input, re] of invalidRefs) {
    it(`refuses ${JSON.stringify(input.length > 60 ? `${input.slice(0, 57)}...` : input)}`, () => {
      assert.throws(
        () => parseReference(input, 'image'),
        (e: unknown) => e instanceof HangarError && e.kind === 'invalid_argument' && e.field === 'image' && re.test(e.message),
      );
    });
  }

  it('normalises and names the lookups', () => {
    assert.equal(normalizeReference('hello'), 'hello:latest');
    assert.deepEqual(lookupNames(parseReference('localhost:5000/ns/hello:1')), ['localhost:5000/ns/hello', 'ns/hello']);
    assert.deepEqual(lookupNames(parseReference('hello')), ['hello']);
  });
});
