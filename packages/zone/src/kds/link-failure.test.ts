import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { classifyLinkFailure, type GrpcFailure, kdsTarget, type LinkContext, linkFailure } from './link-failure.js';

// What grpc-js 1.14 on Node 20 reported, copied from real attempts against a global CP, a
// --kds-insecure global, a CA-signed grpc-js server, and plain TCP/HTTP listeners.
const observed = {
  selfSigned: { code: 14, details: 'No connection established. Last error: Error: self-signed certificate. Resolution note: ' },
  unverifiedLeaf: { code: 14, details: 'No connection established. Last error: Error: unable to verify the first certificate. Resolution note: ' },
  expired: { code: 14, details: 'No connection established. Last error: Error: certificate has expired. Resolution note: ' },
  altnames: {
    code: 14,
    details: "No connection established. Last error: Error [ERR_TLS_CERT_ALTNAME_INVALID]: Hostname/IP does not match certificate's altnames: Host: elsewhere. is not in the cert's altnames: DNS:localhost, IP Address:127.0.0.1. Resolution note: ",
  },
  plaintextToTls: { code: 14, details: 'No connection established. Last error: Failed to connect (2026-12-05T08:31:55.231Z). Resolution note: ' },
  tlsToPlaintext: {
    code: 14,
    details: 'No connection established. Last error: Error: 80CC6BA49D7F0000:error:0A00010B:SSL routines:ssl3_get_record:wrong version number:../deps/openssl/openssl/ssl/record/ssl3_record.c:350:\n. Resolution note: ',
  },
  refused: { code: 14, details: 'No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:1. Resolution note: ' },
  noHost: { code: 14, details: 'Name resolution failed for target dns:no-such-host.invalid:5685' },
  silent: { code: 4, details: 'Deadline exceeded after 3.003s,name resolution: 0.001s,Waiting for LB pick' },
  http1: { code: 14, details: 'No connection established. Last error: Protocol error (2026-12-05T08:32:47.098Z). Resolution note: ' },
  http404: { code: 12, details: 'Received HTTP status code 404' },
  closedDuringHandshake: { code: 14, details: 'No connection established. Last error: Error: Client network socket disconnected before secure TLS connection was established. Resolution note: ' },
  badToken: { code: 16, details: 'zone token is malformed: not a JWT (expected three base64url parts separated by dots)' },
  otherZone: { code: 16, details: 'zone token is for zone "zone-b", but this zone declares "zone-a"' },
  disabled: { code: 7, details: 'zone "zone-a" is disabled on the global control plane' },
  stopping: { code: 14, details: 'the global control plane is stopping' },
} satisfies Record<string, GrpcFailure>;

const tls: LinkContext = { zone: 'zone-a', globalAddress: 'grpcs://127.0.0.1:5685', caFile: false };
const plain: LinkContext = { ...tls, globalAddress: 'grpc://127.0.0.1:5685' };

