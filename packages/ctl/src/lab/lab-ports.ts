import { createServer } from 'node:net';
import { type DemoResource, demoPorts } from './lab-demo.js';
import type { LabPort, LabProcess } from './lab-plan.js';

const MAX_PORT = 65_535;

/** Every port the lab will use: its daemons' in the order they start, its demo proxies', then its traffic apps'. */
export function labPorts(plan: readonly LabProcess[], demo: readonly DemoResource[], traffic: readonly LabPort[]): LabPort[] {
  return [...plan.flatMap((p) => p.ports), ...demoPorts(demo), ...traffic];
}

/**
 * Why the lab cannot use these ports together (one beyond the TCP range, or two roles on one port),
 * in one line naming the roles and the port; undefined when it can.
 */
export function portPlanProblem(ports: readonly LabPort[]): string | undefined {
  const seen = new Map<number, string>();
  for (const { role, port } of ports) {
    if (!Number.isInteger(port) || port < 1 || port > MAX_PORT) return `${role} would be on port ${port}, outside 1-${MAX_PORT}`;
    const other = seen.get(port);
    if (other !== undefined) return `${other} and ${role} would both be on port ${port}`;
    seen.set(port, role);
  }
  return undefined;
}

export interface TakenPort extends LabPort {
  /** Why it could not be listened on: EADDRINUSE, EACCES. */
  readonly code: string;
}

/** Listens on the port and closes it again; answers why it could not, if it could not. */
function tryListen(host: string, port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(undefined)));
  });
}

/**
 * The first of `ports` (in their order, so the report does not depend on timing) that cannot be
 * listened on at `host`; all are tried at once. A check, not a reservation: the lab runs right after.
 */
export async function firstTakenPort(ports: readonly LabPort[], host: string): Promise<TakenPort | undefined> {
  const codes = await Promise.all(ports.map((p) => tryListen(host, p.port)));
  const i = codes.findIndex((c) => c !== undefined);
  return i === -1 ? undefined : { ...ports[i]!, code: codes[i]! };
}

/** One line for a port the lab cannot have, saying what to do about it. */
export function takenPortMessage(p: TakenPort): string {
  return p.code === 'EADDRINUSE'
    ? `port ${p.port} (${p.role}) is in use: stop what holds it or pass --port-offset N`
    : `port ${p.port} (${p.role}) cannot be listened on (${p.code}): pass --port-offset N`;
}
