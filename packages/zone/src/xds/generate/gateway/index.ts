/**
 * A builtin gateway's Envoy configuration (Kuma's gateway plugin): one listener per port of the
 * MeshGateway it serves, on the Dataplane's address (listeners.ts), with the MeshGatewayRoutes
 * attached to each (routes.ts) sending to clusters reached as a sidecar reaches them, with mesh mTLS as
 * the gateway's own identity (backends.ts). The drafts are shaped by the policy plugins that apply to
 * gateways (targetRef MeshGateway, or Mesh / MeshSubset selecting the gateway's listeners) from the
 * gateway's rules, then encoded once. A cross-mesh listener terminates mesh mTLS from every mesh
 * (cross-mesh.ts). What cannot be served (a bad certificate, a route to nowhere) is left out and said
 * on the instance, never a NACK.
 */
import { type Any, identityCertSecretName, meshCaSecretName, SERVICE_TAG, spiffeId, XDS_TYPE_URL } from '@meshfed/shared';
import { dep, type GeneratedProxy, type GenerationContext } from '../context.js';
import { encodeEnvoy, identitySecret, meshCaSecret } from '../envoy-parts.js';
import { identityOf, servicesOfIdentity } from '../sidecar.js';
import type { BuiltinGatewayInstance } from '../zone-index.js';
import { type GatewayDraft, PLUGINS } from '../../plugins/index.js';
import { CROSS_MESH_CA_SECRET, crossMeshCaSecret, crossMeshDownstreamTls } from '../cross-mesh.js';
import { GatewayBackends } from './backends.js';
import { encodeGatewayListener, gatewayListeners } from './listeners.js';
import { hasTcpDestination, routesToMissingGateways } from './routes.js';

export { compareHostnames, hostCovers, intersectHostnames } from './hostnames.js';
export { compareGatewayMatches } from './routes.js';
export { gatewayListenerName } from './listeners.js';

/**
 * A cross-mesh listener's chain terminates mesh mTLS from any mesh's proxy (the gateway's own identity,
 * every mesh's CA). Without mTLS in its mesh, or before any CA is here, it is left out and said.
 */
function secureCrossMesh(ctx: GenerationContext, draft: GatewayDraft, deps: string[], problems: string[], secrets: Map<string, Any>): void {
  const crossMesh = draft.listeners.filter((l) => l.crossMesh);
  if (crossMesh.length === 0) return;
  const ca = draft.mtls ? crossMeshCaSecret(ctx, deps, problems) : undefined;
  if (!draft.mtls) problems.push(`MeshGateway ${draft.gateway}: crossMesh listeners need mTLS in mesh ${draft.mesh.name} (other meshes' proxies reach them over mesh mTLS); port(s) ${crossMesh.map((l) => l.port).join(', ')} left out`);
  if (!ca) {
    draft.listeners.splice(0, draft.listeners.length, ...draft.listeners.filter((l) => !l.crossMesh));
    return;
  }
  secrets.set(CROSS_MESH_CA_SECRET, ca);
  for (const l of crossMesh) l.chains.splice(0, l.chains.length, { transportSocket: crossMeshDownstreamTls(draft.mesh.name) });
}

