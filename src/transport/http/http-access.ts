import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import { InferdError } from '../../inferd-error';
import type { Authenticator } from '../../security/authenticator';
import { certificateIdentity } from '../../security/certificate-identity';
import type { Scope } from '../../security/scopes';
import type { TlsFiles } from '../../security/tls-files';

export interface HttpAccessOptions {
  readonly tls: TlsFiles | undefined;
  readonly auth: Authenticator | undefined;
  readonly log: Logger;
}

/** Why a request is refused: its status (401, 403, 429) and a message that names no credential. */
export interface HttpRefusal {
  readonly status: number;
  readonly code: InferdError['code'];
  readonly message: string;
}

const REFUSAL_STATUS: Partial<Record<InferdError['code'], number>> = { UNAUTHENTICATED: 401, PERMISSION_DENIED: 403, RESOURCE_EXHAUSTED: 429 };

/**
 * Whether a request to something that needs `scope` (`what` names it in messages) may go on,
 * as the gRPC port decides it: under mutual TLS, a client certificate the client CA signed
 * (else 401); under authentication, a bearer token or listed certificate with the scope (401
 * without credentials, 403 without the scope, 429 past the caller's rate). Undefined when it
 * may; the refusal otherwise (logged at info level, never with the credential).
 */
export async function httpRefusal(req: IncomingMessage, scope: Scope, what: string, options: HttpAccessOptions): Promise<HttpRefusal | undefined> {
  const socket = req.socket as TLSSocket;
  const verified = options.tls !== undefined && socket.authorized === true;
  if (options.tls?.mutual === true && !verified) return { status: 401, code: 'UNAUTHENTICATED', message: 'a client certificate signed by the client CA is needed' };
  if (options.auth === undefined) return undefined;
  try {
    const principal = await options.auth.authenticate(req.headers.authorization, verified ? certificateIdentity(socket.getPeerCertificate()) : undefined);
    options.auth.authorize(principal, scope, what);
    options.auth.admit(principal);
    return undefined;
  } catch (err) {
    if (!(err instanceof InferdError) || REFUSAL_STATUS[err.code] === undefined) throw err;
    options.log.info({ path: (req.url ?? '').split('?')[0], code: err.code, reason: err.message }, 'request refused');
    return { status: REFUSAL_STATUS[err.code]!, code: err.code, message: err.message };
  }
}
