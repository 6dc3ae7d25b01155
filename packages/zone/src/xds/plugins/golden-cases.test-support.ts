// The golden cases' input (testdata/<case>/input.yaml) and what the generators make of it: shared by the
// golden test and the tests that check generated configuration against a real data plane's rules.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { dependencyVersions, type GeneratedProxy, type GenerationContext, ResourceMemo } from '../generate/context.js';
import { GENERATORS } from '../generate/generators.js';
import { RulesCache } from '../generate/matching.js';
import { buildZoneIndex, type ResourceView, type ZoneIndex } from '../generate/zone-index.js';
import { isPolicyKind } from '../rules/index.js';

export const TESTDATA = join(dirname(fileURLToPath(import.meta.url)), 'testdata');

/** What the index gets from input.yaml: `type`, `name`, `mesh`, `labels`, and the rest as the stored spec. */
export function load(dir: string): { zone: string; views: (ResourceView & { type: string })[] } {
  const docs = parseAllDocuments(readFileSync(join(dir, 'input.yaml'), 'utf8')).map((d) => d.toJS() as Record<string, unknown> | null).filter((d) => d !== null);
  const views = docs.map((d) => {
    const { type, name, mesh, labels, ...spec } = d as { type: string; name: string; mesh?: string; labels?: Record<string, string> };
    return { type, name, ...(mesh !== undefined ? { mesh } : {}), labels: labels ?? {}, spec };
  });
  return { zone: 'zone-1', views };
}

/** Every local proxy through the generator the reconciler would use (generators.ts), with the zone's index. */
export function generateCase(zone: string, views: readonly (ResourceView & { type: string })[]): { index: ZoneIndex; proxies: [string, GeneratedProxy][] } {
  const of = (type: string) => views.filter((v) => v.type === type);
  const index = buildZoneIndex({
    zone, meshes: of('Mesh'), dataplanes: of('Dataplane'), zoneIngresses: of('ZoneIngress'), zoneEgresses: of('ZoneEgress'),
    externalServices: of('ExternalService'), policies: views.filter((v) => isPolicyKind(v.type)), secrets: of('Secret'),
    meshGateways: of('MeshGateway'), meshGatewayRoutes: of('MeshGatewayRoute'),
  });
  const rules = new RulesCache();
  const cert = { version: 'v1', certPem: 'CERT', keyPem: 'KEY', caPem: 'CA' };
  const ctx: GenerationContext = { index, versions: dependencyVersions(index, rules), memo: new ResourceMemo(), rules, certificate: () => cert, certificateProblem: () => undefined, meshCaPem: (mesh) => `CA of ${mesh}` };
  return { index, proxies: GENERATORS.flatMap((g) => [...g.ids(index)].map((id) => [id, g.generate(ctx, index, id)!] as [string, GeneratedProxy])) };
}
