import assert from 'node:assert/strict';
import { test } from 'node:test';
import protobuf from 'protobufjs';
import { ADS_SERVICE } from './ads-service.js';
import { ADS_SERVICE_NAME, ENVOY_TYPE, envoyProtoInfo, envoyRoot, envoyType, findEnvoyType } from './envoy-proto.js';

test('every type in ENVOY_TYPE is loaded from the bundled Envoy API', () => {
  for (const [key, name] of Object.entries(ENVOY_TYPE)) {
    const type = findEnvoyType(name);
    assert.ok(type, `${key}: ${name} not loaded`);
    assert.equal(type.fullName, `.${name}`);
  }
  const info = envoyProtoInfo();
  assert.deepEqual(info.skipped, [], 'sni_cluster.proto is in this @grpc/grpc-js-xds release');
  assert.ok(info.files > 50, `${info.files} files`);
  assert.ok(info.loadMs >= 0);
});

test('every field of every loaded message resolves (all imports were found)', () => {
  const failures: string[] = [];
  let types = 0;
  const visit = (ns: protobuf.NamespaceBase) => {
    for (const nested of ns.nestedArray) {
      if (nested instanceof protobuf.Type) {
        types++;
        for (const field of nested.fieldsArray) {
          try {
            field.resolve();
          } catch (err) {
            failures.push(`${nested.fullName}.${field.name}: ${(err as Error).message}`);
          }
        }
      }
      if (nested instanceof protobuf.Namespace) visit(nested);
    }
  };
  visit(envoyRoot());
  assert.deepEqual(failures, []);
  assert.ok(types > 300, `${types} message types`);
});

test('lookups of unknown types answer undefined, or throw naming the type', () => {
  assert.equal(findEnvoyType('envoy.config.listener.v3.NoSuchThing'), undefined);
  assert.equal(findEnvoyType('envoy.config.listener.v3'), undefined, 'a namespace is not a type');
  assert.throws(() => envoyType('envoy.nope.Nope'), /envoy\.nope\.Nope/);
});

test('ADS_SERVICE matches AggregatedDiscoveryService as declared in ads.proto', () => {
  const service = envoyRoot().lookupService(ADS_SERVICE_NAME);
  const methods = Object.values(service.methods);
  assert.deepEqual(methods.map((m) => m.name).sort(), Object.keys(ADS_SERVICE).sort());
  for (const m of methods) {
    const def = ADS_SERVICE[m.name];
    assert.ok(def);
    assert.equal(def.path, `/${ADS_SERVICE_NAME}/${m.name}`);
    assert.equal(def.requestStream, m.requestStream === true);
    assert.equal(def.responseStream, m.responseStream === true);
  }
  const sotw = service.methods.StreamAggregatedResources;
  const delta = service.methods.DeltaAggregatedResources;
  assert.equal(sotw?.requestType, 'DiscoveryRequest');
  assert.equal(delta?.responseType, 'DeltaDiscoveryResponse');
});
