import { experimental, type ServerCredentials } from '@grpc/grpc-js';
import type { TlsFiles, TlsMaterial } from '../../security/tls-files';

type IdentityListener = experimental.IdentityCertificateUpdateListener;
type CaListener = experimental.CaCertificateUpdateListener;

/**
 * Server credentials that follow the TLS files: grpc-js's certificate-provider credentials, fed
 * by TlsFiles, so that each change of the files becomes the secure context of new connections
 * (grpc-js calls setSecureContext; connections already open keep theirs). With a client CA,
 * clients must present a certificate it signed, or the handshake fails.
 */
export function tlsServerCredentials(tls: TlsFiles): ServerCredentials {
  const provider = new TlsFilesProvider(tls);
  // grpc-js 1.14 names these parameters (ca, identity) but uses them as (identity, ca): the
  // identity provider goes first, the CA provider (null for server-only TLS) second.
  return experimental.createCertificateProviderServerCredentials(provider, tls.mutual ? provider : null, tls.mutual);
}

class TlsFilesProvider implements experimental.CertificateProvider {
  private readonly identityListeners = new Set<IdentityListener>();
  private readonly caListeners = new Set<CaListener>();

  constructor(private readonly tls: TlsFiles) {
    tls.onChange((material) => {
      for (const l of this.caListeners) l(caUpdate(material));
      for (const l of this.identityListeners) l({ certificate: material.cert, privateKey: material.key });
    });
  }

  addIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.add(listener);
    // Not at once: grpc-js registers the server's own watcher only after adding this listener.
    process.nextTick(() => listener({ certificate: this.tls.current.cert, privateKey: this.tls.current.key }));
  }

  removeIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.delete(listener);
  }

  addCaCertificateListener(listener: CaListener): void {
    this.caListeners.add(listener);
    process.nextTick(() => listener(caUpdate(this.tls.current)));
  }

  removeCaCertificateListener(listener: CaListener): void {
    this.caListeners.delete(listener);
  }
}

function caUpdate(material: TlsMaterial): experimental.CaCertificateUpdate | null {
  return material.clientCa === undefined ? null : { caCertificate: material.clientCa };
}
