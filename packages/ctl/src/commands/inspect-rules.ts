import { type AnyDescriptor, SERVICE_TAG } from '@meshfed/shared/resources';
import type { ControlPlaneClient, DataplaneRules, WireRule } from '../client.js';
import { clipCell } from '../columns.js';
import type { Io } from '../io.js';
import { type OutputFormat, renderValue } from '../output.js';
import { renderTable } from '../table.js';

// `meshfed inspect dataplane NAME --rules`: a zone CP's `…/dataplanes/{name}/_rules`, one row per rule.

export const RULES_HEADERS = ['TYPE', 'SIDE', 'WHERE', 'SUBSET', 'CONF', 'POLICIES'] as const;

/** `*` for every client or destination; else its tags, `k=v`, a negated one `k!=v`. */
export function subsetCell(subset: WireRule['subset']): string {
  return subset.length === 0 ? '*' : subset.map((t) => `${t.key}${t.not === true ? '!=' : '='}${t.value}`).join(',');
}

/** The merged conf as compact JSON, clipped like the other free-text cells. */
export const confCell = (conf: unknown): string => clipCell(JSON.stringify(conf) ?? 'null');

/**
 * Per policy type: its `from` rules per inbound, its `to` rules (WHERE `*`: by destination subset),
 * then the conf computed for each destination service (WHERE the service).
 */
export function rulesRows(answer: DataplaneRules): string[][] {
  const rows: string[][] = [];
  for (const [type, t] of Object.entries(answer.rules)) {
    for (const [inbound, rules] of Object.entries(t.from)) {
      for (const r of rules) rows.push([type, 'from', inbound, subsetCell(r.subset), confCell(r.conf), r.origins.join(',')]);
    }
    for (const r of t.to) rows.push([type, 'to', '*', subsetCell(r.subset), confCell(r.conf), r.origins.join(',')]);
    for (const [service, c] of Object.entries(t.toByService)) {
      rows.push([type, 'to', service, subsetCell([{ key: SERVICE_TAG, value: service }]), confCell(c.conf), c.origins.join(',')]);
    }
  }
  return rows;
}

export async function inspectRules(client: ControlPlaneClient, d: AnyDescriptor, name: string, mesh: string, format: OutputFormat, io: Io): Promise<number> {
  const answer = await client.dataplaneRules(d, name, mesh);
  if (format !== 'table') {
    io.out(renderValue(answer, format));
    return 0;
  }
  const rows = rulesRows(answer);
  if (rows.length === 0) io.err(`No policy selects Dataplane "${name}" in mesh "${mesh}".\n`);
  else io.out(renderTable(RULES_HEADERS, rows));
  for (const w of answer.warnings) io.err(`warning: ${w}\n`);
  return 0;
}
