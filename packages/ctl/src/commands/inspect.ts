import type { AnyDescriptor } from '@meshfed/shared/resources';
import { expectPositionals, parseCommandArgs } from '../args.js';
import { clientFor } from '../client.js';
import { clipCell as clip, NONE, SYNC_STATES, type SyncState, syncSummary } from '../columns.js';
import type { Command } from '../command.js';
import { UsageError } from '../errors.js';
import { OUTPUT_FORMATS, parseOutputFormat, renderList, renderValue } from '../output.js';
import { resolveType } from '../resource-types.js';
import { renderTable } from '../table.js';
import { at, scalarText, type WireResource } from '../wire.js';
import { meshFor } from './get.js';
import { inspectMeshGateways } from './inspect-meshgateways.js';
import { inspectRules } from './inspect-rules.js';
import { inspectZones } from './inspect-zones.js';

const OPTIONS = {
  mesh: { type: 'string' },
  'all-meshes': { type: 'boolean', short: 'A' },
  output: { type: 'string', short: 'o' },
  'config-dump': { type: 'boolean' },
  type: { type: 'string' },
  rules: { type: 'boolean' },
} as const;

/** The kinds that are proxies: the only ones a zone CP has xDS insights and config dumps for. */
const PROXY_KINDS: readonly string[] = ['Dataplane', 'ZoneIngress', 'ZoneEgress'];
const INSPECTABLE = 'zones, meshgateways, dataplanes, zoneingresses or zoneegresses';
const XDS_TYPES = ['listener', 'cluster', 'endpoint', 'route', 'secret'];

const HELP = `Show the state of zones, gateways or proxies: zones as the global control plane sees them
(online, KDS sync), gateways with their listeners, routes and instances, or what a zone control
plane serves its proxies (connection and xDS sync state, the Envoy configuration of one proxy, or
the policy rules of one dataplane).

Usage:
  meshfed inspect zones [NAME] [flags]                 zones with their KDS state (global CP)
  meshfed inspect meshgateways [NAME] [flags]          gateways: listeners, attached routes, instances
  meshfed inspect TYPE [flags]                         list proxies with their xDS state (zone CP)
  meshfed inspect TYPE NAME [flags]                    one proxy's xDS state
  meshfed inspect TYPE NAME --config-dump [flags]      the Envoy config dump it is served
  meshfed inspect dataplane NAME --rules [flags]       the policies that apply to it and their merged confs

TYPE is dataplanes (dp, dataplane), zoneingresses (zone-ingresses, zoneingress) or zoneegresses
(zone-egresses, zoneegress). Ask the zone CP that the proxies connect to: global holds no proxy
insights and says which zones there are.

Columns of zones:
  STATUS              Online, or Offline: disconnected, silent past the health-check timeout, or
                      disabled
  LAST CONNECTED AGO  when its newest KDS stream opened; "never" if it never connected
  LAST UPDATED AGO    when that stream last sent, ACKed or NACKed a response, or ended
  TOTAL UPDATES       responses global sent the zone, over its kept streams
  TOTAL ERRORS        of those, the ones the zone NACKed
  ZONE-CP VERSION     the version the zone CP declared
  SYNCED              of what global sends an online zone: "9/9 acked" when it ACKed the last
                      response of every type; "NACK Mesh" when it refused the last one of a type

meshgateways (gateways, meshgateway, gateway) prints three tables. Global sees every zone's
instances; a zone CP only its own, but with their xDS state (global names the zone to ask).
  GATEWAY ... ROUTES   each listener (port, protocol, hostname, crossMesh) and the MeshGatewayRoutes
                       attached to it: their selectors match the listener's tags (the instance's
                       gateway tags, the MeshGateway's, the listener's), their kind its protocol (http
                       on HTTP/HTTPS, tcp on TCP/TLS) and, for http, a hostname intersects its own;
                       "route (on a, b)" when it attaches on those instances only
  GATEWAY ZONE INSTANCE  the builtin gateway Dataplanes each MeshGateway serves (two claiming one:
                       the first by name wins, said in LAST NACK/PROBLEM; GATEWAY "-": none selects
                       it), with CONNECTED, SYNCED and LAST NACK/PROBLEM as for proxies, LAST ACK
                       the age of its newest ACK
  UNATTACHED ROUTE     routes attached to no listener of any gateway of the mesh, and why

Columns of proxies:
  CONNECTED       whether the proxy has an ADS stream open now
  PROTOCOL        delta or sotw (state of the world)
  CONFIG VERSION  the version of the configuration the zone CP holds for the proxy
  SYNCED          "4/4 acked" when the proxy ACKed the last response of every type it was sent;
                  "NACK listener" when it refused the last one of a type
  LAST NACK/PROBLEM  why the configuration cannot be computed, or the proxy's last refusal

Columns of --rules (one row per rule, per policy type that selects the dataplane):
  TYPE      the policy type
  SIDE      from: for clients calling an inbound; to: for traffic to destinations
  WHERE     from: the inbound (address:port); to: * for the rules by destination subset, then
            each service the dataplane has an outbound for, with the conf computed for it
  SUBSET    the clients (from) or destinations (to) the rule is for: * for all, k=v a tag, k!=v a
            negated tag; the first rule whose subset holds a client or destination applies
  CONF      the merged conf, as compact JSON (clipped; -o yaml or -o json shows it whole)
  POLICIES  the policies merged into it; the dataplane's policies in merge order are in -o yaml
Warnings of the matching step (a route that cannot be resolved, say) go to stderr.

-o yaml and -o json print what the control plane answers: a zone with its subscriptions (per type
and direction: sent, ACKed, NACKed, refused), a proxy with its insight. With nothing to list,
-o yaml prints [] and -o json a list with no items.

Flags:
      --mesh MESH          mesh of the dataplanes or gateways (default "default")
  -A, --all-meshes         list dataplanes of every mesh
      --config-dump        print the Envoy config dump (needs NAME); JSON unless -o yaml
      --type TYPES         with --config-dump: only these sections, comma-separated: ${XDS_TYPES.join(', ')}
      --rules              print the dataplane's policy rules (needs NAME, a dataplane; not with --config-dump)
  -o, --output FORMAT      ${OUTPUT_FORMATS.join(', ')} (default table)
      --cp URL             control plane API (default http://127.0.0.1:5681, or env MESHFED_CP)
      --ca-file, --skip-verify, --token, --token-file: HTTPS and authentication, see "meshfed --help"
  -h, --help               show this help

Examples:
  meshfed inspect zones
  meshfed inspect zone zone-1 -o yaml
  meshfed inspect meshgateways
  meshfed inspect meshgateways --cp http://127.0.0.1:15681 -o json
  meshfed inspect dataplanes --mesh default --cp http://127.0.0.1:15681
  meshfed inspect zoneegresses -o yaml
  meshfed inspect dataplane web-1 --mesh default --config-dump --type listener,cluster
  meshfed inspect dataplane web --rules --cp http://127.0.0.1:15681
  meshfed inspect dataplane web --rules -o yaml --cp http://127.0.0.1:15681
`;

