import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildApiServer, createLogger, InProcessEventBus, MemoryStore, Telemetry } from '@meshfed/shared';
import { refuseZoneInsights } from './zone-insight-routes.js';

const quiet = createLogger({ component: 'test', level: 'fatal' });

test('a zone CP answers the zone insight paths with where to ask instead of a bare 404', async (t) => {
  for (const federated of [true, false]) {
    const app = buildApiServer({
      mode: federated ? 'zone' : 'standalone', zone: 'zone-1', store: new MemoryStore(new InProcessEventBus()), telemetry: new Telemetry({ service: 'test' }), log: quiet,
      extraRoutes: (a) => refuseZoneInsights(a, federated),
    });
    t.after(() => app.close());
    for (const url of ['/zones+insights', '/zones+insights/zone-1']) {
      const res = await app.inject(url);
      assert.equal(res.statusCode, 400, url);
      assert.equal(res.json().title, 'Not served here');
      assert.match(res.json().details, federated ? /kept by the global control plane.*Run "meshfed inspect zones --cp <global API URL>"$/ : /this is a standalone zone control plane, no zone connects to it$/);
    }
    // Zones themselves are still resources here.
    assert.equal((await app.inject('/zones')).statusCode, 200);
  }
});
