import type { ResourceKind } from '../resources/registry.js';
import type { ResourceKey } from '../resources/resource.js';
import type { ListOptions, ResourceStore, WriteOp } from '../store/resource-store.js';
import type { Telemetry } from './telemetry.js';

/** Wraps any store with operation latencies, error counts and a span around every commit. */
export function instrumentStore(store: ResourceStore, telemetry: Telemetry): ResourceStore {
  const latency = telemetry.histogram('meshfed_store_operation_duration_seconds', 'Latency of resource store operations');
  const errors = telemetry.counter('meshfed_store_errors_total', 'Resource store operations that failed');
  const backend = store.backend;

  async function timed<T>(op: string, fn: () => Promise<T>): Promise<T> {
    const start = performance.now();
    try {
      return await fn();
    } catch (err) {
      errors.add(1, { backend, op, error: (err as Error).name });
      throw err;
    } finally {
      latency.record((performance.now() - start) / 1000, { backend, op });
    }
  }

  return {
    backend,
    get: (key: ResourceKey) => timed('get', () => store.get(key)),
    list: (type: ResourceKind, options?: ListOptions) => timed('list', () => store.list(type, options)),
    commit: (ops: readonly WriteOp[]) =>
      telemetry.span('store.commit', { 'meshfed.store.backend': backend, 'meshfed.store.ops': ops.length, 'meshfed.resource': describeOps(ops) }, () =>
        timed('commit', () => store.commit(ops)),
      ),
    healthy: () => store.healthy(),
    close: () => store.close(),
  };
}

function describeOps(ops: readonly WriteOp[]): string {
  const first = ops.slice(0, 5).map((o) => {
    const k = o.op === 'put' ? o.resource : o.key;
    return `${o.op} ${k.type}${k.mesh ? ` ${k.mesh}/` : ' '}${k.name}`;
  });
  return ops.length > 5 ? `${first.join(', ')}, … (${ops.length})` : first.join(', ');
}
