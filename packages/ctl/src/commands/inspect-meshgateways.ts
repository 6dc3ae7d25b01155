import type { GatewayInstanceOverview, GatewayRouteRef, MeshGatewaysOverview } from '@meshfed/shared/resources';
import type { ControlPlaneClient } from '../client.js';
import { ago, clipCell, NONE } from '../columns.js';
import { InputError } from '../errors.js';
import type { Io } from '../io.js';
import { type OutputFormat, renderValue } from '../output.js';
import { renderTable } from '../table.js';
import { at, scalarText, type WireResource } from '../wire.js';
import { problemCell, syncedCell } from './inspect.js';

// `meshfed inspect meshgateways`: a CP's `/meshes/{mesh}/meshgateways/_overview`, as three tables —
// listeners with their routes, instances with their sync state, and the routes that attach nowhere.

export const LISTENER_HEADERS = ['GATEWAY', 'PORT', 'PROTOCOL', 'HOSTNAME', 'CROSSMESH', 'ROUTES'] as const;
export const INSTANCE_HEADERS = ['GATEWAY', 'ZONE', 'INSTANCE', 'ADDRESS', 'CONNECTED', 'SYNCED', 'LAST ACK', 'LAST NACK/PROBLEM'] as const;
export const UNATTACHED_HEADERS = ['UNATTACHED ROUTE', 'TYPE', 'WHY'] as const;

/** `name`, or `name (on a, b)` for a route attached on some instances only. */
const routeCell = (r: GatewayRouteRef) => (r.onlyOn ? `${r.name} (on ${r.onlyOn.join(', ')})` : r.name);

/** The newest ACK over the instance's xDS types, as an age; `never` when it ACKed nothing. */
function lastAckCell(insight: Record<string, unknown>, now: number): string {
  const types = insight['types'];
  const times = typeof types === 'object' && types !== null
    ? Object.values(types).map((t) => scalarText(at(t, 'lastAcked', 'at'))).filter((t): t is string => t !== undefined)
    : [];
  return times.length === 0 ? 'never' : ago(times.sort().at(-1), now);
}

/** One instance's row: its sync state where the CP holds its insight, else the zone whose CP does. */
function instanceRow(i: GatewayInstanceOverview, now: number): string[] {
  const head = [i.gateway ?? NONE, i.zone || NONE, i.name, i.address];
  const own = i.problems[0] !== undefined ? clipCell(i.problems[0]) : undefined;
  if (!i.insight) return [...head, NONE, NONE, NONE, own ?? `held by ${i.insightOn || 'its zone'}'s CP`];
  const item = { type: 'Dataplane', name: i.name, insight: i.insight } as WireResource;
  return [...head, i.insight['connected'] === true ? 'yes' : 'no', syncedCell(item), lastAckCell(i.insight, now), own ?? problemCell(item)];
}

export function listenerRows(o: MeshGatewaysOverview): string[][] {
  return o.gateways.flatMap((g) =>
    g.listeners.map((l) => [g.name, String(l.port), l.protocol, l.hostname, l.crossMesh ? 'yes' : 'no', l.routes.length > 0 ? l.routes.map(routeCell).join(', ') : NONE]),
  );
}

export function instanceRows(o: MeshGatewaysOverview, now: number): string[][] {
  return [...o.gateways.flatMap((g) => g.instances), ...o.unservedInstances].map((i) => instanceRow(i, now));
}

export function unattachedRows(o: MeshGatewaysOverview): string[][] {
  return o.unattachedRoutes.map((r) => [r.name, r.kind, r.reason]);
}

/** The overview narrowed to one MeshGateway (what attaches nowhere is about the mesh, not it: left out). */
function only(o: MeshGatewaysOverview, name: string): MeshGatewaysOverview {
  const g = o.gateways.find((x) => x.name === name);
  if (!g) throw new InputError(`MeshGateway "${name}" does not exist in mesh "${o.mesh}"${o.zone !== null ? ` on zone "${o.zone}"` : ''}`);
  return { ...o, gateways: [g], unservedInstances: [], unattachedRoutes: [] };
}

export async function inspectMeshGateways(client: ControlPlaneClient, mesh: string, name: string | undefined, format: OutputFormat, io: Io): Promise<number> {
  const all = await client.gatewayOverview(mesh);
  const o = name !== undefined ? only(all, name) : all;
  if (format !== 'table') {
    io.out(renderValue(o, format));
    return 0;
  }
  const listeners = listenerRows(o);
  const instances = instanceRows(o, io.now());
  const unattached = unattachedRows(o);
  const tables = [
    ...(listeners.length > 0 ? [renderTable(LISTENER_HEADERS, listeners)] : []),
    ...(instances.length > 0 ? [renderTable(INSTANCE_HEADERS, instances)] : []),
    ...(unattached.length > 0 ? [renderTable(UNATTACHED_HEADERS, unattached)] : []),
  ];
  if (tables.length === 0) io.err(`No meshgateways found in mesh "${o.mesh}".\n`);
  else io.out(tables.join('\n'));
  if (o.gateways.length > 0 && instances.length === 0) io.err(`No builtin gateway instance ${o.zone !== null ? `in zone "${o.zone}" ` : ''}serves these gateways.\n`);
  if (o.zone === null && instances.length > 0) {
    io.err("Instances' xDS state is held by their zone's control plane: meshfed inspect meshgateways --cp <zone CP API URL>\n");
  }
  for (const p of o.problems) io.err(`warning: ${p}\n`);
  return 0;
}
