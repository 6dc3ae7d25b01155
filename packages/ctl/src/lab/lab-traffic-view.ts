import { z } from 'zod';
import { renderTable } from '../table.js';
import type { TrafficMember } from './lab-traffic-plan.js';

const Counts = z.record(z.string(), z.number().nonnegative());

/**
 * One second of a caller's outcomes, as the demo app's `load` prints it (one JSON line a second).
 * Read with a schema: ctl does not import the agent's package, so nothing else keeps the two in step.
 */
export const LoadLine = z.object({
  msg: z.literal('load'),
  ok: z.number().int().nonnegative(),
  failed: Counts,
  byInstance: Counts,
  byVersion: Counts,
});
export type LoadLine = z.infer<typeof LoadLine>;

/** A load line and when the lab read it. */
export interface ReceivedWindow {
  readonly at: number;
  readonly line: LoadLine;
}

/** Rates are averaged over this long: a 90/10 split reads steadily, and a change shows within seconds. */
export const TRAFFIC_AVERAGE_MS = 5_000;
/** The caller prints one window a second; this many cover the average (and bound what is kept). */
export const TRAFFIC_WINDOWS_KEPT = TRAFFIC_AVERAGE_MS / 1_000;

/** Keeps the newest windows of one caller, at most TRAFFIC_WINDOWS_KEPT. */
export function keepWindow(windows: readonly ReceivedWindow[], w: ReceivedWindow): ReceivedWindow[] {
  return [...windows, w].slice(-TRAFFIC_WINDOWS_KEPT);
}

export interface MemberView {
  readonly member: TrafficMember;
  /** What its processes are doing: `starting agent`, `serving`, `calling`, `exited 1`… */
  readonly state: string;
}

interface ZoneRates {
  readonly ok: number;
  readonly failed: Readonly<Record<string, number>>;
  readonly byInstance: Readonly<Record<string, number>>;
}

/** Per-second averages over the windows read in the last TRAFFIC_AVERAGE_MS; undefined when none (not calling yet, or stopped). */
function ratesOf(windows: readonly ReceivedWindow[], now: number): ZoneRates | undefined {
  const recent = windows.filter((w) => now - w.at <= TRAFFIC_AVERAGE_MS);
  if (recent.length === 0) return undefined;
  const sum = (pick: (l: LoadLine) => Readonly<Record<string, number>>) => {
    const out: Record<string, number> = {};
    for (const w of recent) for (const [k, n] of Object.entries(pick(w.line))) out[k] = (out[k] ?? 0) + n / recent.length;
    return out;
  };
  return { ok: recent.reduce((n, w) => n + w.line.ok, 0) / recent.length, failed: sum((l) => l.failed), byInstance: sum((l) => l.byInstance) };
}

/** Whole numbers from 10 up, one decimal below: `50`, `4.6`, `0`. */
const rate = (n: number) => (n >= 10 ? String(Math.round(n)) : String(Math.round(n * 10) / 10));

function failedCell(failed: Readonly<Record<string, number>>): string {
  const codes = Object.entries(failed).filter(([, n]) => n > 0).sort(([a], [b]) => a.localeCompare(b));
  const total = codes.reduce((t, [, n]) => t + n, 0);
  return codes.length === 0 ? '0' : `${rate(total)} (${codes.map(([c, n]) => `${c} ${rate(n)}`).join(', ')})`;
}

/**
 * The traffic table: per zone, the caller's answered and failed calls per second, then each server
 * instance with the calls per second it answered and its share of the zone's answered calls. An
 * instance that answered but is not one of the lab's (none should) gets a row too, so nothing hides.
 */
export function trafficTable(members: readonly MemberView[], windows: ReadonlyMap<string, readonly ReceivedWindow[]>, now: number): string {
  const rows: string[][] = [];
  const zones = [...new Set(members.map((m) => m.member.zone))];
  for (const zone of zones) {
    const here = members.filter((m) => m.member.zone === zone);
    const r = ratesOf(windows.get(zone) ?? [], now);
    for (const { member, state } of here.filter((m) => m.member.role === 'caller')) {
      rows.push([zone, member.name, '-', state, r ? rate(r.ok) : '-', r ? failedCell(r.failed) : '-', '-']);
    }
    const servers = here.filter((m) => m.member.role === 'server');
    const strangers = Object.keys(r?.byInstance ?? {}).filter((i) => !servers.some((s) => s.member.name === i)).sort();
    const instanceRow = (name: string, version: string, state: string) => {
      const n = r?.byInstance[name] ?? 0;
      return [zone, name, version, state, r ? rate(n) : '-', '-', r && r.ok > 0 ? `${Math.round((100 * n) / r.ok)}%` : '-'];
    };
    for (const { member, state } of servers) rows.push(instanceRow(member.name, member.version ?? '-', state));
    for (const name of strangers) rows.push(instanceRow(name, '?', 'not the lab\'s'));
  }
  return renderTable(['ZONE', 'APP', 'VERSION', 'STATE', 'OK/S', 'FAILED/S', 'SHARE'], rows).trimEnd();
}
