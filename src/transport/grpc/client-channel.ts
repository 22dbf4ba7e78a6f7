import { readFileSync } from 'node:fs';
import { credentials, InterceptingCall, type ChannelCredentials, type ChannelOptions, type Interceptor } from '@grpc/grpc-js';

/** How a command-line client reaches a server that may use TLS and authentication. */
export interface ClientSecurity {
  /** PEM CA bundle to verify the server with; TLS is on when set. */
  readonly caFile: string | undefined;
  /** PEM client certificate and key, for mutual TLS. */
  readonly certFile: string | undefined;
  readonly keyFile: string | undefined;
  /** Sent as "authorization: Bearer <token>" on every call. */
  readonly token: string | undefined;
}

/**
 * The credentials and channel options for a client with `security`. Throws an Error naming a file
 * that cannot be read. The token goes in by an interceptor rather than call credentials, which
 * grpc-js refuses on plaintext channels (a server on loopback may run authentication without TLS).
 */
export function clientChannel(security: ClientSecurity): { credentials: ChannelCredentials; options: ChannelOptions } {
  const read = (file: string | undefined): Buffer | undefined => {
    if (file === undefined) return undefined;
    try {
      return readFileSync(file);
    } catch (err) {
      throw new Error(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
    }
  };
  const creds = security.caFile === undefined ? credentials.createInsecure() : credentials.createSsl(read(security.caFile), read(security.keyFile), read(security.certFile));
  const token = security.token;
  const interceptors: Interceptor[] =
    token === undefined
      ? []
      : [
          (options, nextCall) =>
            new InterceptingCall(nextCall(options), {
              start: (metadata, listener, next) => {
                metadata.set('authorization', `Bearer ${token}`);
                next(metadata, listener);
              },
            }),
        ];
  return { credentials: creds, options: { interceptors } };
}