describe('classifyLinkFailure', () => {
  test('TLS verification: names the reason and the flags that fix it', () => {
    const f = classifyLinkFailure(observed.selfSigned, tls);
    assert.equal(f.cause, 'tls-unverified');
    assert.equal(f.severity, 'error');
    assert.equal(f.message, "cannot verify global's KDS certificate at 127.0.0.1:5685 (self-signed certificate): pass --kds-ca-file with the CA that signed it, or --kds-skip-verify for a lab");
    assert.match(classifyLinkFailure(observed.unverifiedLeaf, tls).message, /\(unable to verify the first certificate\): pass --kds-ca-file/);
  });

  test('TLS verification with a CA given: that CA is the wrong one', () => {
    assert.equal(
      classifyLinkFailure(observed.selfSigned, { ...tls, caFile: true }).message,
      "cannot verify global's KDS certificate at 127.0.0.1:5685 (self-signed certificate): the CA in --kds-ca-file did not sign it; pass the CA that did",
    );
  });

  test('an expired certificate is not fixed by a CA', () => {
    const f = classifyLinkFailure(observed.expired, { ...tls, caFile: true });
    assert.equal(f.cause, 'tls-expired');
    assert.match(f.message, /not valid now \(certificate has expired\): renew it on global \(--kds-tls-cert\)/);
  });

  test('a certificate for other names says which names it carries', () => {
    const f = classifyLinkFailure(observed.altnames, { ...tls, globalAddress: 'grpcs://elsewhere:5685' });
    assert.equal(f.cause, 'tls-name-mismatch');
    assert.equal(f.message, `global's KDS certificate does not name "elsewhere" (it names DNS:localhost, IP Address:127.0.0.1): dial a name it carries in --global-address, or reissue it with this one`);
  });

  test('grpc:// against a TLS port, grpcs:// against a plaintext one', () => {
    assert.deepEqual(classifyLinkFailure(observed.plaintextToTls, plain), {
      cause: 'speaks-tls', severity: 'error',
      message: 'global at 127.0.0.1:5685 hung up on plaintext gRPC (it speaks TLS?): use grpcs:// in --global-address',
    });
    assert.deepEqual(classifyLinkFailure(observed.tlsToPlaintext, tls), {
      cause: 'not-tls', severity: 'error',
      message: 'global at 127.0.0.1:5685 does not speak TLS (started with --kds-insecure?): use grpc:// in --global-address',
    });
  });

  test('nothing listening, an unknown host, a silent peer', () => {
    const refused = classifyLinkFailure(observed.refused, { ...plain, globalAddress: 'grpc://127.0.0.1:1' });
    assert.equal(refused.cause, 'refused');
    assert.equal(refused.severity, 'warn');
    assert.equal(refused.message, 'nothing answers at 127.0.0.1:1 (connection refused): check --global-address and that global is running');
    assert.equal(
      classifyLinkFailure(observed.noHost, { ...tls, globalAddress: 'grpcs://no-such-host.invalid' }).message,
      'host not found: "no-such-host.invalid" in --global-address does not resolve; check the name (and this host\'s DNS)',
    );
    assert.equal(classifyLinkFailure(observed.silent, tls).cause, 'timed-out');
  });

  test('a port that is not KDS: an HTTP/1 server (the REST API), or HTTP/2 without the service', () => {
    assert.match(classifyLinkFailure(observed.http1, { ...plain, globalAddress: 'grpc://127.0.0.1:5681' }).message, /^127\.0\.0\.1:5681 does not speak HTTP\/2 \(the REST API port\?\): point --global-address at global's --kds-port \(5685 by default\)$/);
    assert.equal(classifyLinkFailure(observed.http404, plain).cause, 'not-kds');
    assert.equal(classifyLinkFailure(observed.closedDuringHandshake, tls).cause, 'unreachable');
  });

  test("global's refusals keep its precise reason and say how to get a token", () => {
    assert.equal(
      classifyLinkFailure(observed.badToken, tls).message,
      'global refused this zone\'s token: zone token is malformed: not a JWT (expected three base64url parts separated by dots): issue one with "meshfed generate zone-token --zone zone-a --scope zone" on global and pass it with --zone-token-file',
    );
    assert.match(classifyLinkFailure(observed.otherZone, tls).message, /zone token is for zone "zone-b"/);
    assert.equal(classifyLinkFailure(observed.disabled, tls).message, 'global refused this zone: zone "zone-a" is disabled on the global control plane');
  });

  test('a live link that global ends is a loss, not a misconfiguration', () => {
    assert.deepEqual(classifyLinkFailure(observed.stopping, tls), {
      cause: 'lost', severity: 'warn', message: 'the link to global at 127.0.0.1:5685 broke (the global control plane is stopping): reconnecting',
    });
  });

  test('anything else keeps the status and the text, without timestamps or OpenSSL source locations', () => {
    assert.equal(classifyLinkFailure({ code: 13, details: 'Received RST_STREAM with code 2 (Internal server error)' }, tls).message, 'link to global at 127.0.0.1:5685 failed: INTERNAL Received RST_STREAM with code 2 (Internal server error)');
    const a = classifyLinkFailure({ code: 14, details: 'No connection established. Last error: Something odd (2026-12-05T08:31:55.231Z). Resolution note: ' }, tls);
    const b = classifyLinkFailure({ code: 14, details: 'No connection established. Last error: Something odd (2026-12-05T08:32:00.000Z). Resolution note: ' }, tls);
    assert.equal(a.message, b.message, 'stable across attempts, so it is said once');
  });

  test('never repeats a token or key a peer put in its text', () => {
    const jwt = 'eyJhbGciOiJFUzI1NiJ9.eyJ6b25lIjoieiJ9.c2lnbmF0dXJl';
    const f = classifyLinkFailure({ code: 16, details: `bad token ${jwt}` }, tls);
    assert.ok(!f.message.includes(jwt));
    assert.ok(!linkFailure('other', '-----BEGIN PRIVATE KEY-----\nMIG\n-----END PRIVATE KEY-----').message.includes('MIG'));
  });
});

test('kdsTarget: the default port and the scheme', () => {
  assert.deepEqual(kdsTarget('grpcs://global.example'), { hostPort: 'global.example:5685', host: 'global.example', secure: true });
  assert.deepEqual(kdsTarget('grpc://10.0.0.1:7000/'), { hostPort: '10.0.0.1:7000', host: '10.0.0.1', secure: false });
});
