import { generateKeyPairSync, randomBytes } from 'node:crypto';
import * as forge from 'node-forge';

/** A PEM certificate with its PEM private key. */
export interface Issued {
  readonly cert: string;
  readonly key: string;
}

interface Authority extends Issued {
  readonly forgeCert: forge.pki.Certificate;
  readonly forgeKey: forge.pki.rsa.PrivateKey;
}

export interface IssueOptions {
  readonly commonName: string;
  /** subjectAltName entries: DNS names, IP addresses, URIs. */
  readonly dns?: readonly string[];
  readonly ips?: readonly string[];
  readonly uris?: readonly string[];
  /** Validity; default from an hour ago to a day ahead. */
  readonly notBefore?: Date;
  readonly notAfter?: Date;
}

function keyPair(): { forgeKey: forge.pki.rsa.PrivateKey; publicKey: forge.pki.rsa.PublicKey; pem: string } {
  // Node makes the key (fast, native); forge only builds and signs the certificates.
  const { privateKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  const forgeKey = forge.pki.privateKeyFromPem(privateKey) as forge.pki.rsa.PrivateKey;
  return { forgeKey, publicKey: forge.pki.setRsaPublicKey(forgeKey.n, forgeKey.e), pem: privateKey };
}

function build(
  subject: string,
  publicKey: forge.pki.rsa.PublicKey,
  notBefore: Date,
  notAfter: Date,
): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  cert.serialNumber = `01${randomBytes(8).toString('hex')}`;
  cert.validity.notBefore = notBefore;
  cert.validity.notAfter = notAfter;
  cert.setSubject([
    { shortName: 'CN', value: subject },
    { shortName: 'O', value: 'inferd tests' },
  ]);
  return cert;
}

const HOUR_MS = 3_600_000;

/** A self-signed certificate authority. */
export function makeAuthority(commonName: string): Authority {
  const { forgeKey, publicKey, pem } = keyPair();
  const cert = build(commonName, publicKey, new Date(Date.now() - HOUR_MS), new Date(Date.now() + 24 * HOUR_MS));
  cert.setIssuer(cert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
  ]);
  cert.sign(forgeKey, forge.md.sha256.create());
  return { cert: forge.pki.certificateToPem(cert), key: pem, forgeCert: cert, forgeKey };
}

/** A leaf certificate signed by `ca`, good for both TLS server and client use. */
export function issue(ca: Authority, options: IssueOptions): Issued {
  const { publicKey, pem } = keyPair();
  const cert = build(
    options.commonName,
    publicKey,
    options.notBefore ?? new Date(Date.now() - HOUR_MS),
    options.notAfter ?? new Date(Date.now() + 24 * HOUR_MS),
  );
  cert.setIssuer(ca.forgeCert.subject.attributes);
  const altNames = [
    ...(options.dns ?? []).map((value) => ({ type: 2, value })),
    ...(options.ips ?? []).map((ip) => ({ type: 7, ip })),
    ...(options.uris ?? []).map((value) => ({ type: 6, value })),
  ];
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true, clientAuth: true },
    ...(altNames.length > 0 ? [{ name: 'subjectAltName', altNames }] : []),
  ]);
  cert.sign(ca.forgeKey, forge.md.sha256.create());
  return { cert: forge.pki.certificateToPem(cert), key: pem };
}