/** The zone or proxy kind a user named, or a UsageError that lists what inspect takes. */
function resolveInspectType(name: string): AnyDescriptor {
  let d: AnyDescriptor | undefined;
  try {
    d = resolveType(name);
  } catch {
    d = undefined;
  }
  if (!d || (d.kind !== 'Zone' && d.kind !== 'MeshGateway' && !PROXY_KINDS.includes(d.kind))) throw new UsageError(`cannot inspect "${name}": inspect takes ${INSPECTABLE}`);
  return d;
}

type TypeView = { state?: unknown; lastSent?: unknown; lastAcked?: unknown; lastNack?: unknown };

/** A type's state as the zone CP computed it; judged from nonces for a CP that does not say. */
function stateOf(t: TypeView): SyncState {
  const state = SYNC_STATES.find((s) => s === t.state);
  if (state !== undefined) return state;
  const sent = scalarText(at(t, 'lastSent', 'nonce'));
  if (sent === undefined) return 'not-sent';
  if (scalarText(at(t, 'lastNack', 'nonce')) === sent) return 'nacked';
  return scalarText(at(t, 'lastAcked', 'nonce')) === sent ? 'acked' : 'pending';
}

function typesOf(r: WireResource): [string, TypeView][] {
  const types = at(r, 'insight', 'types');
  if (typeof types !== 'object' || types === null || Array.isArray(types)) return [];
  return Object.entries(types as Record<string, unknown>).filter((e): e is [string, TypeView] => typeof e[1] === 'object' && e[1] !== null);
}

/** A proxy's SYNCED cell, from the state of each xDS type. */
export function syncedCell(r: WireResource): string {
  return syncSummary(typesOf(r).map(([type, t]) => [type, stateOf(t)] as const));
}

/** The problem the zone CP reports for the proxy, else its latest NACK as `type: error`. */
export function problemCell(r: WireResource): string {
  const problem = scalarText(at(r, 'insight', 'problem'));
  if (problem) return clip(problem.replace(/\s+/g, ' '));
  let latest: { type: string; at: string; error: string } | undefined;
  for (const [type, t] of typesOf(r)) {
    const when = scalarText(at(t, 'lastNack', 'at')) ?? '';
    const error = scalarText(at(t, 'lastNack', 'error'));
    if (error !== undefined && (!latest || when > latest.at)) latest = { type, at: when, error };
  }
  return latest ? clip(`${latest.type}: ${latest.error.replace(/\s+/g, ' ')}`) : NONE;
}

