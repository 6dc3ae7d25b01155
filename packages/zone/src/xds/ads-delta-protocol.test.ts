import assert from 'node:assert/strict';
import { test } from 'node:test';
import { adsCodec, XDS_TYPE_URL, type XdsKind } from '@meshfed/shared';
import { deltaProtocol } from './ads-delta-protocol.js';
import { edsCluster, listener, loadAssignment } from './fixtures.test-support.js';
import { makeSnapshot, type XdsSnapshot } from './snapshot.js';

/** A sidecar calling `services`: a listener, a cluster and endpoints per service; `port` moves the listener of the first. */
function sidecar(services: string[], port = 10001): XdsSnapshot {
  const listeners: Record<string, ReturnType<typeof listener>> = {};
  services.forEach((s, i) => {
    const name = `outbound:${s}:${i === 0 ? port : 10001 + i}`;
    listeners[name] = listener(name, i === 0 ? port : 10001 + i);
  });
  return makeSnapshot({
    listener: listeners,
    cluster: Object.fromEntries(services.map((s) => [s, edsCluster(s)])),
    endpoint: Object.fromEntries(services.map((s) => [s, loadAssignment(s, 8080)])),
  });
}

/** A proxy that subscribed like Envoy and ACKed its first configuration. */
function connected(initial: XdsSnapshot) {
  let current: XdsSnapshot | undefined = initial;
  const proto = deltaProtocol(() => current, 4 * 1024 * 1024);
  const ack = (type: XdsKind, nonce: string) => proto.onFrame(adsCodec.encodeDeltaRequest({ type_url: XDS_TYPE_URL[type], response_nonce: nonce }));
  const first = [
    proto.onFrame(adsCodec.encodeDeltaRequest({ node: { id: 'default.web' }, type_url: XDS_TYPE_URL.cluster, resource_names_subscribe: ['*'] })),
    proto.onFrame(adsCodec.encodeDeltaRequest({ type_url: XDS_TYPE_URL.listener, resource_names_subscribe: ['*'] })),
    proto.onFrame(adsCodec.encodeDeltaRequest({ type_url: XDS_TYPE_URL.endpoint, resource_names_subscribe: [...initial.types.endpoint.entries.keys()] })),
  ].flatMap((s) => s.out);
  for (const o of first) ack(o.type, o.nonce);
  const change = (next: XdsSnapshot) => {
    const previous = current;
    current = next;
    return proto.onChange(next, previous).out;
  };
  return { change, ack };
}

function removedOf(bytes: Buffer): string[] {
  const d = adsCodec.decodeDeltaResponse(bytes);
  assert.ok(d.ok);
  return d.value.removed_resources ?? [];
}

test('a removed outbound goes listener first, then its endpoints, then its cluster: nothing a listener uses goes before it', () => {
  const p = connected(sidecar(['backend', 'db']));
  const out = p.change(sidecar(['backend']));
  assert.deepEqual(out.map((o) => o.type), ['listener', 'endpoint', 'cluster']);
  assert.deepEqual(out.map((o) => removedOf(o.bytes)), [['outbound:db:10002'], ['db'], ['db']]);
});

test('updates go before removals; a removal of a type whose update is in flight goes with the answer to it', () => {
  const p = connected(sidecar(['backend', 'db']));
  // backend's listener moves to another port (a new listener, the old one removed), and db goes.
  const out = p.change(sidecar(['backend'], 10005));
  assert.deepEqual(out.map((o) => [o.type, o.resources, removedOf(o.bytes).length]), [['listener', 1, 0], ['endpoint', 0, 1], ['cluster', 0, 1]]);
  const listenerUpdate = out[0]!;
  const later = p.ack('listener', listenerUpdate.nonce).out;
  assert.deepEqual(later.map((o) => [o.type, removedOf(o.bytes).sort()]), [['listener', ['outbound:backend:10001', 'outbound:db:10002']]]);
});
