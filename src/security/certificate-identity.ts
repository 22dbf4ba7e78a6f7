import type { PeerCertificate } from 'node:tls';
import type { PeerCertificateIdentity } from './authenticator';

/** A certificate's subject as one line, e.g. "CN=batch.internal,O=Acme". */
export function certificateSubject(cert: PeerCertificate): string {
  return Object.entries(cert.subject ?? {})
    .flatMap(([key, value]) =>
      (value === undefined ? [] : Array.isArray(value) ? value : [value]).map((v) => `${key}=${v}`),
    )
    .join(',');
}

/** What a verified client certificate says of its holder; undefined for an empty one (no certificate). */
export function certificateIdentity(cert: PeerCertificate | undefined): PeerCertificateIdentity | undefined {
  if (cert === undefined || cert.subject === undefined || Object.keys(cert).length === 0) return undefined;
  const cn = cert.subject.CN;
  return {
    subject: certificateSubject(cert),
    commonName: Array.isArray(cn) ? cn[0] : cn,
    subjectAltNames: (cert.subjectaltname ?? '').split(', ').filter((s) => s !== ''),
  };
}