export function insightTable(d: AnyDescriptor, items: readonly WireResource[]): string {
  const mesh = d.scope === 'mesh';
  const headers = [...(mesh ? ['MESH'] : []), 'NAME', 'CONNECTED', 'PROTOCOL', 'CONFIG VERSION', 'SYNCED', 'LAST NACK/PROBLEM'];
  const rows = items.map((r) => [
    ...(mesh ? [r.mesh ?? NONE] : []),
    r.name,
    at(r, 'insight', 'connected') === true ? 'yes' : 'no',
    scalarText(at(r, 'insight', 'protocol')) ?? NONE,
    scalarText(at(r, 'insight', 'configVersion'))?.slice(0, 8) ?? NONE,
    syncedCell(r),
    problemCell(r),
  ]);
  return renderTable(headers, rows);
}

export const inspectCommand: Command = {
  summary: "Show zones' and proxies' sync state, or a proxy's Envoy config",
  synopsis: 'meshfed inspect zones|meshgateways|TYPE [NAME] [--mesh MESH | -A] [--config-dump [--type TYPES] | --rules] [-o table|yaml|json] [--cp URL]',
  help: HELP,
  async run(args, io) {
    const parsed = parseCommandArgs(args, OPTIONS);
    if (parsed.positionals.length === 0) throw new UsageError(`missing TYPE: ${INSPECTABLE}`);
    const [typeName = '', name] = expectPositionals(parsed.positionals, ['TYPE'], ['NAME']);
    const d = resolveInspectType(typeName);
    if (d.kind === 'Zone') {
      for (const flag of ['mesh', 'all-meshes', 'config-dump', 'type', 'rules'] as const) {
        if (parsed.values[flag] !== undefined) throw new UsageError(`--${flag} applies to proxies, not to zones`);
      }
      return inspectZones(clientFor(parsed, io), name, parseOutputFormat(parsed.values.output), io);
    }
    if (d.kind === 'MeshGateway') {
      for (const flag of ['all-meshes', 'config-dump', 'type', 'rules'] as const) {
        if (parsed.values[flag] !== undefined) throw new UsageError(`--${flag} applies to proxies, not to meshgateways: inspect a gateway instance as a dataplane`);
      }
      return inspectMeshGateways(clientFor(parsed, io), meshFor(d, parsed.values.mesh)!, name, parseOutputFormat(parsed.values.output), io);
    }
    const all = parsed.values['all-meshes'] === true;
    if (all && name !== undefined) throw new UsageError('--all-meshes lists proxies; it cannot be used with a NAME');
    const mesh = meshFor(d, parsed.values.mesh, all);
    const dump = parsed.values['config-dump'] === true;
    const types = parsed.values.type?.split(',').map((t) => t.trim()).filter((t) => t !== '') ?? [];
    if (parsed.values.type !== undefined && !dump) throw new UsageError('--type selects config dump sections: use it with --config-dump');
    for (const t of types) if (!XDS_TYPES.includes(t)) throw new UsageError(`--type "${t}" is not one of ${XDS_TYPES.join(', ')}`);
    const rules = parsed.values.rules === true;
    if (rules) {
      if (dump) throw new UsageError('--rules and --config-dump show different things: choose one');
      if (d.kind !== 'Dataplane') throw new UsageError(`--rules shows a dataplane's policy rules; ${d.plural} are not matched to policies`);
      if (name === undefined) throw new UsageError('--rules shows one dataplane: give its NAME');
    }
    const client = clientFor(parsed, io);

    if (rules) return inspectRules(client, d, name!, mesh!, parseOutputFormat(parsed.values.output), io);

    if (dump) {
      if (name === undefined) throw new UsageError('--config-dump shows one proxy: give its NAME');
      const format = parseOutputFormat(parsed.values.output ?? 'json');
      if (format === 'table') throw new UsageError('a config dump prints as json or yaml, not as a table');
      io.out(renderValue(await client.configDump(d, name, mesh, types), format));
      return 0;
    }

    const format = parseOutputFormat(parsed.values.output);
    if (name !== undefined) {
      const item = await client.getInsight(d, name, mesh);
      io.out(format === 'table' ? insightTable(d, [item]) : renderValue(item, format));
      return 0;
    }
    const items = await client.listInsights(d, mesh);
    if (format !== 'table') {
      io.out(renderList(items, format));
      return 0;
    }
    if (items.length === 0) {
      io.err(mesh !== undefined ? `No ${d.plural} found in mesh "${mesh}".\n` : `No ${d.plural} found.\n`);
      return 0;
    }
    io.out(insightTable(d, items));
    return 0;
  },
};
