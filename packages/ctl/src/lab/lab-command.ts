import { join } from 'node:path';
import { labPlan, labTable } from './lab-plan.js';
import { type StartedProcess, startLabProcess, stopAll } from './lab-runner.js';

export const LAB_USAGE = `Usage: meshfed lab [--port-offset N] [--log-dir DIR]

Starts a local lab: one global control plane and two zones (zone-1, zone-2) on the memory store,
on fixed ports, and prints their URLs. Ctrl-C stops them all.`;

/** `meshfed lab`: runs until SIGINT/SIGTERM; resolves with the exit code. */
export async function runLab(options: { portOffset: number; logDir: string; out?: (s: string) => void }): Promise<number> {
  const out = options.out ?? ((s: string) => process.stdout.write(`${s}\n`));
  const plan = labPlan(options.portOffset);
  const started: StartedProcess[] = [];
  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return code;
    stopping = true;
    await stopAll(started);
    return code;
  };
  try {
    // Global first: zones will dial it once they federate.
    started.push(await startLabProcess(plan[0]!, options.logDir));
    started.push(...(await Promise.all(plan.slice(1).map((p) => startLabProcess(p, options.logDir)))));
  } catch (err) {
    process.stderr.write(`meshfed lab: ${(err as Error).message}\n`);
    return stop(1);
  }
  out(labTable(plan, options.logDir));
  return new Promise<number>((resolve) => {
    const onSignal = () => void stop(0).then(() => { out('lab stopped'); resolve(0); });
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    for (const s of started) {
      s.child.once('exit', (code) => {
        if (stopping) return;
        process.stderr.write(`meshfed lab: ${s.plan.name} exited unexpectedly (${code}); stopping the lab. See ${join(options.logDir, `${s.plan.name}.log`)}\n`);
        void stop(1).then(resolve);
      });
    }
  });
}
