/** One process of the local lab: which daemon, its flags, and the URLs it will answer on. */
export interface LabProcess {
  readonly name: string;
  readonly daemon: 'global' | 'zone';
  readonly mode: 'global' | 'standalone';
  readonly args: readonly string[];
  readonly api: string;
  readonly extra: string;
}

/**
 * The lab: one global and two zones on the memory store, on fixed ports so a walk-through can name
 * them. `offset` shifts every port, so a lab can run beside another (tests use it).
 */
export function labPlan(offset = 0): LabProcess[] {
  const p = (n: number) => String(n + offset);
  const zone = (name: string, api: number, xds: number): LabProcess => ({
    name, daemon: 'zone', mode: 'standalone',
    // Zones run standalone until KDS federation lands; the lab command stays the same then.
    args: ['--zone', name, '--api-port', p(api), '--xds-port', p(xds), '--dp-auth', 'none'],
    api: `http://127.0.0.1:${p(api)}`, extra: `xds 127.0.0.1:${p(xds)}`,
  });
  return [
    {
      name: 'global', daemon: 'global', mode: 'global',
      args: ['--api-port', p(5681), '--kds-port', p(5685)],
      api: `http://127.0.0.1:${p(5681)}`, extra: `kds 127.0.0.1:${p(5685)} (not served yet)`,
    },
    zone('zone-1', 15681, 15678),
    zone('zone-2', 25681, 25678),
  ];
}

export function labTable(plan: readonly LabProcess[], logDir: string): string {
  const rows = [['PROCESS', 'MODE', 'API', 'OTHER'], ...plan.map((p) => [p.name, p.mode, p.api, p.extra])];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const lines = rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd());
  return [...lines, '', `logs in ${logDir}; try: meshfed get meshes --cp ${plan[0]!.api}`, 'Ctrl-C stops everything.'].join('\n');
}
