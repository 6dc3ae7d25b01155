import type { AnyDescriptor } from '@meshfed/shared/resources';
import { expectPositionals, parseCommandArgs } from '../args.js';
import { clientFor } from '../client.js';
import type { Command } from '../command.js';
import { parseDocuments, type SourceDocument } from '../documents.js';
import { ApiResponseError, InputError, renderError, UsageError } from '../errors.js';
import type { Io } from '../io.js';
import { resolveKind } from '../resource-types.js';
import { describeResource } from '../subject.js';

const OPTIONS = {
  file: { type: 'string', short: 'f' },
} as const;

const HELP = `Create or update resources from YAML or JSON.

Usage:
  meshfed apply -f FILE [flags]
  meshfed apply -f - [flags]        read from standard input

The input holds one or more documents separated by "---". Each needs "type" and "name"; a
mesh-scoped type without "mesh" goes to mesh "default". A document may also be a list of them, or
a listing as "get -o json" prints it. Documents are applied in order; one that fails is reported
and the rest are still applied. The exit code is 1 if any failed. A YAML syntax error anywhere
applies nothing.

Flags:
  -f, --file FILE   file to apply, or - for standard input
      --cp URL      control plane API (default http://127.0.0.1:5681, or env MESHFED_CP)
      --ca-file, --skip-verify, --token, --token-file: HTTPS and authentication, see "meshfed --help"
  -h, --help        show this help

Example:
  meshfed apply -f mesh.yaml
  cat dataplanes.yaml | meshfed apply -f -
`;

/** One resource to apply and where it came from, for messages (`dp.yaml document 2 (line 9)`). */
export interface ApplyEntry {
  readonly where: string;
  readonly value: unknown;
}

/**
 * A document, or each item of a `{ items: [...] }` listing (what `get -o json` prints) or of a list
 * (`[]` is what `get -o yaml` prints when there is nothing, so that it too reads back).
 */
export function entriesOf(doc: SourceDocument, source: string): ApplyEntry[] {
  const where = `${source} document ${doc.index} (line ${doc.line})`;
  const v = doc.value;
  const listing = typeof v === 'object' && v !== null && !('type' in v) && 'items' in v && Array.isArray(v.items) ? v.items : undefined;
  const items = Array.isArray(v) ? v : listing;
  return items ? items.map((item: unknown, i: number) => ({ where: `${where} item ${i + 1}`, value: item })) : [{ where, value: v }];
}

export interface CheckedDocument {
  readonly descriptor: AnyDescriptor;
  readonly name: string;
  readonly mesh?: string;
  readonly body: Readonly<Record<string, unknown>>;
}

function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  return typeof v === 'string' ? `the string "${v.length > 30 ? `${v.slice(0, 30)}…` : v}"` : `${typeof v} ${String(v)}`;
}

/**
 * What the CLI checks before sending: enough to address the resource (type, name, mesh). The control
 * plane validates the rest and answers field paths.
 */
export function checkDocument(v: unknown): CheckedDocument | { readonly error: string } {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    return { error: `a resource must be a mapping with type and name, got ${describeValue(v)}` };
  }
  const raw = v as Record<string, unknown>;
  if (raw.type === undefined) return { error: 'type is required (e.g. "type: Mesh")' };
  if (typeof raw.type !== 'string') return { error: `type must be a string, got ${describeValue(raw.type)}` };
  const kind = resolveKind(raw.type);
  if ('error' in kind) return kind;
  const d = kind.descriptor;
  if (raw.name === undefined || raw.name === '') return { error: `${d.kind} without a name: name is required` };
  if (typeof raw.name !== 'string') return { error: `${d.kind}: name must be a string, got ${describeValue(raw.name)}` };
  if (d.scope === 'global') return { descriptor: d, name: raw.name, body: raw };
  if (raw.mesh !== undefined && (typeof raw.mesh !== 'string' || raw.mesh === '')) {
    return { error: `${describeResource(d.kind, raw.name)}: mesh must be a mesh name, got ${describeValue(raw.mesh)}` };
  }
  const mesh = typeof raw.mesh === 'string' ? raw.mesh : 'default';
  return { descriptor: d, name: raw.name, mesh, body: { ...raw, mesh } };
}

function fsReason(err: unknown): string {
  const code = typeof err === 'object' && err !== null && 'code' in err ? err.code : undefined;
  switch (code) {
    case 'ENOENT':
      return 'no such file';
    case 'EISDIR':
      return 'it is a directory';
    case 'EACCES':
      return 'permission denied';
    default:
      return err instanceof Error ? err.message : String(err);
  }
}

async function readInput(file: string, io: Io): Promise<string> {
  try {
    return file === '-' ? await io.readStdin() : await io.readFile(file);
  } catch (err) {
    throw new InputError(`cannot read ${file === '-' ? 'standard input' : file}: ${fsReason(err)}`, { cause: err });
  }
}

function report(io: Io, err: unknown, where: string): void {
  io.err(`${renderError(err, where).lines.join('\n')}\n`);
}

export const applyCommand: Command = {
  summary: 'Create or update resources from YAML or JSON',
  synopsis: 'meshfed apply -f FILE|- [--cp URL]',
  help: HELP,
  async run(args, io) {
    const parsed = parseCommandArgs(args, OPTIONS);
    expectPositionals(parsed.positionals, []);
    const file = parsed.values.file;
    if (file === undefined) throw new UsageError('missing -f FILE (or -f - to read standard input)');
    const client = clientFor(parsed, io);
    const source = file === '-' ? 'stdin' : file;

    const entries = parseDocuments(await readInput(file, io), source).flatMap((d) => entriesOf(d, source));
    if (entries.length === 0) throw new InputError(`${source} has no resources to apply`);

    let failed = 0;
    for (const entry of entries) {
      const checked = checkDocument(entry.value);
      if ('error' in checked) {
        report(io, new InputError(checked.error), entry.where);
        failed++;
        continue;
      }
      const { descriptor: d, name, mesh, body } = checked;
      try {
        const result = await client.put(d, { name, ...(mesh !== undefined ? { mesh } : {}) }, body);
        io.out(`${describeResource(d.kind, name, mesh)} ${result === 'created' ? 'created' : 'configured'}\n`);
      } catch (err) {
        // The control plane refused this one: say so and go on. Anything else (unreachable,
        // timeout) would fail every following document the same way, so it ends the run.
        if (!(err instanceof ApiResponseError)) throw err;
        report(io, err, entry.where);
        failed++;
      }
    }
    return failed > 0 ? 1 : 0;
  },
};
