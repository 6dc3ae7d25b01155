// What the zone serves a proxyless app must be accepted by the data plane itself: every resource of the
// golden proxyless case goes through grpc-js-xds's own decoders (the ones its XdsClient NACKs with).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { PROXYLESS_CERT_PROVIDER } from '@meshfed/shared';
import { generateCase, load, TESTDATA } from '../plugins/golden-cases.test-support.js';
import { makeSnapshot } from '../snapshot.js';

interface Decoder {
  decode(context: unknown, resource: { type_url: string; value: Buffer }): { name: string; value?: object; error?: string };
  resourcesEqual(a: object | null, b: object | null): boolean;
}
const decoders: Partial<Record<string, Decoder>> = {};
let resources: { HTTP_CONNECTION_MANGER_TYPE_URL: string; decodeSingleResource(typeUrl: string, value: Buffer): unknown };

before(async () => {
  // Servers only accept the RBAC filter with it (the README says so); read when the module loads.
  process.env['GRPC_XDS_EXPERIMENTAL_RBAC'] = 'true';
  // register() installs the HTTP filters (fault, router, RBAC) the decoders validate against, as in an app.
  const xds = await import('@grpc/grpc-js-xds') as { register(): void };
  xds.register();
  const dir = '@grpc/grpc-js-xds/build/src/xds-resource-type';
  const [l, c, e] = await Promise.all([
    import(`${dir}/listener-resource-type.js`), import(`${dir}/cluster-resource-type.js`), import(`${dir}/endpoint-resource-type.js`),
  ]) as [{ ListenerResourceType: { get(): Decoder } }, { ClusterResourceType: { get(): Decoder } }, { EndpointResourceType: { get(): Decoder } }];
  resources = await import('@grpc/grpc-js-xds/build/src/resources.js') as typeof resources;
  decoders['listener'] = l.ListenerResourceType.get();
  decoders['cluster'] = c.ClusterResourceType.get();
  decoders['endpoint'] = e.EndpointResourceType.get();
});

describe('proxyless configuration, decoded by grpc-js-xds', () => {
  const { zone, views } = load(join(TESTDATA, 'proxyless'));
  const proxylessIds = new Set(views.filter((v) => v.type === 'Dataplane' && (v.spec['networking'] as { proxyless?: boolean } | undefined)?.proxyless === true).map((v) => `${v.mesh}.${v.name}`));
  const context = {
    server: { serverUri: 'unix:///meshfed', channelCredentials: { type: 'insecure' }, serverFeatures: [] },
    bootstrap: { certificateProviders: { [PROXYLESS_CERT_PROVIDER]: { pluginName: 'file_watcher', config: {} } } },
  };

  it('every listener, cluster and endpoint assignment is accepted', () => {
    const { proxies } = generateCase(zone, views);
    const generated = proxies.filter(([id]) => proxylessIds.has(id));
    assert.equal(generated.length, proxylessIds.size, 'each proxyless dataplane went through the proxyless generator');
    for (const [id, g] of generated) {
      assert.ok(g.resources, `${id} has configuration: ${g.problems.join('; ')}`);
      const snapshot = makeSnapshot(g.resources);
      let decoded = 0;
      for (const kind of ['listener', 'cluster', 'endpoint'] as const) {
        for (const entry of snapshot.types[kind].entries.values()) {
          const r = decoders[kind]!.decode(context, { type_url: entry.resource.type_url, value: Buffer.from(entry.resource.value) });
          assert.equal(r.error, undefined, `${id}: ${kind} ${entry.key} is refused by grpc-js-xds`);
          assert.equal(r.name, entry.key);
          decoded++;
        }
      }
      // Routes travel inline in the listeners, never as RDS.
      assert.equal(snapshot.types.route.entries.size, 0, `${id} has no RDS resources`);
      assert.ok(decoded >= 3, `${id}: ${decoded} resources decoded`);
    }
  });

  it('a proxyless client asks for a service by name and finds its routes inline', () => {
    const { proxies } = generateCase(zone, views);
    const web = proxies.find(([id]) => id === 'default.web-1')![1];
    const listener = makeSnapshot(web.resources!).types.listener.entries.get('backend');
    assert.ok(listener, 'web-1 has the listener xds:///backend asks for');
    const r = decoders['listener']!.decode(context, { type_url: listener.resource.type_url, value: Buffer.from(listener.resource.value) });
    const any = (r.value as { api_listener?: { api_listener?: { value: Buffer } } }).api_listener?.api_listener;
    assert.ok(any, 'an api_listener');
    const hcm = resources.decodeSingleResource(resources.HTTP_CONNECTION_MANGER_TYPE_URL, any.value) as { route_config?: { virtual_hosts: { routes: unknown[] }[] } };
    assert.ok(hcm?.route_config, 'route configuration inline');
    assert.ok(hcm.route_config.virtual_hosts[0]!.routes.length >= 2, 'the header route and the weighted split');
  });

  it('every policy change of a cluster is a change to grpc-js-xds, which compares updates by the old value\'s keys', () => {
    const decodeBackend = (vs: typeof views) => {
      const web = generateCase(zone, vs).proxies.find(([id]) => id === 'default.web-1')![1];
      const entry = makeSnapshot(web.resources!).types.cluster.entries.get('backend')!;
      const r = decoders['cluster']!.decode(context, { type_url: entry.resource.type_url, value: Buffer.from(entry.resource.value) });
      assert.equal(r.error, undefined);
      return r.value!;
    };
    // Outlier detection alone (connection limits would show as a change of their own).
    const onlyOutliers = views.map((v) => {
      if (v.type !== 'MeshCircuitBreaker') return v;
      const spec = structuredClone(v.spec) as { spec: { to: { default: Record<string, unknown> }[] } };
      delete spec.spec.to[0]!.default['connectionLimits'];
      return { ...v, spec };
    });
    const withBreaker = decodeBackend(onlyOutliers);
    const without = decodeBackend(views.filter((v) => v.type !== 'MeshCircuitBreaker'));
    // Adding outlier detection to a cluster that had none must not look like "no change".
    assert.equal(decoders['cluster']!.resourcesEqual(without, withBreaker), false, 'adding MeshCircuitBreaker is seen');
    assert.equal(decoders['cluster']!.resourcesEqual(withBreaker, without), false, 'removing it is seen');
  });
});

