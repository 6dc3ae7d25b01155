import type { AnyDescriptor } from '@meshfed/shared/resources';
import { stringify } from 'yaml';
import { columnsFor } from './columns.js';
import { UsageError } from './errors.js';
import { renderTable } from './table.js';
import type { WireResource } from './wire.js';

export const OUTPUT_FORMATS = ['table', 'yaml', 'json'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

export function parseOutputFormat(value: string | undefined): OutputFormat {
  if (value === undefined) return 'table';
  const f = OUTPUT_FORMATS.find((x) => x === value);
  if (!f) throw new UsageError(`unknown output format "${value}"; use one of ${OUTPUT_FORMATS.join(', ')}`);
  return f;
}

function yamlDocument(r: WireResource): string {
  return stringify(r, { lineWidth: 0 });
}

export function formatTable(d: AnyDescriptor, items: readonly WireResource[], now: number): string {
  const columns = columnsFor(d, items);
  return renderTable(
    columns.map((c) => c.header),
    items.map((r) => columns.map((c) => c.value(r, now))),
  );
}

/**
 * A listing: a table, YAML documents separated by `---` (so `get -o yaml | apply -f -` round-trips),
 * or JSON shaped like the API's list (`{ total, items, next: null }`, all pages merged).
 */
export function formatList(d: AnyDescriptor, items: readonly WireResource[], format: OutputFormat, now: number): string {
  switch (format) {
    case 'table':
      return formatTable(d, items, now);
    case 'yaml':
      return items.map(yamlDocument).join('---\n');
    case 'json':
      return `${JSON.stringify({ total: items.length, items, next: null }, null, 2)}\n`;
  }
}

export function formatOne(d: AnyDescriptor, item: WireResource, format: OutputFormat, now: number): string {
  switch (format) {
    case 'table':
      return formatTable(d, [item], now);
    case 'yaml':
      return yamlDocument(item);
    case 'json':
      return `${JSON.stringify(item, null, 2)}\n`;
  }
}
