import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { GRPC_SERVER_LISTENER_TEMPLATE, PROXYLESS_CERT_PROVIDER } from '@meshfed/shared';
import { grpcBootstrap } from './grpc-bootstrap.js';
import { certFilesIn } from './secrets.js';

// The parser grpc-js-xds runs on GRPC_XDS_BOOTSTRAP at start: its verdict is the one that counts.
const { validateBootstrapConfig } = createRequire(import.meta.url)('@grpc/grpc-js-xds/build/src/xds-bootstrap.js') as { validateBootstrapConfig: (o: unknown) => any };

test('the bootstrap passes grpc-js-xds\'s own parser, as written (JSON round trip)', () => {
  for (const serverUri of ['127.0.0.1:40001', 'unix:/run/meshfed/dp.sock']) {
    const b = grpcBootstrap({ serverUri, nodeId: 'default.web', zone: 'zone-1', certFiles: certFilesIn('/var/lib/dp') });
    const parsed = validateBootstrapConfig(JSON.parse(JSON.stringify(b)));
    assert.equal(parsed.xdsServers[0].server_uri, serverUri);
    assert.deepEqual(parsed.xdsServers[0].channel_creds, [{ type: 'insecure', config: undefined }]);
    // Deletions are honoured: the agent does not ask grpc-js-xds to ignore them.
    assert.deepEqual(parsed.xdsServers[0].server_features, []);
    assert.equal(parsed.node.id, 'default.web');
    assert.deepEqual(parsed.node.locality, { zone: 'zone-1' });
    assert.equal(parsed.serverListenerResourceNameTemplate, GRPC_SERVER_LISTENER_TEMPLATE);
    assert.deepEqual(parsed.certificateProviders[PROXYLESS_CERT_PROVIDER], {
      pluginName: 'file_watcher',
      config: { certificateFile: '/var/lib/dp/cert.pem', privateKeyFile: '/var/lib/dp/key.pem', caCertificateFile: '/var/lib/dp/ca.pem', refreshIntervalMs: 10_000 },
    });
  }
});