export function generateGateway(ctx: GenerationContext, instance: BuiltinGatewayInstance): GeneratedProxy {
  const dp = instance.dataplane;
  const mesh = ctx.index.meshes.get(dp.mesh);
  if (!mesh) return { resources: undefined, deps: [dep.mesh(dp.mesh)], problems: [`mesh "${dp.mesh}" does not exist in this zone (yet)`] };
  const deps: string[] = [dep.mesh(dp.mesh), dep.gateways(dp.mesh), dep.policies(dp.mesh)];
  const problems: string[] = [...instance.problems];
  const secrets = new Map<string, Any>();
  const identity = identityOf(dp);
  const mtls = mesh.mtlsBackend !== undefined;
  if (mtls) {
    if (identity === undefined) return { resources: undefined, deps, problems: [...problems, 'the gateway has no kuma.io/service tag to name its identity'] };
    deps.push(dep.certificate(dp.mesh, identity));
    const cert = ctx.certificate(dp.mesh, identity);
    if (!cert) return { resources: undefined, deps, problems: [...problems, ctx.certificateProblem(dp.mesh, identity) ?? `no certificate for ${servicesOfIdentity(identity).map((s) => spiffeId(dp.mesh, s)).join(', ')} yet`] };
    secrets.set(identityCertSecretName(dp.mesh), ctx.memo.get(`identity:${dp.mesh}:${identity}`, cert.version, () => encodeEnvoy(XDS_TYPE_URL.secret, identitySecret(dp.mesh, cert.certPem, cert.keyPem))));
    secrets.set(meshCaSecretName(dp.mesh), ctx.memo.get(`ca:${dp.mesh}`, cert.caPem, () => encodeEnvoy(XDS_TYPE_URL.secret, meshCaSecret(dp.mesh, cert.caPem))));
  }
  const backends = new GatewayBackends(ctx, mesh);
  const gw = instance.gateway;
  const draft: GatewayDraft = {
    mesh, mtls, zone: ctx.index.zone, gateway: gw?.name ?? '', service: dp.spec.networking.gateway?.tags[SERVICE_TAG] ?? '',
    listeners: gw ? gatewayListeners(instance, gw, mesh, backends, problems) : [],
    clusters: backends.clusters, backends,
  };
  secureCrossMesh(ctx, draft, deps, problems, secrets);
  const matched = ctx.rules.get(ctx.index, dp);
  if (matched) {
    deps.push(matched.dep);
    problems.push(...matched.warnings);
    for (const plugin of PLUGINS) {
      const rules = matched.rules[plugin.kind];
      if (!rules) continue;
      if (plugin.applyGateway) plugin.applyGateway(draft, rules as never, { problems });
      else {
        // As Kuma: such a type does not act on builtin gateways. Said only for a policy aimed at this
        // gateway by name; a mesh-wide one (an allow-all permission) is simply not for gateways.
        const aimed = draft.mesh.policies.filter((p) => p.type === plugin.kind && rules.policies.includes(p.name) && p.spec.targetRef.kind === 'MeshGateway');
        if (aimed.length > 0) problems.push(`${plugin.kind} ${aimed.map((p) => p.name).join(', ')}: ${plugin.kind} does not apply to builtin gateways (it is ignored here)`);
      }
    }
  }
  problems.push(...routesToMissingGateways(mesh));
  // Envoy refuses a TCP proxy to nowhere: a TCP or TLS port no route reaches is left out.
  for (const l of [...draft.listeners]) {
    if (l.tcpProxy === undefined || hasTcpDestination(l.tcpProxy)) continue;
    problems.push(`MeshGateway ${draft.gateway} ${l.protocol} port ${l.port}: no MeshGatewayRoute with tcp rules nor MeshTCPRoute routes it; the listener is left out`);
    draft.listeners.splice(draft.listeners.indexOf(l), 1);
  }
  const listeners = new Map<string, Any>();
  for (const l of draft.listeners) for (const c of l.chains) for (const s of c.secrets ?? []) secrets.set(s['name'] as string, ctx.memo.encode(XDS_TYPE_URL.secret, s));
  for (const l of draft.listeners) listeners.set(l.name, ctx.memo.encode(XDS_TYPE_URL.listener, encodeGatewayListener(l)));
  const clusters = new Map<string, Any>();
  for (const c of draft.clusters) clusters.set(c.name, ctx.memo.encode(XDS_TYPE_URL.cluster, c.cluster));
  deps.push(...backends.deps);
  return {
    resources: { listener: listeners, cluster: clusters, endpoint: backends.endpoints, secret: secrets },
    deps, problems: [...new Set([...problems, ...backends.problems])],
  };
}
