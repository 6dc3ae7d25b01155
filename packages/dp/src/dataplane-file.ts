import { readFile } from 'node:fs/promises';
import { ApiError, DataplaneDescriptor, FlagError, parseResource, type Resource, toWire } from '@meshfed/shared';
import { parse as parseYaml } from 'yaml';

/** The workload's Dataplane, checked with the shared schema; `wire` is what the zone is sent. */
export interface DataplaneDoc {
  readonly mesh: string;
  readonly name: string;
  readonly resource: Resource;
  /** type, mesh, name and the spec's fields, as the YAML spells it (labels left out when empty). */
  readonly wire: Record<string, unknown>;
}

/**
 * Parses a Dataplane document (YAML, which JSON is a subset of). Every problem is a FlagError naming
 * the flag, the file and the first bad field's path.
 */
export function parseDataplaneDoc(text: string, where: string): DataplaneDoc {
  let body: unknown;
  try {
    body = parseYaml(text);
  } catch (err) {
    throw new FlagError(`${where} is not YAML or JSON: ${(err as Error).message.split('\n')[0]}`);
  }
  let resource: Resource;
  try {
    resource = parseResource(body, { descriptor: DataplaneDescriptor });
  } catch (err) {
    if (err instanceof ApiError) throw new FlagError(`${where}: ${err.details}`);
    throw err;
  }
  const wire = toWire(resource);
  if (Object.keys(resource.labels).length === 0) delete wire.labels;
  return { mesh: resource.mesh!, name: resource.name, resource, wire };
}

export async function readDataplaneFile(file: string): Promise<DataplaneDoc> {
  const text = await readFile(file, 'utf8').catch((e: NodeJS.ErrnoException) => {
    throw new FlagError(`cannot read --dataplane-file ${file}: ${e.code ?? e.message}`);
  });
  return parseDataplaneDoc(text, `--dataplane-file ${file}`);
}
