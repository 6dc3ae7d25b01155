export type ProxyType = 'dataplane' | 'ingress' | 'egress';

const PREFIX: Record<Exclude<ProxyType, 'dataplane'>, string> = { ingress: 'zoneingress:', egress: 'zoneegress:' };

/**
 * The key of a proxy in the zone's snapshot cache, live streams and insights. A dataplane's is its
 * node id (`<mesh>.<name>`); a zone ingress's and egress's are prefixed (`zoneingress:<name>`,
 * `zoneegress:<name>`), because their names may contain dots: without the prefix an ingress token
 * could claim `default.web` and be served that dataplane's configuration and key, and an ingress and an
 * egress of one name would share a key. A mesh name never contains ':', so no dataplane id has a prefix.
 */
export function proxyIdOf(proxyType: ProxyType, nodeId: string): string {
  return proxyType === 'dataplane' ? nodeId : `${PREFIX[proxyType]}${nodeId}`;
}

/** The proxy type and node id of a proxy id (the inverse of proxyIdOf). */
export function parseProxyId(proxyId: string): { proxyType: ProxyType; nodeId: string } {
  for (const [type, prefix] of Object.entries(PREFIX) as [Exclude<ProxyType, 'dataplane'>, string][]) {
    if (proxyId.startsWith(prefix)) return { proxyType: type, nodeId: proxyId.slice(prefix.length) };
  }
  return { proxyType: 'dataplane', nodeId: proxyId };
}
