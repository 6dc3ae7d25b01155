import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { hostname, networkInterfaces } from 'node:os';
import { FlagError } from '../config/flags.js';
import type { PemKeyPair } from './certificates.js';

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;
const UNSPECIFIED = new Set(['0.0.0.0', '::']);
const DNS_NAME = /^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/;

/**
 * The names and addresses clients may dial a server bound to `address` by: loopback, the machine's
 * name, and the bind address if it is a specific one; bound to every address, every address of
 * this machine.
 */
export function certificateNames(address: string, host = hostname(), interfaces = networkInterfaces()): { dnsNames: string[]; ipAddresses: string[] } {
  const dns = new Set(['localhost']);
  const ips = new Set(['127.0.0.1', '::1']);
  if (DNS_NAME.test(host)) dns.add(host.toLowerCase());
  const bind = address.replace(/^\[(.*)\]$/, '$1');
  if (isIP(bind) === 0 && DNS_NAME.test(bind)) dns.add(bind.toLowerCase());
  else if (isIP(bind) !== 0 && !UNSPECIFIED.has(bind)) ips.add(bind);
  else if (UNSPECIFIED.has(bind)) {
    // Link-local addresses are left out: they cannot be dialled without an interface scope.
    for (const list of Object.values(interfaces)) for (const i of list ?? []) if (!/^fe[89ab][0-9a-f]:/i.test(i.address)) ips.add(i.address);
  }
  return { dnsNames: [...dns], ipAddresses: [...ips] };
}

/** A certificate (chain) and its key given as files, read and checked to belong together. */
export interface GivenCertificate {
  readonly pair: PemKeyPair;
  /** Leaf first, as in the file. */
  readonly chain: readonly X509Certificate[];
}

/**
 * Reads `--x-tls-cert` and `--x-tls-key` (their names in `flags`) and checks them: PEM, the key is the
 * leaf's, the leaf has not expired. Every mistake is a one-line FlagError naming the flag and file.
 */
export async function readGivenCertificate(
  files: { readonly cert: string; readonly key: string },
  flags: { readonly cert: string; readonly key: string },
): Promise<GivenCertificate> {
  const certPem = await readFlagFile(files.cert, flags.cert);
  const keyPem = await readFlagFile(files.key, flags.key);
  const chain = pemCertificates(certPem, `${flags.cert} ${files.cert}`);
  const leaf = chain[0]!;
  let key: KeyObject;
  try {
    key = createPrivateKey(keyPem);
  } catch {
    throw new FlagError(`${flags.key} ${files.key} holds no PEM private key`);
  }
  if (!leaf.checkPrivateKey(key)) throw new FlagError(`${flags.key} ${files.key} is not the key of the certificate in ${flags.cert} ${files.cert} ("${leaf.subject}")`);
  if (Date.parse(leaf.validTo) <= Date.now()) throw new FlagError(`${flags.cert} ${files.cert} expired on ${leaf.validTo}`);
  return { pair: { certPem, keyPem }, chain };
}

/** Every certificate of a PEM text; `where` names it in the FlagError when there is none or one does not parse. */
export function pemCertificates(pem: string, where: string): X509Certificate[] {
  const blocks = pem.match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) throw new FlagError(`${where} holds no PEM certificate`);
  return blocks.map((b, i) => {
    try {
      return new X509Certificate(b);
    } catch {
      throw new FlagError(`${where}: certificate ${i + 1} does not parse`);
    }
  });
}

export async function readFlagFile(file: string, flag: string): Promise<string> {
  return readFile(file, 'utf8').catch((e: NodeJS.ErrnoException) => {
    throw new FlagError(`cannot read ${flag} ${file}: ${e.code ?? e.message}`);
  });
}

/** Whether the chain's last certificate is self-signed, i.e. a client can trust the chain with nothing else. */
export function endsSelfSigned(chain: readonly X509Certificate[]): boolean {
  const top = chain.at(-1)!;
  return top.checkIssued(top) && top.verify(top.publicKey);
}
