import { createPrivateKey, X509Certificate } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import type { Logger } from 'pino';
import { WatchedFiles } from './watched-files';

/** A server certificate chain with its key, and the CA bundle client certificates must chain to. */
export interface TlsMaterial {
  /** PEM: the server's certificate, then any intermediates. */
  readonly cert: Buffer;
  /** PEM: the certificate's private key. */
  readonly key: Buffer;
  /** PEM: the CAs that sign client certificates; present only with mutual TLS. */
  readonly clientCa: Buffer | undefined;
  /** The server certificate's subject, e.g. "CN=inferd.internal", and when it expires. */
  readonly subject: string;
  readonly validTo: string;
  readonly fingerprint256: string;
}

export interface TlsFilesOptions {
  readonly certFile: string;
  readonly keyFile: string;
  /** With it, TLS is mutual: clients must present a certificate signed by one of these CAs. */
  readonly clientCaFile: string | undefined;
  /** How often the files are checked for a change (certificate rotation). */
  readonly pollMs: number;
  readonly log: Logger;
}

/**
 * The server's TLS certificate, key and (for mutual TLS) client CA, read from files and read
 * again when they change, so that a rotated certificate is served to new connections without a
 * restart (connections already open keep the one they began with). A new set that does not
 * load, whose key does not match its certificate, or whose certificate is out of its validity
 * period, is refused and the previous one kept.
 */
export class TlsFiles {
  private constructor(
    private readonly files: WatchedFiles<TlsMaterial>,
    /** Whether clients must present a certificate. */
    readonly mutual: boolean,
  ) {}

  /** Reads the files. Throws an Error naming the file or the problem when they cannot be used. */
  static open(options: TlsFilesOptions): TlsFiles {
    const paths = [
      options.certFile,
      options.keyFile,
      ...(options.clientCaFile === undefined ? [] : [options.clientCaFile]),
    ];
    const files = WatchedFiles.open(paths, {
      what: 'TLS certificate',
      pollMs: options.pollMs,
      log: options.log,
      parse: ([cert, key, clientCa]) => parseMaterial(cert!, key!, clientCa, paths),
    });
    const tls = new TlsFiles(files, options.clientCaFile !== undefined);
    tls.logCertificate(options.log, 'TLS certificate loaded');
    files.onChange(() => tls.logCertificate(options.log, 'TLS certificate rotated: new connections get it'));
    return tls;
  }

  get current(): TlsMaterial {
    return this.files.current;
  }

  /** Calls `listener` with each new certificate set. */
  onChange(listener: (material: TlsMaterial) => void): void {
    this.files.onChange(listener);
  }

  /** Stops watching the files. Safe to call twice. */
  close(): void {
    this.files.close();
  }

  private logCertificate(log: Logger, message: string): void {
    const { subject, validTo, fingerprint256 } = this.current;
    log.info({ subject, validTo, fingerprint256, mutual: this.mutual }, message);
  }
}

function parseMaterial(
  cert: Buffer,
  key: Buffer,
  clientCa: Buffer | undefined,
  [certFile, keyFile, caFile]: readonly string[],
): TlsMaterial {
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (err) {
    throw new Error(`${certFile}: not a PEM certificate (${(err as Error).message})`, { cause: err });
  }
  let privateKey;
  try {
    privateKey = createPrivateKey(key);
  } catch (err) {
    throw new Error(`${keyFile}: not a PEM private key (${(err as Error).message})`, { cause: err });
  }
  if (!x509.checkPrivateKey(privateKey))
    throw new Error(`${keyFile}: this private key does not belong to the certificate in ${certFile}`);
  // Clients refuse a certificate out of its validity: serving one would refuse every new connection.
  const now = Date.now();
  if (Date.parse(x509.validTo) <= now)
    throw new Error(`${certFile}: the certificate expired at ${new Date(x509.validTo).toISOString()}`);
  if (Date.parse(x509.validFrom) > now)
    throw new Error(`${certFile}: the certificate is not valid before ${new Date(x509.validFrom).toISOString()}`);
  if (clientCa !== undefined) {
    try {
      new X509Certificate(clientCa);
    } catch (err) {
      throw new Error(`${caFile}: not a PEM certificate (${(err as Error).message})`, { cause: err });
    }
  }
  try {
    createSecureContext({ cert, key, ca: clientCa });
  } catch (err) {
    throw new Error(`${certFile}, ${keyFile}: cannot be used for TLS (${(err as Error).message})`, { cause: err });
  }
  return {
    cert,
    key,
    clientCa,
    subject: x509.subject.split('\n').join(','),
    validTo: new Date(x509.validTo).toISOString(),
    fingerprint256: x509.fingerprint256,
  };
}
