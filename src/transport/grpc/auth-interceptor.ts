import {
  Metadata,
  ResponderBuilder,
  ServerInterceptingCall,
  ServerListenerBuilder,
  type ServerInterceptor,
} from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { InferdError } from '../../inferd-error';
import type { Authenticator, Principal } from '../../security/authenticator';
import { certificateIdentity } from '../../security/certificate-identity';
import { methodAccess, type ReflectionAccess } from './method-scopes';
import { STATUS_FOR, statusDetails } from './status-for';

export interface AuthInterceptorOptions {
  readonly reflection: ReflectionAccess;
  readonly log: Logger;
}

/**
 * Checks every call before its handler sees it: who the caller is (Authenticator), whether it
 * has the scope the method needs (METHOD_SCOPES), and, for each request message, whether that
 * still holds (a token taken out of the access file, an expired JWT) and the caller is within
 * its rate. A call that fails gets UNAUTHENTICATED, PERMISSION_DENIED or
 * RESOURCE_EXHAUSTED (which ends a stream) and never reaches the handler. The "authorization"
 * metadata is taken out before any handler runs, open ones included, so that nothing
 * downstream can log it.
 */
export function authInterceptor(auth: Authenticator, options: AuthInterceptorOptions): ServerInterceptor {
  return (method, call) => {
    const access = methodAccess(method.path, options.reflection);
    if (access === 'open') {
      const open = new ServerListenerBuilder()
        .withOnReceiveMetadata((metadata, next) => {
          metadata.remove('authorization');
          next(metadata);
        })
        .build();
      return new ServerInterceptingCall(call, new ResponderBuilder().withStart((next) => next(open)).build());
    }
    let principal: Principal | undefined;
    let denied = false;
    const deny = (err: unknown): void => {
      if (denied) return;
      denied = true;
      const e =
        err instanceof InferdError ? err : new InferdError('UNAUTHENTICATED', 'credentials could not be checked');
      if (!(err instanceof InferdError))
        options.log.error({ err, method: method.path }, 'unexpected error while checking credentials');
      options.log.info(
        { method: method.path, caller: principal?.name, code: e.code, reason: e.message },
        'call refused',
      );
      call.sendStatus({ code: STATUS_FOR[e.code], details: statusDetails(e.message), metadata: new Metadata() });
    };
    const listener = new ServerListenerBuilder()
      .withOnReceiveMetadata((metadata, next) => {
        const authorization = metadata.get('authorization').map(String);
        metadata.remove('authorization');
        if (authorization.length > 1)
          return deny(new InferdError('UNAUTHENTICATED', 'send one "authorization" metadata entry, not several'));
        auth
          .authenticate(authorization[0], certificateIdentity(call.getAuthContext().sslPeerCertificate))
          .then((p) => {
            principal = p;
            if (access === undefined)
              throw new InferdError('PERMISSION_DENIED', `${method.path} is not open to any caller`);
            auth.authorize(p, access, method.path.slice(1));
            options.log.debug({ method: method.path, caller: p.name, kind: p.kind }, 'call authorised');
            next(metadata);
          }, deny)
          .catch(deny);
      })
      .withOnReceiveMessage((message, next) => {
        if (denied || principal === undefined) return;
        try {
          // A stream outlives changes: a revoked token or an expired JWT stops at its next message.
          const current = auth.recheck(principal);
          // The same principal is the one authorised at the start: only a reloaded one is checked again.
          if (current !== principal) auth.authorize(current, access!, method.path.slice(1));
          principal = current;
          auth.admit(principal);
        } catch (err) {
          return deny(err);
        }
        next(message);
      })
      .build();
    return new ServerInterceptingCall(call, new ResponderBuilder().withStart((next) => next(listener)).build());
  };
}
