const GAP = '   ';

/** Left-aligned columns as kumactl prints them: padded to the widest cell, no trailing spaces. */
export function renderTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    widths
      .map((w, i) => (cells[i] ?? '').padEnd(w))
      .join(GAP)
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n') + '\n';
}
