import assert from 'node:assert/strict';

/** Asserts a write was accepted, showing the refusal's body when it was not. */
export async function ok(res: Promise<Response>): Promise<void> {
  const r = await res;
  assert.ok(r.ok, `${r.status} ${await r.text()}`);
}

/**
 * A Dataplane of the default mesh on 127.0.0.1: one inbound (a service name, or its full tags) and
 * outbounds to services by port.
 */
export const dataplane = (name: string, port: number, service: string | Record<string, string>, outbound: [string, number][] = []) => ({
  type: 'Dataplane', mesh: 'default', name,
  networking: {
    address: '127.0.0.1', inbound: [{ port, tags: typeof service === 'string' ? { 'kuma.io/service': service } : service }],
    ...(outbound.length ? { outbound: outbound.map(([s, p]) => ({ port: p, tags: { 'kuma.io/service': s } })) } : {}),
  },
});
