/**
 * Gateway hostnames as the Gateway API (and Kuma's gateway) treat them: a listener hostname and a
 * route's hostnames intersect to the more specific one (shared with the gateway overview); virtual
 * hosts are ordered exact names first.
 */
export { hostCovers, intersectHostnames } from '@meshfed/shared';

/** Virtual host order: exact names (sorted), then wildcards (the longer suffix first), `*` last. */
export function compareHostnames(a: string, b: string): number {
  const rank = (h: string) => (h === '*' ? 2 : h.startsWith('*.') ? 1 : 0);
  if (rank(a) !== rank(b)) return rank(a) - rank(b);
  if (rank(a) === 1 && a.length !== b.length) return b.length - a.length;
  return a < b ? -1 : a > b ? 1 : 0;
}
