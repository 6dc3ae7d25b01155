import { ENVOY_EXTENSION_NAME, ENVOY_TYPE, type KumaPlaceholder, parseAccessLogFormat, toStruct } from '@meshfed/shared';
import { type Draft, lazyTyped } from '../generate/envoy-parts.js';
import { isHttp, type Protocol } from '../generate/protocol.js';
import type { ToConf } from '../rules/index.js';
import { computeForAnyClient } from '../rules/index.js';
import { listenerFromConf, listenerToConf } from './gateway-confs.js';
import type { GatewayDraft, PolicyPlugin } from './types.js';

type Conf = ToConf<'MeshAccessLog'>;
type Backend = Conf['backends'][number];
type Format = NonNullable<NonNullable<Backend['file']>['format']>;

// Kuma's default formats (meshaccesslog plugin/xds: defaultNetworkAccessLogFormat and
// defaultHttpAccessLogFormat), used when a backend has no `format`.
const DEFAULT_TCP_FORMAT =
  '[%START_TIME%] %RESPONSE_FLAGS% %KUMA_MESH% %KUMA_SOURCE_ADDRESS_WITHOUT_PORT%(%KUMA_SOURCE_SERVICE%)->%UPSTREAM_HOST%(%KUMA_DESTINATION_SERVICE%) took %DURATION%ms, sent %BYTES_SENT% bytes, received: %BYTES_RECEIVED% bytes';
const DEFAULT_HTTP_FORMAT =
  '[%START_TIME%] %KUMA_MESH% "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" "%REQ(X-B3-TRACEID?X-DATADOG-TRACEID)%" "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%KUMA_SOURCE_SERVICE%" "%KUMA_DESTINATION_SERVICE%" "%KUMA_SOURCE_ADDRESS_WITHOUT_PORT%" "%UPSTREAM_HOST%"';

/** What each of Kuma's placeholders becomes, as Envoy format text. */
type KumaValues = Readonly<Record<KumaPlaceholder, string>>;

const literal = (s: string) => s.replaceAll('%', '%%');

/**
 * Kuma's values for one side of the traffic (its KumaValues). Kuma writes the dataplane's address for
 * both source-address placeholders; the plugins shape a configuration shared by every instance of a
 * sidecar (no instance's address in it), so meshfed asks Envoy for the same address at log time: the
 * address the inbound accepted the connection on, or the local address of the outbound's upstream
 * connection.
 */
function kumaValues(o: { mesh: string; zone: string; inbound: boolean; source: string; destination: string }): KumaValues {
  const address = o.inbound ? '%DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT%' : '%UPSTREAM_LOCAL_ADDRESS_WITHOUT_PORT%';
  return {
    KUMA_MESH: literal(o.mesh),
    KUMA_SOURCE_SERVICE: literal(o.source),
    KUMA_DESTINATION_SERVICE: literal(o.destination),
    KUMA_SOURCE_ADDRESS: `${address}:0`,
    KUMA_SOURCE_ADDRESS_WITHOUT_PORT: address,
    KUMA_TRAFFIC_DIRECTION: o.inbound ? 'INBOUND' : 'OUTBOUND',
    KUMA_ZONE: literal(o.zone),
    // Kuma's workload identity comes from Kubernetes labels meshfed's dataplanes do not have.
    KUMA_WORKLOAD: '',
  };
}

/**
 * A format with Kuma's placeholders replaced, or why Envoy would refuse it (the schema refuses such
 * formats, so only a policy stored before a fix of the schema could get here).
 */
function interpolate(format: string, values: KumaValues): { text: string } | { error: string } {
  const parsed = parseAccessLogFormat(format);
  if ('error' in parsed) return { error: `format ${JSON.stringify(format)} ${parsed.error}` };
  return { text: parsed.parts.map((p) => ('literal' in p ? literal(p.literal) : (values[p.text.slice(1, -1) as KumaPlaceholder] ?? p.text))).join('') };
}

/**
 * Kuma's FileBackendSFS: a plain format (or the default for the protocol) gets a newline, since Envoy
 * adds none to text formats; JSON formats are one object per line already. `omitEmptyValues` as given.
 */
function logFormat(format: Format | undefined, fallback: string, values: KumaValues): { format: Draft } | { error: string } {
  const omit = format?.omitEmptyValues ? { omit_empty_values: true } : {};
  if (format?.json) {
    const fields: Record<string, string> = {};
    for (const kv of format.json) {
      const v = interpolate(kv.value, values);
      if ('error' in v) return v;
      fields[kv.key] = v.text;
    }
    return { format: { json_format: toStruct(fields), ...omit } };
  }
  const v = interpolate(`${format?.plain ?? fallback}\n`, values);
  return 'error' in v ? v : { format: { text_format_source: { inline_string: v.text }, ...omit } };
}

