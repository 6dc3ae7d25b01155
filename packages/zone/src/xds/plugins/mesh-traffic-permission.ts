import { ENVOY_EXTENSION_NAME, ENVOY_TYPE, SERVICE_TAG, spiffeId } from '@meshfed/shared';
import { type Draft, lazyTyped, meshIdentityFilter, statPrefix } from '../generate/envoy-parts.js';
import type { FromConf, Rule, Subset } from '../rules/index.js';
import type { PolicyPlugin } from './types.js';

type Conf = FromConf<'MeshTrafficPermission'>;
type Principal = Record<string, unknown>;

/**
 * A client subset as an RBAC principal (Kuma's meshtrafficpermission rbac_configurer): the service tag
 * is the SPIFFE id the client's certificate carries, any other tag the `kuma://<tag>/<value>` URI SAN
 * Kuma puts in certificates; a negated tag is `not_id`; several tags must all hold; the empty subset is
 * anyone.
 */
function principalOf(mesh: string, subset: Subset): Principal {
  const ids = subset.map((t): Principal => {
    const uri = t.key === SERVICE_TAG ? spiffeId(mesh, t.value) : `kuma://${t.key}/${t.value}`;
    const id = { authenticated: { principal_name: { exact: uri } } };
    return t.not ? { not_id: id } : id;
  });
  if (ids.length === 0) return { any: true };
  return ids.length === 1 ? ids[0]! : { and_ids: { ids } };
}

/** Envoy RBAC rules allowing the clients whose rule's action is one of `actions`; with none, nobody. */
function allowing(mesh: string, rules: readonly Rule<Conf>[], actions: readonly Conf['action'][]): Draft {
  const principals = rules.filter((r) => actions.includes(r.conf.action)).map((r) => principalOf(mesh, r.subset));
  return {
    action: 'ALLOW',
    policies: principals.length === 0 ? {} : { MeshTrafficPermission: { permissions: [{ any: true }], principals } },
  };
}

/**
 * The network RBAC filter letting in the clients `rules` allow (nobody when none), its stats under `stat`.
 * Marked as checking the mesh identity: a PERMISSIVE inbound's plaintext chains go without it.
 */
export function rbacFilter(mesh: string, stat: string, rules: readonly Rule<Conf>[]): Draft {
  const shadow = rules.some((r) => r.conf.action === 'AllowWithShadowDeny');
  return meshIdentityFilter({
    name: ENVOY_EXTENSION_NAME.networkRbac,
    typed_config: lazyTyped(ENVOY_TYPE.networkRbac, {
      stat_prefix: `${stat}.`,
      rules: allowing(mesh, rules, ['Allow', 'AllowWithShadowDeny']),
      // AllowWithShadowDeny: let the traffic through, and count in the shadow stats that it would be denied.
      ...(shadow ? { shadow_rules: allowing(mesh, rules, ['Allow']) } : {}),
    }),
  });
}

/** Rules that allow clients by tags other than the service: meshfed's certificates cannot prove those yet. */
export function taggedClientProblems(rules: readonly Rule<Conf>[]): string[] {
  const tagged = rules.filter((r) => r.subset.some((t) => t.key !== SERVICE_TAG) && r.conf.action !== 'Deny');
  if (tagged.length === 0) return [];
  return [`MeshTrafficPermission ${tagged.flatMap((r) => r.origins).join(', ')}: clients selected by tags other than ${SERVICE_TAG} are matched by kuma:// URI SANs, which this mesh's certificates do not carry: those clients are not allowed`];
}

/**
 * MeshTrafficPermission: with mesh mTLS, every inbound gets an RBAC filter before its tcp_proxy built
 * from its `from` rules (the first rule containing a client decides). Nothing allowing a client means
 * it is denied, as in Kuma 2.x, where no default permission is created. Without mTLS there is no
 * client identity to check, and Kuma does not apply the policy either; nor, for the same reason, on
 * the plaintext chains of a PERMISSIVE inbound: the filter is on its mesh mTLS chain only (Kuma
 * configures RBAC on the chains with Kuma's TLS alone), which the mark on the filter tells the encoder.
 *
 * No `applyGateway`: Kuma's plugin returns before anything for a builtin gateway (its Apply: "if
 * proxy.Dataplane.Spec.IsBuiltinGateway() return nil"), cross-mesh listeners included, whose clients
 * are other meshes' proxies that no `from` rule of this mesh names. A policy selecting a gateway is
 * said not to apply there.
 */
export const meshTrafficPermissionPlugin: PolicyPlugin<'MeshTrafficPermission'> = {
  kind: 'MeshTrafficPermission',
  applySidecar(draft, rules, ctx) {
    if (!draft.mtls) return;
    for (const ib of draft.inbounds) {
      const from = rules?.from[ib.rulesKey] ?? [];
      ctx.problems.push(...taggedClientProblems(from));
      ib.filters.splice(ib.filters.length - 1, 0, rbacFilter(draft.mesh.name, statPrefix(ib.localClusterName), from));
    }
  },
};
