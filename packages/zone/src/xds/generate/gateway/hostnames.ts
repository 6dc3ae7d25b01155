/**
 * Gateway hostnames as the Gateway API (and Kuma's gateway) treat them: a listener hostname and a
 * route's hostnames intersect to the more specific one; virtual hosts are ordered exact names first.
 */

/** Whether hostname pattern `pattern` (`*`, `*.example.com` or exact) covers `host` (itself a name or pattern). */
export function hostCovers(pattern: string, host: string): boolean {
  if (pattern === '*' || pattern === host) return true;
  if (!pattern.startsWith('*.')) return false;
  const suffix = pattern.slice(1); // `.example.com`
  return host.endsWith(suffix) && host.length > suffix.length && (!host.startsWith('*.') || host.length > pattern.length);
}

/** Gateway API's hostname intersection: the more specific of two hostnames when one covers the other. */
export function intersectHostnames(a: string, b: string): string | undefined {
  if (hostCovers(a, b)) return b;
  if (hostCovers(b, a)) return a;
  return undefined;
}

/** Virtual host order: exact names (sorted), then wildcards (the longer suffix first), `*` last. */
export function compareHostnames(a: string, b: string): number {
  const rank = (h: string) => (h === '*' ? 2 : h.startsWith('*.') ? 1 : 0);
  if (rank(a) !== rank(b)) return rank(a) - rank(b);
  if (rank(a) === 1 && a.length !== b.length) return b.length - a.length;
  return a < b ? -1 : a > b ? 1 : 0;
}