/**
 * One Envoy access log per backend, in the policy's order. File backends become Envoy's file access
 * logger. The others cannot be honoured yet, and say so:
 * - tcp: Kuma has Envoy write JSON lines `{address, message}` to a Unix socket of kuma-dp
 *   (/tmp/kuma-al-<proxy>-<mesh>.sock), and kuma-dp sends each message to the address. meshfed has no
 *   data-plane agent yet; pointing Envoy at that path with nobody listening would only have it create
 *   and fill a regular file there, so the backend is left out.
 * - openTelemetry: Kuma adds a cluster for the collector and Envoy's OpenTelemetry logger; meshfed
 *   configures neither yet.
 */
function accessLogs(conf: Conf, origins: readonly string[], protocol: Protocol, values: KumaValues, problems: string[]): Draft[] {
  const who = `MeshAccessLog ${origins.join(', ')}`;
  const fallback = isHttp(protocol) ? DEFAULT_HTTP_FORMAT : DEFAULT_TCP_FORMAT;
  const logs: Draft[] = [];
  for (const b of conf.backends) {
    if (b.file) {
      const f = logFormat(b.file.format, fallback, values);
      if ('error' in f) problems.push(`${who}: the file backend ${b.file.path} is not applied: its ${f.error}`);
      else logs.push({ name: ENVOY_EXTENSION_NAME.fileAccessLog, typed_config: lazyTyped(ENVOY_TYPE.fileAccessLog, { path: b.file.path, log_format: f.format }) });
    } else if (b.tcp) {
      problems.push(`${who}: the tcp backend ${b.tcp.address} is not applied: Kuma's kuma-dp forwards Envoy's access log lines to it, and meshfed has no data-plane agent to do that yet`);
    } else if (b.openTelemetry) {
      problems.push(`${who}: the openTelemetry backend ${b.openTelemetry.endpoint} is not applied: meshfed does not configure OpenTelemetry access logs yet`);
    }
  }
  return logs;
}

/** The logs go on the terminal filter: the TCP proxy, or the HTTP connection manager (per request). */
function attach(terminal: { tcpProxy?: Draft; http?: { hcm: Draft } }, logs: readonly Draft[]): void {
  const target = terminal.tcpProxy ?? terminal.http?.hcm;
  if (!target || logs.length === 0) return;
  target['access_log'] = [...((target['access_log'] as Draft[] | undefined) ?? []), ...logs];
}

/**
 * MeshAccessLog (Kuma's meshaccesslog plugin): each inbound logs by the conf computed for any client
 * (`from` takes only Mesh), with the inbound's service as destination and "unknown" as source, as Kuma;
 * each outbound by the conf computed for its destination service (`to`), with the proxy's first
 * inbound's service as source (Kuma's IdentifyingName). An empty `backends` list logs nothing.
 */
export const meshAccessLogPlugin: PolicyPlugin<'MeshAccessLog'> = {
  kind: 'MeshAccessLog',
  applySidecar(draft, rules, ctx) {
    if (!rules) return;
    const common = { mesh: draft.mesh.name, zone: draft.zone };
    for (const ib of draft.inbounds) {
      const rule = computeForAnyClient(rules.from[ib.rulesKey]);
      if (!rule) continue;
      const values = kumaValues({ ...common, inbound: true, source: 'unknown', destination: ib.service });
      attach(ib, accessLogs(rule.conf as Conf, rule.origins, ib.protocol, values, ctx.problems));
    }
    const source = draft.inbounds[0]?.service ?? 'unknown';
    for (const ob of draft.outbounds) {
      const computed = rules.toByService[ob.service];
      if (!computed) continue;
      const values = kumaValues({ ...common, inbound: false, source, destination: ob.service });
      attach(ob, accessLogs(computed.conf, computed.origins, ob.protocol, values, ctx.problems));
    }
  },
  /**
   * A builtin gateway (Kuma's applyToGateway): each listener logs what it forwards by the `to` conf
   * for the whole mesh (source the gateway's service, destination `*`, as Kuma), then what it accepts
   * by the `from` conf for any client (source "unknown", destination the gateway's service), on its
   * terminal filter; the default format is the HTTP one on HTTP listeners, the TCP one on TCP ones.
   */
  applyGateway(draft, rules, ctx) {
    if (!rules) return;
    const common = { mesh: draft.mesh.name, zone: draft.zone };
    const service = draft.service;
    for (const l of draft.listeners) {
      const protocol: Protocol = l.http ? 'http' : 'tcp';
      const to = listenerToConf(rules, l);
      if (to) attach(l, accessLogs(to.conf, to.origins, protocol, kumaValues({ ...common, inbound: false, source: service, destination: '*' }), ctx.problems));
      const from = listenerFromConf(rules, l);
      if (from) attach(l, accessLogs(from.conf as Conf, from.origins, protocol, kumaValues({ ...common, inbound: true, source: 'unknown', destination: service }), ctx.problems));
    }
  },
};

