import { join } from 'node:path';
import { writeKdsCertificates } from '../kds-certs.js';
import { applyDemo, demoProxyTable, demoResources } from './lab-demo.js';
import { waitForZones, writeZoneToken } from './lab-federation.js';
import { LAB_BIND_ADDRESS, LAB_ZONES, labFiles, labPlan, labTable } from './lab-plan.js';
import { firstTakenPort, labPorts, portPlanProblem, takenPortMessage } from './lab-ports.js';
import { showLive } from './lab-live.js';
import { type StartedProcess, startLabProcess, stopAll } from './lab-runner.js';
import { TrafficDemo } from './lab-traffic.js';
import { ECHO_CALLER, ECHO_RATE, ECHO_SERVICE, ECHO_TARGET, ECHO_VERSIONS, EXAMPLE_ROUTE_FILE, EXAMPLE_ROUTE_NAME, trafficPlan, trafficPorts } from './lab-traffic-plan.js';
import { TRAFFIC_AVERAGE_MS } from './lab-traffic-view.js';

export const LAB_USAGE = `Usage: meshfed lab [--port-offset N] [--dir DIR] [--no-traffic]

Starts a local lab: one global control plane and two zones (zone-1, zone-2) federated to it over
KDS (TLS with a lab CA, zone tokens), on the memory store, on fixed ports, and prints their URLs and
whether each zone is online. It registers a demo: web in zone-1 calling backend (one instance in
zone-1, two in zone-2) and the external service httpbin, a zone ingress in each zone and a zone
egress in zone-1, and prints each proxy's config version and ACK state. Then, unless --no-traffic,
it starts live gRPC traffic: in each zone, proxyless apps beside meshfed-dp agents (${ECHO_CALLER}
calling ${ECHO_SERVICE} ${ECHO_VERSIONS.join(' and ')}) and a live table of their calls per second and per instance.
Ctrl-C stops them all.`;

export interface LabOptions {
  readonly portOffset: number;
  readonly dir: string;
  /** Start the live gRPC traffic (its apps and agents) and show it. */
  readonly traffic: boolean;
  /** Standard output is a terminal: the traffic table is redrawn in place. */
  readonly tty?: boolean;
  readonly columns?: () => number | undefined;
  readonly out?: (s: string) => void;
}

/** `meshfed lab`: runs until SIGINT/SIGTERM; resolves with the exit code. */
export async function runLab(options: LabOptions): Promise<number> {
  const logDir = join(options.dir, 'logs');
  const out = options.out ?? ((s: string) => process.stdout.write(`${s}\n`));
  const files = labFiles(join(options.dir, 'secrets'));
  const plan = labPlan(options.portOffset, files);
  const fail = (message: string) => process.stderr.write(`meshfed lab: ${message}\n`);
  // Before anything is written or started: a lab that cannot have its ports would only fail halfway, noisily.
  const members = options.traffic ? trafficPlan(options.portOffset) : [];
  const ports = labPorts(plan, demoResources(options.portOffset), trafficPorts(members));
  const problem = portPlanProblem(ports);
  if (problem !== undefined) {
    fail(`--port-offset ${options.portOffset} cannot be used: ${problem}`);
    return 2;
  }
  const taken = await firstTakenPort(ports, LAB_BIND_ADDRESS);
  if (taken !== undefined) {
    fail(takenPortMessage(taken));
    return 1;
  }
  const started: StartedProcess[] = [];
  let traffic: TrafficDemo | undefined;
  let stopLive = () => {};
  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return code;
    stopping = true;
    stopLive();
    // The apps first: their agents would only log the control planes going away.
    await traffic?.stop();
    await stopAll(started);
    return code;
  };
  const apis = { global: plan[0]!.api, 'zone-1': plan[1]!.api, 'zone-2': plan[2]!.api };
  let online: Map<string, boolean>;
  let proxies: string;
  try {
    await writeKdsCertificates(files.dir, ['localhost', '127.0.0.1'], 30);
    // Global first: it issues the zones' tokens, then the zones dial it.
    await startLabProcess(plan[0]!, logDir, started);
    for (const z of LAB_ZONES) await writeZoneToken(plan[0]!.api, z, files.token(z));
    await Promise.all(plan.slice(1).map((p) => startLabProcess(p, logDir, started)));
    online = await waitForZones(plan[0]!.api, LAB_ZONES);
    await applyDemo(apis, options.portOffset);
    proxies = await demoProxyTable(LAB_ZONES.map((z, i) => ({ name: z, api: plan[i + 1]!.api })));
  } catch (err) {
    fail((err as Error).message);
    return stop(1);
  }
  out(labTable(plan, online, logDir));
  out(`\nDemo proxies (register a real Envoy for one with POST /bootstrap on its zone):\n${proxies}`);
  if (members.length > 0) {
    // Started after the tables, so the control planes are ready to use at once; the apps follow in seconds.
    traffic = new TrafficDemo({ members, zoneApis: apis, dir: join(options.dir, 'apps'), logDir });
    void traffic.start();
    const t = traffic;
    const global = apis.global;
    const render = () => [
      `\nLive traffic at ${new Date().toTimeString().slice(0, 8)}, rates per second over the last ${TRAFFIC_AVERAGE_MS / 1000} s: in each zone ${ECHO_CALLER} calls`,
      `${ECHO_TARGET} (${ECHO_VERSIONS.join(' and ')}) at ${ECHO_RATE} calls/s, proxyless gRPC apps beside meshfed-dp agents.`,
      t.table(Date.now()),
      `logs: ${join(logDir, '<zone>.<app>.log')} (the agent's: .dp.log)`,
      `shift it 90/10 to v1: npx meshfed apply -f ${EXAMPLE_ROUTE_FILE} --cp ${global}`,
      `and back:             npx meshfed delete meshhttproute ${EXAMPLE_ROUTE_NAME} --cp ${global}`,
    ].join('\n');
    stopLive = showLive(render, { out, tty: options.tty ?? false, ...(options.columns ? { columns: options.columns } : {}) });
  }
  return new Promise<number>((resolve) => {
    const onSignal = () => void stop(0).then(() => { out('lab stopped'); resolve(0); });
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    for (const s of started) {
      s.child.once('exit', (code) => {
        if (stopping) return;
        process.stderr.write(`meshfed lab: ${s.plan.name} exited unexpectedly (${code}); stopping the lab. See ${join(logDir, `${s.plan.name}.log`)}\n`);
        void stop(1).then(resolve);
      });
    }
  });
}
