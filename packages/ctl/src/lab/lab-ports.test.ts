import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { describe, it } from 'node:test';
import { demoResources } from './lab-demo.js';
import { labFiles, labPlan, type LabPort } from './lab-plan.js';
import { firstTakenPort, labPorts, portPlanProblem, takenPortMessage } from './lab-ports.js';
import { trafficPlan, trafficPorts } from './lab-traffic-plan.js';

const portsAt = (offset: number) => labPorts(labPlan(offset, labFiles('/nonexistent')), demoResources(offset), trafficPorts(trafficPlan(offset)));

describe('the ports of the lab', () => {
  it('are the daemons\', the demo proxies\' and the traffic apps\', each named by its role, shifted by the offset', () => {
    const expected: [string, number][] = [
      ['global API', 5681], ['global HTTPS API', 5682], ['global KDS', 5685],
      ['zone-1 API', 15681], ['zone-1 HTTPS API', 15682], ['zone-1 xDS', 15678],
      ['zone-2 API', 25681], ['zone-2 HTTPS API', 25682], ['zone-2 xDS', 25678],
      ['zone-1 ingress', 10001], ['zone-1 egress', 10002],
      ['zone-1 web inbound', 11001], ['zone-1 web outbound to backend', 12001], ['zone-1 web outbound to httpbin', 12002],
      ['zone-1 backend-1 inbound', 11011], ['zone-1 edge-gateway-1 HTTP listener', 8080], ['zone-1 edge-gateway-1 TCP listener', 9000],
      ['zone-2 ingress', 20001], ['zone-2 backend-1 inbound', 21001], ['zone-2 backend-2 inbound', 21011],
      ['zone-1 echo-web inbound', 11201], ['zone-1 echo-v1 inbound', 11211], ['zone-1 echo-v2 inbound', 11221],
      ['zone-2 echo-web inbound', 21201], ['zone-2 echo-v1 inbound', 21211], ['zone-2 echo-v2 inbound', 21221],
    ];
    assert.deepEqual(portsAt(0).map((p) => [p.role, p.port]), expected);
    assert.deepEqual(portsAt(7).map((p) => [p.role, p.port]), expected.map(([r, p]) => [r, p + 7]));
  });

  it('are the ones the daemons are told to listen on', () => {
    for (const p of labPlan(3, labFiles('/nonexistent'))) {
      const flags = ['--api-port', '--api-tls-port', '--xds-port', '--kds-port'].flatMap((f) => (p.args.includes(f) ? [Number(p.args[p.args.indexOf(f) + 1])] : []));
      assert.deepEqual(flags.sort(), p.ports.map((x) => x.port).sort(), p.name);
    }
  });

  it('fit together at every offset up to the one that pushes the highest beyond 65535', () => {
    const highest = Math.max(...portsAt(0).map((p) => p.port));
    for (let offset = 0; offset <= 65_535 - highest; offset++) assert.equal(portPlanProblem(portsAt(offset)), undefined, `offset ${offset}`);
    assert.equal(portPlanProblem(portsAt(65_536 - highest)), 'zone-2 HTTPS API would be on port 65536, outside 1-65535');
  });
});

describe('portPlanProblem', () => {
  it('names both roles and the port when two share it, and the first such pair', () => {
    const ports: LabPort[] = [{ role: 'global API', port: 5681 }, { role: 'zone-1 xDS', port: 5682 }, { role: 'zone-2 ingress', port: 5681 }, { role: 'web inbound', port: 5682 }];
    assert.equal(portPlanProblem(ports), 'global API and zone-2 ingress would both be on port 5681');
  });

  it('refuses ports outside the TCP range', () => {
    assert.equal(portPlanProblem([{ role: 'global API', port: 0 }]), 'global API would be on port 0, outside 1-65535');
    assert.equal(portPlanProblem([{ role: 'global KDS', port: 70_000 }]), 'global KDS would be on port 70000, outside 1-65535');
    assert.equal(portPlanProblem([]), undefined);
  });
});

describe('firstTakenPort', () => {
  const listen = async (t: { after(fn: () => unknown): void }, host: string): Promise<number> => {
    const server: Server = createServer();
    // Registered before listening, so a failed listen cannot leave the server open.
    t.after(() => new Promise((resolve) => server.close(resolve)));
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, host, resolve));
    return (server.address() as { port: number }).port;
  };
  const freePort = async (): Promise<number> => {
    const server = createServer();
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    await new Promise((resolve) => server.close(resolve));
    return port;
  };

  it('answers the first port, in plan order, that cannot be listened on, and frees the ones it tried', async (t) => {
    const held = await listen(t, '127.0.0.1');
    const free = await freePort();
    const ports: LabPort[] = [{ role: 'global API', port: free }, { role: 'zone-1 API', port: held }];
    // Held on loopback only, the port still cannot be had on every interface, where the lab listens.
    assert.deepEqual(await firstTakenPort(ports, '0.0.0.0'), { role: 'zone-1 API', port: held, code: 'EADDRINUSE' });
    assert.equal(await firstTakenPort(ports.slice(0, 1), '0.0.0.0'), undefined);
    assert.equal(await firstTakenPort(ports.slice(0, 1), '0.0.0.0'), undefined, 'the check closed what it opened');
  });

  it('says which port and role in one line, and what to do', () => {
    assert.equal(takenPortMessage({ role: 'zone-1 API', port: 15681, code: 'EADDRINUSE' }), 'port 15681 (zone-1 API) is in use: stop what holds it or pass --port-offset N');
    assert.equal(takenPortMessage({ role: 'global API', port: 80, code: 'EACCES' }), 'port 80 (global API) cannot be listened on (EACCES): pass --port-offset N');
  });
});
