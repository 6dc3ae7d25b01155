import { type AnyPolicy, computeProxyRules, isSelected, type Policy, type ProxyRules, type ProxyView, selectionOf } from '../rules/index.js';
import { dep } from './dependencies.js';
import { fastHash } from './fast-hash.js';
import { canonicalJson } from '@meshfed/shared';
import { type DialledServices, type GatewayEntry, type LocalDataplane, type MeshIndex, proxylessServices, SERVICE_TAG, type ZoneIndex } from './zone-index.js';

/**
 * The matching step of generation: which policies apply to each proxy (its rules, rules/), computed
 * once per distinct set of what matching reads (mesh, inbound and gateway tags and ports, outbound
 * services), not once per instance: the instances of one service share their rules, and a policy change
 * recomputes each distinct set once.
 */

/**
 * Where a proxy's inbounds sit in the view matching sees: the instance's own address is left out, so
 * that instances share their rules. An inbound's rules are found under `inboundKeyOf`.
 */
const VIEW_ADDRESS = 'dataplane';

export const inboundRulesKey = (ib: { readonly address?: string | undefined; readonly port: number }): string => `${ib.address ?? VIEW_ADDRESS}:${ib.port}`;

export interface MatchedRules {
  /** The dependency key of these rules (dep.rules): proxies name it, the reconciler versions it. */
  readonly dep: string;
  readonly rules: ProxyRules;
  /** Changes iff the rules do: part of a sidecar template's key, and the dependency's version. */
  readonly fingerprint: string;
  readonly warnings: readonly string[];
}

const NO_RULES: ProxyRules = {};

const sortedTags = (tags: Readonly<Record<string, string>>) => Object.keys(tags).sort().map((k) => `${k}=${tags[k]}`).join(',');

const keys = new WeakMap<LocalDataplane['spec'], { mesh: string; key: string }>();

const gatewayKeys = new WeakMap<GatewayEntry['spec'], string>();

/**
 * Everything of a dataplane the matching step reads, as one string: with a builtin gateway, the
 * MeshGateway it serves too (its listeners' tags and hostnames select policies).
 */
export function matchingKeyOf(dp: LocalDataplane, gateway?: GatewayEntry, dialled?: DialledServices): string {
  const key = dialled ? `${dataplaneKey(dp)}\u0001*${dialled.version}` : dataplaneKey(dp);
  if (!gateway) return key;
  let g = gatewayKeys.get(gateway.spec);
  if (g === undefined) gatewayKeys.set(gateway.spec, (g = fastHash(canonicalJson(gateway.spec))));
  return `${key}\u0001${gateway.name}\u0003${g}`;
}

function dataplaneKey(dp: LocalDataplane): string {
  const cached = keys.get(dp.spec);
  if (cached?.mesh === dp.mesh) return cached.key;
  const n = dp.spec.networking;
  let key = `${dp.mesh}\u0001${n.gateway ? `${n.gateway.type ?? ''}:${sortedTags(n.gateway.tags)}` : ''}\u0001`;
  for (const ib of n.inbound ?? []) key += `${ib.address ?? ''}\u0003${ib.port}\u0003${sortedTags(ib.tags)}\u0004`;
  key += `\u0001${[...new Set((n.outbound ?? []).map((o) => o.tags[SERVICE_TAG]!))].sort().join(',')}`;
  keys.set(dp.spec, { mesh: dp.mesh, key });
  return key;
}

/** The view of a dataplane matching sees (see VIEW_ADDRESS); a builtin gateway's listeners sit there too. */
function matchingView(dp: LocalDataplane, gateway: GatewayEntry | undefined, dialled: DialledServices | undefined): ProxyView {
  const n = dp.spec.networking;
  const outbound = dialled ? { outbound: dialled.services.map((s) => ({ port: 0, tags: { [SERVICE_TAG]: s } })) } : {};
  return {
    name: dp.name, mesh: dp.mesh,
    spec: { ...dp.spec, networking: { ...n, address: VIEW_ADDRESS, ...outbound } },
    ...(gateway ? { gateway: { name: gateway.name, labels: gateway.labels, spec: gateway.spec } } : {}),
  };
}

/**
 * The services a proxyless app may dial (it declares no outbounds: it dials any service by name), which
 * its `to` rules are computed for; undefined for any other dataplane, whose outbounds say it.
 */
const dialledBy = (mesh: MeshIndex, dp: LocalDataplane): DialledServices | undefined => (dp.spec.networking.proxyless ? proxylessServices(mesh) : undefined);

const gatewayOf = (index: ZoneIndex, dp: LocalDataplane): GatewayEntry | undefined =>
  (dp.spec.networking.gateway?.type === 'BUILTIN' ? index.builtinGateways.get(dp.proxyId)?.gateway : undefined);

/** Whether any of `changed` selects the proxy, or cannot tell (a problem resolving its target). */
function reaches(changed: readonly AnyPolicy[], view: ProxyView, all: readonly AnyPolicy[]): boolean {
  const routes = all.filter((p): p is Policy<'MeshHTTPRoute'> => p.type === 'MeshHTTPRoute');
  return changed.some((p) => {
    const s = selectionOf(p, view, routes);
    return s.problem !== undefined || isSelected(s);
  });
}

