import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type AdsDiscoveryResponse, XDS_TYPE_URL } from '@meshfed/shared';
import { AdsRelay, type AppSink } from './ads-relay.js';

const node = { id: 'default.web', locality: { zone: 'zone-1' } };
const names = ['identity_cert:secret:default', 'mesh_ca:secret:default'];
const frame = (n: number) => Buffer.from([n]);
const res = (type_url: string, version_info: string, nonce: string): AdsDiscoveryResponse => ({ type_url, version_info, nonce, resources: [] });

function app() {
  const frames: Buffer[] = [];
  const sink: AppSink = { write: (f) => frames.push(f) };
  return { sink, frames };
}

test('the first request carries the agent\'s node and its secret subscription; the app\'s node is dropped', () => {
  const r = new AdsRelay({ node, secretNames: names });
  assert.deepEqual(r.upstreamOpened(), [{ node, type_url: XDS_TYPE_URL.secret, resource_names: names }]);
  const a = app();
  assert.equal(r.appOpened(a.sink), true);
  assert.deepEqual(r.appRequest({ node: { id: 'app' }, type_url: XDS_TYPE_URL.listener, resource_names: ['l'] }), { type_url: XDS_TYPE_URL.listener, resource_names: ['l'] });
  // The app does not steer the agent's secrets.
  assert.equal(r.appRequest({ type_url: XDS_TYPE_URL.secret, resource_names: ['x'] }), undefined);
});

test('secrets go to the agent and are ACKed or NACKed; other types to the app, or ACKed in its place', () => {
  const r = new AdsRelay({ node, secretNames: names });
  r.upstreamOpened();
  const secret = res(XDS_TYPE_URL.secret, 'v1', '1');
  assert.deepEqual(r.upstreamResponse(secret, frame(1)), { kind: 'secret' });
  assert.deepEqual(r.secretHandled(secret), { type_url: XDS_TYPE_URL.secret, resource_names: names, response_nonce: '1', version_info: 'v1' });
  const bad = res(XDS_TYPE_URL.secret, 'v2', '2');
  assert.deepEqual(r.secretHandled(bad, 'no key'), { type_url: XDS_TYPE_URL.secret, resource_names: names, response_nonce: '2', version_info: 'v1', error_detail: { code: 3, message: 'no key' } });

  // No app yet, but its subscription is known from an earlier stream: the agent ACKs with its names.
  const a = app();
  r.appOpened(a.sink);
  r.appRequest({ type_url: XDS_TYPE_URL.endpoint, resource_names: ['backend'] });
  r.appClosed(a.sink);
  assert.deepEqual(r.upstreamResponse(res(XDS_TYPE_URL.endpoint, 'e1', '3'), frame(3)), {
    kind: 'ack', request: { type_url: XDS_TYPE_URL.endpoint, version_info: 'e1', response_nonce: '3', resource_names: ['backend'] },
  });
  const b = app();
  r.appOpened(b.sink);
  assert.deepEqual(r.upstreamResponse(res(XDS_TYPE_URL.endpoint, 'e2', '4'), frame(4)), { kind: 'to-app' });
  assert.deepEqual(b.frames, [frame(4)]);
});

test('one app stream at a time; one leaving mid-push is ACKed for, so the zone never waits', () => {
  const r = new AdsRelay({ node, secretNames: names });
  r.upstreamOpened();
  const a = app();
  assert.equal(r.appOpened(a.sink), true);
  assert.equal(r.appOpened(app().sink), false);
  r.appRequest({ type_url: XDS_TYPE_URL.cluster, resource_names: [] });
  r.appRequest({ type_url: XDS_TYPE_URL.listener, resource_names: [] });
  r.upstreamResponse(res(XDS_TYPE_URL.cluster, 'c1', '5'), frame(5));
  r.upstreamResponse(res(XDS_TYPE_URL.listener, 'l1', '6'), frame(6));
  r.appRequest({ type_url: XDS_TYPE_URL.cluster, version_info: 'c1', response_nonce: '5', resource_names: [] });
  // The cluster was ACKed by the app; the listener was not: the agent answers it.
  assert.deepEqual(r.appClosed(a.sink), [{ type_url: XDS_TYPE_URL.listener, version_info: 'l1', response_nonce: '6', resource_names: [] }]);
  assert.equal(r.appConnected, false);
  assert.equal(r.appOpened(app().sink), true);
});

test('a new upstream stream replays the app\'s latest request per type with empty nonces; requests wait while it is down', () => {
  const r = new AdsRelay({ node, secretNames: names });
  r.upstreamOpened();
  const a = app();
  r.appOpened(a.sink);
  r.appRequest({ type_url: XDS_TYPE_URL.listener, resource_names: ['grpc/server?xds.resource.listening_address=127.0.0.1:8080'] });
  r.appRequest({ type_url: XDS_TYPE_URL.cluster, resource_names: [] });
  r.upstreamClosed();
  assert.equal(r.appRequest({ type_url: XDS_TYPE_URL.route, version_info: 'r1', response_nonce: '9', resource_names: ['r'], error_detail: { message: 'bad' } }), undefined);
  assert.deepEqual(r.upstreamOpened(), [
    { node, type_url: XDS_TYPE_URL.secret, resource_names: names },
    { type_url: XDS_TYPE_URL.listener, resource_names: ['grpc/server?xds.resource.listening_address=127.0.0.1:8080'] },
    { type_url: XDS_TYPE_URL.cluster, resource_names: [] },
    { type_url: XDS_TYPE_URL.route, resource_names: ['r'] },
  ]);
  // The app's stream stayed open throughout: replayed answers flow to it.
  assert.equal(r.appConnected, true);
});

test('an app\'s answer to the old upstream stream goes to the new one as a plain request: its nonce could collide', () => {
  const r = new AdsRelay({ node, secretNames: names });
  r.upstreamOpened();
  const a = app();
  r.appOpened(a.sink);
  r.appRequest({ type_url: XDS_TYPE_URL.cluster, resource_names: [] });
  r.upstreamResponse(res(XDS_TYPE_URL.cluster, 'c1', '2'), frame(1));
  // The zone restarts; the new stream numbers its responses from 1 again.
  r.upstreamClosed();
  r.upstreamOpened();
  r.upstreamResponse(res(XDS_TYPE_URL.cluster, 'c2', '1'), frame(2));
  // The app NACKs what the old stream sent it (nonce 2): not an answer to anything on the new stream.
  assert.deepEqual(r.appRequest({ type_url: XDS_TYPE_URL.cluster, version_info: 'c0', response_nonce: '2', resource_names: [], error_detail: { message: 'bad' } }),
    { type_url: XDS_TYPE_URL.cluster, resource_names: [] });
  // Its answer to the new stream's response passes as is.
  assert.deepEqual(r.appRequest({ type_url: XDS_TYPE_URL.cluster, version_info: 'c2', response_nonce: '1', resource_names: [] }),
    { type_url: XDS_TYPE_URL.cluster, version_info: 'c2', response_nonce: '1', resource_names: [] });
});
