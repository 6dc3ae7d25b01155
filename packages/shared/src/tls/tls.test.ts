// KDS TLS: certificates made here, served by a real grpc-js server on 127.0.0.1 and checked by real clients.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import {
  type ChannelCredentials,
  type Client,
  makeGenericClientConstructor,
  Server,
  type ServerUnaryCall,
  type sendUnaryData,
  type ServiceDefinition,
  type ServiceError,
} from '@grpc/grpc-js';
import { generateCa, generateSelfSignedCertificate, issueServerCertificate, type PemKeyPair } from './certificates.js';
import { clientCredentials, serverCredentials } from './credentials.js';

const CALL_DEADLINE_MS = 5000;
const identity = (b: Buffer) => b;

const ECHO: ServiceDefinition = {
  echo: {
    path: '/meshfed.test.Echo/Echo',
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
};
const EchoClient = makeGenericClientConstructor(ECHO, 'Echo');

interface Running {
  readonly port: number;
  stop(): Promise<void>;
}

async function serve(pair: PemKeyPair): Promise<Running> {
  const server = new Server();
  server.addService(ECHO, {
    echo: (call: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Buffer>) => callback(null, call.request),
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', serverCredentials(pair), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return {
    port,
    stop: () =>
      new Promise<void>((resolve) => {
        const force = setTimeout(() => server.forceShutdown(), 2000);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      }),
  };
}

/** One echo call with a deadline: the answer, or the gRPC error. */
async function echo(target: string, credentials: ChannelCredentials, options: Record<string, string> = {}): Promise<Buffer> {
  const client: Client = new EchoClient(target, credentials, options);
  try {
    return await new Promise<Buffer>((resolve, reject) => {
      client.makeUnaryRequest<Buffer, Buffer>(
        ECHO.echo!.path, identity, identity, Buffer.from('ping'),
        { deadline: Date.now() + CALL_DEADLINE_MS },
        (err: ServiceError | null, value?: Buffer) => (err ? reject(err) : resolve(value!)),
      );
    });
  } finally {
    client.close();
  }
}

async function failure(p: Promise<unknown>): Promise<ServiceError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  assert.ok(err instanceof Error, 'the call failed');
  return err as ServiceError;
}

describe('certificates', () => {
  test('self-signed: ECDSA P-256, SANs, serverAuth, valid from a minute ago', async () => {
    const started = Date.now();
    const { certPem, keyPem } = await generateSelfSignedCertificate({ commonName: 'global', dnsNames: ['global', 'localhost'], ipAddresses: ['127.0.0.1', '::1'], validDays: 30 });
    const cert = new X509Certificate(certPem);
    assert.match(keyPem, /^-----BEGIN PRIVATE KEY-----/);
    assert.equal(cert.subject, 'CN=global');
    assert.equal(cert.publicKey.asymmetricKeyType, 'ec');
    assert.equal(cert.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    assert.equal(cert.subjectAltName, 'DNS:global, DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1');
    assert.deepEqual(cert.keyUsage, ['1.3.6.1.5.5.7.3.1'], 'extended key usage: serverAuth');
    assert.equal(cert.ca, false);
    assert.ok(cert.checkPrivateKey((await import('node:crypto')).createPrivateKey(keyPem)), 'the key is the certificate\'s');
    const from = Date.parse(cert.validFrom);
    const to = Date.parse(cert.validTo);
    assert.ok(from <= started - 59_000 && from >= started - 62_000, `valid from a minute ago: ${cert.validFrom}`);
    assert.ok(Math.abs(to - (started + 30 * 86_400_000)) < 5000, `valid for 30 days: ${cert.validTo}`);
  });

  test('a CA signs server certificates that chain to it', async () => {
    const ca = await generateCa({ commonName: 'lab CA' });
    const caCert = new X509Certificate(ca.certPem);
    assert.equal(caCert.ca, true);
    const server = await issueServerCertificate(ca, { commonName: 'global', dnsNames: ['global'], ipAddresses: ['127.0.0.1'] });
    const cert = new X509Certificate(server.certPem);
    assert.equal(cert.issuer, 'CN=lab CA');
    assert.ok(cert.checkIssued(caCert) && cert.verify(caCert.publicKey), 'signed by the CA');
    assert.equal(cert.ca, false);

    const notCa = await generateSelfSignedCertificate({ commonName: 'localhost' });
    await assert.rejects(issueServerCertificate(notCa, { commonName: 'x' }), /is not a CA certificate/);
    await assert.rejects(generateSelfSignedCertificate({ commonName: 'x', ipAddresses: ['300.1.1.1'] }), /"300.1.1.1" is not an IP address/);
    await assert.rejects(generateSelfSignedCertificate({ commonName: 'x', dnsNames: ['bad name'] }), /"bad name" is not a DNS name/);
    await assert.rejects(generateSelfSignedCertificate({ commonName: 'x', validDays: 0 }), /validDays must be positive/);
  });
});

describe('gRPC over TLS (as KDS uses it)', () => {
  let ca: PemKeyPair;
  let otherCa: PemKeyPair;
  let signed: Running;
  let selfSigned: Running;
  let selfSignedPair: PemKeyPair;

  before(async () => {
    [ca, otherCa] = await Promise.all([generateCa(), generateCa({ commonName: 'someone else' })]);
    signed = await serve(await issueServerCertificate(ca, { commonName: 'global', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] }));
    selfSignedPair = await generateSelfSignedCertificate({ commonName: 'global', ipAddresses: ['127.0.0.1'] });
    selfSigned = await serve(selfSignedPair);
  });
  after(async () => {
    await signed?.stop();
    await selfSigned?.stop();
  });

  test('a client with the CA that signed the server certificate connects', async () => {
    const answer = await echo(`127.0.0.1:${signed.port}`, clientCredentials({ caPem: ca.certPem }));
    assert.equal(answer.toString(), 'ping');
  });

  test('a client that trusts the self-signed certificate itself connects', async () => {
    const answer = await echo(`127.0.0.1:${selfSigned.port}`, clientCredentials({ caPem: selfSignedPair.certPem }));
    assert.equal(answer.toString(), 'ping');
  });

  test('a client without the CA, or with another CA, is refused because of the certificate', async () => {
    for (const creds of [clientCredentials(), clientCredentials({ caPem: otherCa.certPem })]) {
      const err = await failure(echo(`127.0.0.1:${signed.port}`, creds));
      assert.equal(err.code, 14, `UNAVAILABLE, got ${err.code}: ${err.message}`);
      assert.match(err.message, /unable to verify the first certificate/);
    }
    const err = await failure(echo(`127.0.0.1:${selfSigned.port}`, clientCredentials()));
    assert.match(err.message, /self[- ]signed certificate/i);
  });

  test('the right CA but a name the certificate does not carry is refused', async () => {
    // Dialled at 127.0.0.1, but told to check the name "elsewhere", which the certificate does not carry.
    const err = await failure(echo(`127.0.0.1:${signed.port}`, clientCredentials({ caPem: ca.certPem }), { 'grpc.ssl_target_name_override': 'elsewhere' }));
    assert.match(err.message, /does not match certificate's altnames: Host: elsewhere/);
  });

  test('skipVerify connects to any certificate', async () => {
    assert.equal((await echo(`127.0.0.1:${signed.port}`, clientCredentials({ skipVerify: true }))).toString(), 'ping');
    assert.equal((await echo(`127.0.0.1:${selfSigned.port}`, clientCredentials({ skipVerify: true }), { 'grpc.ssl_target_name_override': 'elsewhere' })).toString(), 'ping');
    assert.throws(() => clientCredentials({ skipVerify: true, caPem: ca.certPem }), /not both/);
  });
});
