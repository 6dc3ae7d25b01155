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

/** One value as `-o yaml` or `-o json` prints it. */
export function renderValue(value: unknown, format: Exclude<OutputFormat, 'table'>): string {
  return format === 'yaml' ? stringify(value, { lineWidth: 0 }) : `${JSON.stringify(value, null, 2)}\n`;
}

/**
 * A listing as `-o yaml`: YAML documents separated by `---` (so `get -o yaml | apply -f -`
 * round-trips), or `[]` when there are none, so that a script reads an empty list rather than
 * nothing; as `-o json`: shaped like the API's list (`{ total, items, next: null }`, all pages merged).
 */
export function renderList(items: readonly unknown[], format: Exclude<OutputFormat, 'table'>): string {
  if (format === 'json') return renderValue({ total: items.length, items, next: null }, 'json');
  return items.length === 0 ? renderValue([], 'yaml') : items.map((i) => renderValue(i, 'yaml')).join('---\n');
}

export function formatTable(d: AnyDescriptor, items: readonly WireResource[], now: number): string {
  const columns = columnsFor(d, items);
  return renderTable(
    columns.map((c) => c.header),
    items.map((r) => columns.map((c) => c.value(r, now))),
  );
}

/** A listing: a table, or as renderList prints it. */
export function formatList(d: AnyDescriptor, items: readonly WireResource[], format: OutputFormat, now: number): string {
  return format === 'table' ? formatTable(d, items, now) : renderList(items, format);
}

export function formatOne(d: AnyDescriptor, item: WireResource, format: OutputFormat, now: number): string {
  return format === 'table' ? formatTable(d, [item], now) : renderValue(item, format);
}