function match(mesh: MeshIndex, view: ProxyView, key: string): MatchedRules {
  const rulesDep = dep.rules(mesh.name, fastHash(key));
  if (mesh.policies.length === 0) return { dep: rulesDep, rules: NO_RULES, fingerprint: '', warnings: [] };
  const rules = computeProxyRules(view, mesh.policies);
  const warnings = [...new Set(Object.values(rules).flatMap((r) => r.warnings))];
  // No policy selecting the proxy is the same rules whether the mesh has policies or not.
  const fingerprint = Object.keys(rules).length === 0 ? '' : fastHash(JSON.stringify(rules));
  return { dep: rulesDep, rules, fingerprint, warnings };
}

/**
 * What changed in a mesh's policies since the previous version: the policies that went or came (an
 * edited policy is both; the index parses a policy once per stored spec, so an unchanged one is the
 * same object), or `all` when the change may reach proxies no changed policy selects by itself (a
 * MeshHTTPRoute, which policies targeting it resolve by name).
 */
type PolicyChange = { readonly all: true } | { readonly all: false; readonly policies: readonly AnyPolicy[] };

function policyChange(before: ReadonlySet<AnyPolicy>, after: readonly AnyPolicy[]): PolicyChange {
  const afterSet = new Set(after);
  const changed = [...after.filter((p) => !before.has(p)), ...[...before].filter((p) => !afterSet.has(p))];
  return changed.some((p) => p.type === 'MeshHTTPRoute') ? { all: true } : { all: false, policies: changed };
}

/**
 * The rules of every dataplane of the zone, kept across runs: an entry is computed again only when its
 * mesh's policies changed (MeshIndex.policiesVersion) in a way that reaches it: when no policy that
 * came, went or changed selects it (nor says it could not resolve what it targets), its rules are the
 * same, and it keeps them without being computed (a policy for 1% of the proxies recomputes 1% of
 * the entries). Bounded by the zone's distinct matching keys: keys no dataplane has any more are
 * dropped on refresh.
 */
export class RulesCache {
  readonly #entries = new Map<string, { policiesVersion: string; readonly view: ProxyView; matched: MatchedRules }>();
  /** Per mesh, its policies as of the latest version seen, and what changed from the version before. */
  readonly #meshes = new Map<string, { readonly version: string; readonly policies: ReadonlySet<AnyPolicy>; readonly previous: string | undefined; readonly change: PolicyChange }>();
  #computed = 0;

  /** Brings every dataplane's rules up to date and sets each one's version (dep → fingerprint) in `versions`. */
  refresh(index: ZoneIndex, versions: Map<string, string>): void {
    const seen = new Set<string>();
    for (const mesh of index.meshes.values()) this.#meshState(mesh);
    for (const dp of index.dataplanes.values()) {
      const mesh = index.meshes.get(dp.mesh);
      if (!mesh) continue;
      const gateway = gatewayOf(index, dp);
      const dialled = dialledBy(mesh, dp);
      const key = matchingKeyOf(dp, gateway, dialled);
      if (seen.has(key)) continue;
      seen.add(key);
      versions.set(this.#entry(mesh, dp, key, gateway, dialled).dep, this.#entries.get(key)!.matched.fingerprint);
    }
    for (const key of this.#entries.keys()) if (!seen.has(key)) this.#entries.delete(key);
    for (const name of this.#meshes.keys()) if (!index.meshes.has(name)) this.#meshes.delete(name);
  }

  /** A dataplane's rules, as of the last refresh (computed now if it was not there then). */
  get(index: ZoneIndex, dp: LocalDataplane): MatchedRules | undefined {
    const mesh = index.meshes.get(dp.mesh);
    if (!mesh) return undefined;
    const gateway = gatewayOf(index, dp);
    const dialled = dialledBy(mesh, dp);
    return this.#entry(mesh, dp, matchingKeyOf(dp, gateway, dialled), gateway, dialled);
  }

  /** Rules computed (not reused) since the start: what a policy change cost. */
  get computed(): number {
    return this.#computed;
  }

  #meshState(mesh: MeshIndex) {
    const known = this.#meshes.get(mesh.name);
    if (known?.version === mesh.policiesVersion) return known;
    const state = {
      version: mesh.policiesVersion, policies: new Set(mesh.policies), previous: known?.version,
      change: known ? policyChange(known.policies, mesh.policies) : ({ all: true } as const),
    };
    this.#meshes.set(mesh.name, state);
    return state;
  }

  #entry(mesh: MeshIndex, dp: LocalDataplane, key: string, gateway: GatewayEntry | undefined, dialled: DialledServices | undefined): MatchedRules {
    const e = this.#entries.get(key);
    if (e && e.policiesVersion === mesh.policiesVersion) return e.matched;
    const state = this.#meshState(mesh);
    if (e && e.policiesVersion === state.previous && !state.change.all && !reaches(state.change.policies, e.view, mesh.policies)) {
      e.policiesVersion = mesh.policiesVersion;
      return e.matched;
    }
    const view = e?.view ?? matchingView(dp, gateway, dialled);
    const matched = match(mesh, view, key);
    this.#computed++;
    this.#entries.set(key, { policiesVersion: mesh.policiesVersion, view, matched });
    return matched;
  }

  get size(): number {
    return this.#entries.size;
  }
}
