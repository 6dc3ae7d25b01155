import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runCli, splitCommand, type CommandTable } from './cli.js';
import { applyCommand } from './commands/apply.js';
import { deleteCommand } from './commands/delete.js';
import { getCommand } from './commands/get.js';
import { UsageError } from './errors.js';
import { fakeControlPlane, recordingIo } from './testing/fakes.js';

const COMMANDS: CommandTable = { apply: applyCommand, get: getCommand, delete: deleteCommand };

describe('splitCommand', () => {
  it('finds the command after global flags and keeps them for it', () => {
    assert.deepEqual(splitCommand(['--cp', 'http://x', 'get', 'dp']), { command: 'get', rest: ['--cp', 'http://x', 'dp'], help: false, version: false });
    assert.deepEqual(splitCommand(['--version']), { rest: ['--version'], help: false, version: true });
    assert.throws(() => splitCommand(['-o', 'yaml', 'get']), UsageError);
  });
});

describe('runCli', () => {
  it('prints usage and version', async () => {
    const io = recordingIo();
    assert.equal(await runCli(['--help'], COMMANDS, io), 0);
    assert.match(io.stdout(), /Commands:\n {2}apply +Create or update/);
    assert.match(io.stdout(), /--cp URL/);
    const v = recordingIo();
    assert.equal(await runCli(['--version'], COMMANDS, v), 0);
    assert.match(v.stdout(), /^meshfed \d+\.\d+\.\d+/);
    const none = recordingIo();
    assert.equal(await runCli([], COMMANDS, none), 2);
    assert.match(none.stderr(), /^meshfed: /);
  });

  it('prints a command help with -h or help COMMAND', async () => {
    const a = recordingIo();
    assert.equal(await runCli(['get', '-h'], COMMANDS, a), 0);
    assert.match(a.stdout(), /meshfed get TYPE NAME/);
    const b = recordingIo();
    assert.equal(await runCli(['help', 'apply'], COMMANDS, b), 0);
    assert.match(b.stdout(), /meshfed apply -f FILE/);
  });

  it('answers usage mistakes with a message, the short usage and exit code 2', async () => {
    const io = recordingIo();
    assert.equal(await runCli(['get', 'pods'], COMMANDS, io), 2);
    const lines = io.stderr().split('\n');
    assert.match(lines[0]!, /^Error: unknown resource type "pods"; valid types: meshes, /);
    assert.equal(lines[1], `Usage: ${getCommand.synopsis}`);
    const unknown = recordingIo();
    assert.equal(await runCli(['frobnicate'], COMMANDS, unknown), 2);
    assert.match(unknown.stderr(), /^Error: unknown command "frobnicate"; commands: apply, get, delete\n/);
    const flags = recordingIo();
    assert.equal(await runCli(['get', 'meshes', '--nope'], COMMANDS, flags), 2);
    assert.match(flags.stderr(), /^Error: unknown flag "--nope"\n/);
    const scoped = recordingIo();
    assert.equal(await runCli(['get', 'meshes', '--mesh', 'x'], COMMANDS, scoped), 2);
    assert.match(scoped.stderr(), /Mesh is not mesh-scoped/);
    const both = recordingIo();
    assert.equal(await runCli(['get', 'dp', '-A', '--mesh', 'x'], COMMANDS, both), 2);
    const format = recordingIo();
    assert.equal(await runCli(['get', 'dp', '-o', 'wide'], COMMANDS, format), 2);
    const missing = recordingIo();
    assert.equal(await runCli(['delete', 'dp'], COMMANDS, missing), 2);
    assert.match(missing.stderr(), /^Error: missing NAME\n/);
  });

  it('gets, lists and deletes through the REST API', async () => {
    const cp = fakeControlPlane();
    const files = {
      'r.yaml': 'type: Mesh\nname: default\n---\ntype: Dataplane\nname: dp-1\nnetworking:\n  address: 10.0.0.1\n---\ntype: Dataplane\nmesh: demo\nname: dp-2\nnetworking:\n  address: 10.0.0.2\n',
    };
    const env = { MESHFED_CP: cp.base };
    assert.equal(await runCli(['apply', '-f', 'r.yaml'], COMMANDS, recordingIo({ fetch: cp.fetch, files, env })), 0);

    const table = recordingIo({ fetch: cp.fetch, env });
    assert.equal(await runCli(['get', 'dp'], COMMANDS, table), 0);
    assert.match(table.stdout(), /^MESH\s+NAME\s+ADDRESS\s+SERVICES\s+AGE\ndefault\s+dp-1\s+10\.0\.0\.1\s+-\s+1h\n$/);

    const all = recordingIo({ fetch: cp.fetch, env });
    assert.equal(await runCli(['get', 'dataplanes', '-A', '-o', 'json'], COMMANDS, all), 0);
    assert.deepEqual(JSON.parse(all.stdout()).items.map((r: { name: string }) => r.name), ['dp-1', 'dp-2']);

    const one = recordingIo({ fetch: cp.fetch, env });
    assert.equal(await runCli(['get', 'dataplane', 'dp-2', '--mesh', 'demo', '-o', 'yaml'], COMMANDS, one), 0);
    assert.match(one.stdout(), /^type: Dataplane\nmesh: demo\nname: dp-2\n/);

    const empty = recordingIo({ fetch: cp.fetch, env });
    assert.equal(await runCli(['get', 'meshgateways'], COMMANDS, empty), 0);
    assert.equal(empty.stdout(), '');
    assert.equal(empty.stderr(), 'No meshgateways found in mesh "default".\n');
    // Scripts get an empty list, shaped like what a non-empty one prints.
    const emptyYaml = recordingIo({ fetch: cp.fetch, env });
    assert.equal(await runCli(['get', 'meshgateways', '-o', 'yaml'], COMMANDS, emptyYaml), 0);
    assert.deepEqual([emptyYaml.stdout(), emptyYaml.stderr()], ['[]\n', '']);
    const emptyJson = recordingIo({ fetch: cp.fetch, env });
    assert.equal(await runCli(['get', 'meshgateways', '-A', '-o', 'json'], COMMANDS, emptyJson), 0);
    assert.deepEqual(JSON.parse(emptyJson.stdout()), { total: 0, items: [], next: null });

    const del = recordingIo({ fetch: cp.fetch, env });
    assert.equal(await runCli(['delete', 'dp', 'dp-2', '--mesh', 'demo'], COMMANDS, del), 0);
    assert.equal(del.stdout(), 'deleted Dataplane "dp-2" in mesh "demo"\n');

    const gone = recordingIo({ fetch: cp.fetch, env });
    assert.equal(await runCli(['get', 'dp', 'dp-2', '--mesh', 'demo'], COMMANDS, gone), 1);
    assert.equal(gone.stderr(), 'Error: Dataplane "dp-2" in mesh "demo" not found (404)\n');
  });

  it('takes the former plural meshloadbalancingstrategys and asks for and prints the canonical one', async () => {
    const urls: string[] = [];
    const fetchFn: typeof fetch = async (input) => {
      urls.push(new URL(String(input)).pathname);
      return new Response(JSON.stringify({ total: 0, items: [], next: null }), { status: 200, headers: { 'content-type': 'application/json' } });
    };
    const io = recordingIo({ fetch: fetchFn });
    assert.equal(await runCli(['get', 'meshloadbalancingstrategys'], COMMANDS, io), 0);
    assert.deepEqual(urls, ['/meshes/default/meshloadbalancingstrategies']);
    assert.equal(io.stderr(), 'No meshloadbalancingstrategies found in mesh "default".\n');
  });

  it('reports an unreachable control plane with exit code 1', async () => {
    const io = recordingIo({
      fetch: async () => {
        throw new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED', syscall: 'connect' }) });
      },
    });
    assert.equal(await runCli(['get', 'meshes'], COMMANDS, io), 1);
    assert.equal(
      io.stderr(),
      'Error: cannot reach the control plane at http://127.0.0.1:5681 (connect ECONNREFUSED): is it running? Use --cp to point elsewhere.\n',
    );
  });
});
