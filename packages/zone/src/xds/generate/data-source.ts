/**
 * Key and certificate material a resource names (Kuma's DataSource): a mesh Secret by name, base64
 * (`inline`) or text (`inlineString`). ExternalService TLS (origination.ts) and gateway certificates
 * (gateway/tls.ts) read it alike; what is wrong is said without ever saying what the material holds.
 */

/** Base64, standard or URL-safe (what Secrets' data and `inline` hold). */
export const BASE64 = /^(?:[A-Za-z0-9+/_-]{4})*(?:[A-Za-z0-9+/_-]{2,3}={0,2})?$/;

export interface DataSourceRef {
  readonly secret?: string | undefined;
  readonly inline?: string | undefined;
  readonly inlineString?: string | undefined;
}

/** A mesh's Secrets a resource names, by name: their base64 data, or null for one no proxy may use (the mesh CA's key). */
export type NamedSecrets = Readonly<Record<string, string | null>>;

/** The Secrets among `names` as the mesh holds them (a missing one is left out); undefined when it names none. */
export function namedSecrets(names: Iterable<string>, meshSecrets: ReadonlyMap<string, string | null> | undefined): Record<string, string | null> | undefined {
  let out: Record<string, string | null> | undefined;
  for (const name of names) {
    out ??= {};
    const data = meshSecrets?.get(name);
    if (data !== undefined) out[name] = data;
  }
  return out;
}

/**
 * The text of a data source, or what is wrong with it. `source` names it in the issue (`Secret "x"`,
 * `inline`), `user` is who may not use the mesh CA's key (which signs every identity of the mesh).
 */
export function readDataSource(d: DataSourceRef, secrets: NamedSecrets | undefined, source: string, user: string): { text: string } | { issue: string } {
  if (d.inlineString !== undefined) return { text: d.inlineString };
  if (d.inline !== undefined) return BASE64.test(d.inline) ? { text: Buffer.from(d.inline, 'base64').toString('utf8') } : { issue: `${source} is not base64` };
  if (d.secret === undefined) return { issue: 'names no data source' };
  const data = secrets?.[d.secret];
  if (data === undefined) return { issue: `${source} does not exist in the mesh` };
  if (data === null) return { issue: `${source} is the mesh CA's private key, which no ${user} may use` };
  if (data === '' || !BASE64.test(data)) return { issue: `${source} has data that is not base64` };
  return { text: Buffer.from(data, 'base64').toString('utf8') };
}
