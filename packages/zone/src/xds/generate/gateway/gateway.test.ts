import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compareGatewayMatches, compareHostnames, hostCovers, intersectHostnames } from './index.js';

test('hostname intersection: the more specific of two names when one covers the other', () => {
  assert.equal(intersectHostnames('*', 'foo.example.com'), 'foo.example.com');
  assert.equal(intersectHostnames('*.example.com', 'foo.example.com'), 'foo.example.com');
  assert.equal(intersectHostnames('foo.example.com', '*.example.com'), 'foo.example.com');
  assert.equal(intersectHostnames('*.example.com', '*.a.example.com'), '*.a.example.com');
  assert.equal(intersectHostnames('*.example.com', 'example.com'), undefined);
  assert.equal(intersectHostnames('www.other.org', '*.example.com'), undefined);
  assert.equal(hostCovers('*.example.com', 'a.b.example.com'), true);
  assert.equal(hostCovers('*.a.example.com', '*.example.com'), false);
});

test('virtual hosts: exact names, then wildcards (longer first), then *', () => {
  assert.deepEqual(['*', '*.example.com', 'b.example.com', '*.a.example.com', 'a.example.com'].sort(compareHostnames), ['a.example.com', 'b.example.com', '*.a.example.com', '*.example.com', '*']);
});

test("route precedence as Kuma's gateway sorter", () => {
  const m = (path?: [string, string], extra: Record<string, unknown> = {}) => ({ ...(path ? { path: { match: path[0], value: path[1] } } : {}), ...extra }) as never;
  const list = [
    m(undefined),
    m(['REGEX', '^/x$']),
    m(['PREFIX', '/']),
    m(['PREFIX', '/api']),
    m(['PREFIX', '/api'], { method: 'GET' }),
    m(['PREFIX', '/api'], { headers: [{ match: 'PRESENT', name: 'a' }] }),
    m(['EXACT', '/api/health']),
    m(['REGEX', '^/longer$']),
  ];
  const sorted = [...list].sort(compareGatewayMatches).map((x: { path?: { match: string; value: string }; method?: string; headers?: unknown[] }) =>
    `${x.path?.match ?? '-'}:${x.path?.value ?? ''}${x.method ? `:${x.method}` : ''}${x.headers ? `:h${x.headers.length}` : ''}`);
  assert.deepEqual(sorted, ['EXACT:/api/health', 'PREFIX:/api:GET', 'PREFIX:/api:h1', 'PREFIX:/api', 'PREFIX:/', 'REGEX:^/longer$', 'REGEX:^/x$', '-:']);
});
