import type { KdsTypeStat, ZoneOverview, ZoneSubscription } from '@meshfed/shared/resources';
import {
  ago, type Column, nameColumn, NONE, type SyncState, syncSummary, zoneCpVersionColumn, zoneLastConnectedColumn, zoneStatusColumn,
} from '../columns.js';
import type { ControlPlaneClient } from '../client.js';
import type { Io } from '../io.js';
import { type OutputFormat, renderList, renderValue } from '../output.js';
import { renderTable } from '../table.js';

// `meshfed inspect zones`: global's `/zones+insights`, a row per zone, kumactl's columns.

const newest = (z: ZoneOverview) => z.subscriptions.at(-1);
const sum = (z: ZoneOverview, pick: (s: ZoneSubscription) => number) => z.subscriptions.reduce((n, s) => n + pick(s), 0);

/** When the zone's KDS state last changed: a response sent, ACKed or NACKed on its newest stream, or that stream ending. */
function lastUpdated(z: ZoneOverview): string | null {
  const s = newest(z);
  const times = [s?.status.lastUpdateTime, s?.disconnectTime].filter((t): t is string => t !== undefined);
  return times.sort((a, b) => Date.parse(b) - Date.parse(a))[0] ?? null;
}

/** What global sent the zone of one type, judged from versions: ACKed, NACKed or awaiting an answer. */
function stateOf(s: KdsTypeStat | undefined): SyncState {
  if (!s || s.sent === 0 || s.lastSentVersion === undefined) return 'not-sent';
  if (s.lastAckedVersion === s.lastSentVersion) return 'acked';
  return s.lastNack?.version === s.lastSentVersion ? 'nacked' : 'pending';
}

/** `9/9 acked` or `NACK Mesh` for what global sent an online zone on its current stream; `-` offline. */
export function zoneSyncedCell(z: ZoneOverview): string {
  const s = newest(z);
  if (!z.online || !s) return NONE;
  return syncSummary(Object.entries(s.status.stat).map(([type, byDirection]) => [type, stateOf(byDirection['global-to-zone'])] as const));
}

const COLUMNS: readonly Column<ZoneOverview>[] = [
  nameColumn,
  zoneStatusColumn,
  zoneLastConnectedColumn,
  { header: 'LAST UPDATED AGO', value: (z, now) => ago(lastUpdated(z), now) },
  { header: 'TOTAL UPDATES', value: (z) => String(sum(z, (s) => s.status.total.sent)) },
  { header: 'TOTAL ERRORS', value: (z) => String(sum(z, (s) => s.status.total.rejected)) },
  zoneCpVersionColumn,
  { header: 'SYNCED', value: zoneSyncedCell },
];

export function zoneInsightTable(zones: readonly ZoneOverview[], now: number): string {
  return renderTable(
    COLUMNS.map((c) => c.header),
    zones.map((z) => COLUMNS.map((c) => c.value(z, now))),
  );
}

/** `meshfed inspect zones [NAME]`: global's `/zones+insights`; a zone CP answers why it has none. */
export async function inspectZones(client: ControlPlaneClient, name: string | undefined, format: OutputFormat, io: Io): Promise<number> {
  if (name !== undefined) {
    const zone = await client.getZoneInsight(name);
    io.out(format === 'table' ? zoneInsightTable([zone], io.now()) : renderValue(zone, format));
    return 0;
  }
  const zones = await client.listZoneInsights();
  if (format !== 'table') io.out(renderList(zones, format));
  else if (zones.length === 0) io.err('No zones found.\n');
  else io.out(zoneInsightTable(zones, io.now()));
  return 0;
}
