import { readFileSync } from 'node:fs';
import type { ClientTls } from './client-types';

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

/** The command-line options of a client's security, for node:util parseArgs (batch and bench share them). */
export const CLIENT_SECURITY_OPTIONS = {
  'tls-ca': { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
} as const;

/** Their lines in a command's usage text. */
export const CLIENT_SECURITY_USAGE = `  --tls-ca FILE             with --server: connect over TLS, trusting this PEM CA bundle
  --tls-cert FILE           with --server: client certificate (PEM) for mutual TLS, with --tls-key
  --tls-key FILE            its private key
`;

/**
 * The security of a client of `server` (undefined: the command runs without one, and the token is
 * ignored) from its flags and the INFERD_TOKEN value, adding to `problems` what is wrong with
 * them. The token itself is never put in a problem: a stray line break is the usual culprit.
 */
export function readClientSecurity(
  values: {
    readonly 'tls-ca'?: string | undefined;
    readonly 'tls-cert'?: string | undefined;
    readonly 'tls-key'?: string | undefined;
  },
  server: string | undefined,
  envToken: string | undefined,
  problems: string[],
): ClientSecurity {
  if ((values['tls-cert'] === undefined) !== (values['tls-key'] === undefined))
    problems.push('--tls-cert and --tls-key go together');
  if (values['tls-cert'] !== undefined && values['tls-ca'] === undefined)
    problems.push('--tls-cert needs --tls-ca: mutual TLS is TLS first');
  if (server === undefined && values['tls-ca'] !== undefined)
    problems.push('--tls-ca, --tls-cert and --tls-key are for --server');
  const token = server === undefined || envToken === '' ? undefined : envToken;
  if (token !== undefined && !/^[!-~]+$/.test(token))
    problems.push('INFERD_TOKEN holds a character no token can have (a space or a line break?)');
  return { caFile: values['tls-ca'], certFile: values['tls-cert'], keyFile: values['tls-key'], token };
}

/**
 * The token and TLS contents of `security`, for an InferdClient, its files read. Throws an Error
 * naming a file that cannot be read.
 */
export function clientSecurityOptions(security: ClientSecurity): {
  token: string | undefined;
  tls: ClientTls | undefined;
} {
  const read = (file: string | undefined): Buffer | undefined => {
    if (file === undefined) return undefined;
    try {
      return readFileSync(file);
    } catch (err) {
      throw new Error(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, {
        cause: err,
      });
    }
  };
  const tls =
    security.caFile === undefined
      ? undefined
      : { ca: read(security.caFile), cert: read(security.certFile), key: read(security.keyFile) };
  return { token: security.token, tls };
}
