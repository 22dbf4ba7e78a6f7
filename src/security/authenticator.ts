import { createHash, timingSafeEqual } from 'node:crypto';
import { createLocalJWKSet, errors as joseErrors, jwtVerify, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';
import type { Logger } from 'pino';
import { InferdError } from '../inferd-error';
import { parseAccessFile, type AccessList, type ClientEntry, type TokenEntry } from './access-file';
import { RateLimiter } from './rate-limiter';
import { isScope, type Scope } from './scopes';
import { WatchedFiles } from './watched-files';

/** Who is calling, once authenticated, and what they may do. Never holds the credential itself. */
export interface Principal {
  /** For logs and errors: the token's name, the JWT's subject, or the certificate's subject. */
  readonly name: string;
  readonly kind: 'token' | 'jwt' | 'certificate';
  readonly scopes: ReadonlySet<Scope>;
  /** Requests per second allowed; 0: no limit. */
  readonly ratePerSecond: number;
}

/** What a verified client certificate says of its holder (mutual TLS). */
export interface PeerCertificateIdentity {
  /** e.g. "CN=batch.internal,O=Acme" */
  readonly subject: string;
  readonly commonName: string | undefined;
  /** subjectAltName entries as TLS reports them, e.g. "DNS:batch.internal", "URI:spiffe://acme/batch". */
  readonly subjectAltNames: readonly string[];
}

export interface JwtOptions {
  /** A JSON Web Key Set: the keys JWTs must be signed with. */
  readonly jwksFile: string;
  readonly issuer: string;
  readonly audience: string;
  /** The claim holding the scopes: a space-separated string (OAuth "scope") or a list ("scp"). */
  readonly scopeClaim: string;
}

export interface AuthenticatorOptions {
  /** The access file: token digests and client certificate identities, with their scopes. */
  readonly accessFile: string | undefined;
  readonly jwt: JwtOptions | undefined;
  /** Requests per second per caller where the access file does not say; 0: no limit. */
  readonly ratePerSecond: number;
  /** How often the files are checked for a change. */
  readonly pollMs: number;
  readonly log: Logger;
  readonly now?: () => number;
}

const BEARER = /^Bearer +([!-~]+) *$/i;
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
/** Leeway for clock skew between the token's issuer and this server. */
const JWT_CLOCK_TOLERANCE_S = 30;

/**
 * Decides who a caller is from the "authorization" value it sent (a bearer token: one of the
 * access file's, or a JWT signed by a key of the key set) or, failing that, from its verified
 * client certificate; then whether that caller may use a scope, and whether it is within its
 * request rate. Token digests are compared in constant time; a token is never kept or logged.
 * The access file and key set are read again when they change.
 */
export class Authenticator {
  private readonly limiter: RateLimiter;
  /** How each principal was established, to check it again later (recheck). Never logged. */
  private readonly sources = new WeakMap<
    Principal,
    { access: AccessList | undefined; digest?: Buffer; client?: ClientEntry; expiresAtMs?: number }
  >();

  private constructor(
    private readonly access: WatchedFiles<AccessList> | undefined,
    private readonly keys: WatchedFiles<JWTVerifyGetKey> | undefined,
    private readonly options: AuthenticatorOptions,
  ) {
    this.limiter = new RateLimiter(options.now);
  }

  /** Reads the files. Throws an Error naming the file and every problem in it. */
  static open(options: AuthenticatorOptions): Authenticator {
    const access =
      options.accessFile === undefined
        ? undefined
        : WatchedFiles.open([options.accessFile], {
            what: 'access file',
            pollMs: options.pollMs,
            log: options.log,
            parse: ([text]) => parseAccessFile(text!.toString('utf8'), options.accessFile!),
          });
    let keys: WatchedFiles<JWTVerifyGetKey> | undefined;
    try {
      keys =
        options.jwt === undefined
          ? undefined
          : WatchedFiles.open([options.jwt.jwksFile], {
              what: 'JWKS file',
              pollMs: options.pollMs,
              log: options.log,
              parse: ([text]) => parseKeySet(text!, options.jwt!.jwksFile),
            });
    } catch (err) {
      access?.close();
      throw err;
    }
    const a = access?.current;
    options.log.info(
      {
        tokens: a?.tokens.length ?? 0,
        clients: a?.clients.length ?? 0,
        jwt: options.jwt !== undefined,
        ratePerSecond: options.ratePerSecond,
      },
      'authentication on',
    );
    return new Authenticator(access, keys, options);
  }

  /**
   * The caller of a call with this "authorization" value (undefined: none sent) over a
   * connection with this client certificate (undefined: none, or not verified). Rejects with
   * UNAUTHENTICATED saying what is wrong, never echoing the credential.
   */
  async authenticate(authorization: string | undefined, peer: PeerCertificateIdentity | undefined): Promise<Principal> {
    if (authorization !== undefined) {
      const m = BEARER.exec(authorization);
      if (m === null) throw new InferdError('UNAUTHENTICATED', 'the "authorization" metadata must be "Bearer <token>"');
      const token = m[1]!;
      const digest = createHash('sha256').update(token, 'utf8').digest();
      const entry = this.findToken(digest);
      if (entry !== undefined)
        return this.remember(
          {
            name: entry.name,
            kind: 'token',
            scopes: entry.scopes,
            ratePerSecond: entry.ratePerSecond ?? this.options.ratePerSecond,
          },
          { digest },
        );
      if (this.keys !== undefined && JWT_SHAPE.test(token)) return this.verifyJwt(token);
      throw new InferdError('UNAUTHENTICATED', 'the bearer token is not valid');
    }
    const client = peer === undefined ? undefined : this.findClient(peer);
    if (client !== undefined && peer !== undefined)
      return this.remember(
        {
          name: peer.subject,
          kind: 'certificate',
          scopes: client.scopes,
          ratePerSecond: client.ratePerSecond ?? this.options.ratePerSecond,
        },
        { client },
      );
    if (peer !== undefined && (this.access?.current.clients.length ?? 0) > 0) {
      throw new InferdError(
        'UNAUTHENTICATED',
        `the client certificate "${peer.subject}" is not in the access file, and no bearer token was sent`,
      );
    }
    throw new InferdError(
      'UNAUTHENTICATED',
      'this call needs credentials: send the metadata "authorization: Bearer <token>"',
    );
  }

  /**
   * `principal` as it stands now, for a call that goes on (each message of a stream): the same
   * object while nothing changed; with the scopes the access file gives now after a reload.
   * Throws UNAUTHENTICATED when its token or certificate entry was removed, or its JWT expired.
   */
  recheck(principal: Principal): Principal {
    const source = this.sources.get(principal);
    if (source === undefined) return principal;
    if (source.expiresAtMs !== undefined && Date.now() >= source.expiresAtMs + JWT_CLOCK_TOLERANCE_S * 1000) {
      throw new InferdError('UNAUTHENTICATED', 'the bearer token is not valid: it has expired');
    }
    const access = this.access?.current;
    if (access === source.access) return principal;
    if (source.digest !== undefined) {
      const entry = this.findToken(source.digest);
      if (entry === undefined)
        throw new InferdError(
          'UNAUTHENTICATED',
          'the bearer token is not valid any more: it was taken out of the access file',
        );
      return this.remember(
        {
          ...principal,
          name: entry.name,
          scopes: entry.scopes,
          ratePerSecond: entry.ratePerSecond ?? this.options.ratePerSecond,
        },
        { digest: source.digest },
      );
    }
    if (source.client !== undefined) {
      const entry = access?.clients.find(
        (c) =>
          c.name === source.client!.name &&
          c.commonName === source.client!.commonName &&
          c.subjectAltName === source.client!.subjectAltName,
      );
      if (entry === undefined)
        throw new InferdError(
          'UNAUTHENTICATED',
          `the client certificate "${principal.name}" is not in the access file any more`,
        );
      return this.remember(
        { ...principal, scopes: entry.scopes, ratePerSecond: entry.ratePerSecond ?? this.options.ratePerSecond },
        { client: entry },
      );
    }
    return principal;
  }

  /** Throws PERMISSION_DENIED naming the scope `what` needs when `principal` lacks it. */
  authorize(principal: Principal, scope: Scope, what: string): void {
    if (!principal.scopes.has(scope))
      throw new InferdError(
        'PERMISSION_DENIED',
        `${principal.kind} "${principal.name}" lacks the scope "${scope}", which ${what} needs`,
      );
  }

  /** Counts one request of `principal`; throws RESOURCE_EXHAUSTED past its rate. */
  admit(principal: Principal): void {
    if (principal.ratePerSecond <= 0) return;
    if (!this.limiter.take(`${principal.kind}:${principal.name}`, principal.ratePerSecond)) {
      throw new InferdError(
        'RESOURCE_EXHAUSTED',
        `${principal.kind} "${principal.name}" is over its rate of ${principal.ratePerSecond} requests per second`,
      );
    }
  }

  /** Stops watching the files. Safe to call twice. */
  close(): void {
    this.access?.close();
    this.keys?.close();
  }

  private remember(
    principal: Principal,
    source: { digest?: Buffer; client?: ClientEntry; expiresAtMs?: number },
  ): Principal {
    this.sources.set(principal, { access: this.access?.current, ...source });
    return principal;
  }

  private findToken(digest: Buffer): TokenEntry | undefined {
    let found;
    // Every entry is compared, in constant time each, so the time taken tells nothing of which matched.
    for (const entry of this.access?.current.tokens ?? []) if (timingSafeEqual(digest, entry.sha256)) found = entry;
    return found;
  }

  private findClient(peer: PeerCertificateIdentity): ClientEntry | undefined {
    return this.access?.current.clients.find(
      (c) =>
        (c.commonName !== undefined && c.commonName === peer.commonName) ||
        (c.subjectAltName !== undefined && peer.subjectAltNames.includes(c.subjectAltName)),
    );
  }

  private async verifyJwt(token: string): Promise<Principal> {
    const jwt = this.options.jwt!;
    let payload;
    try {
      ({ payload } = await jwtVerify(token, this.keys!.current, {
        issuer: jwt.issuer,
        audience: jwt.audience,
        clockTolerance: JWT_CLOCK_TOLERANCE_S,
        requiredClaims: ['exp'],
      }));
    } catch (err) {
      throw new InferdError('UNAUTHENTICATED', `the bearer token is not valid: ${jwtProblem(err)}`, { cause: err });
    }
    const claim = payload[jwt.scopeClaim];
    const listed = typeof claim === 'string' ? claim.split(' ') : Array.isArray(claim) ? claim : [];
    const scopes = new Set<Scope>(listed.filter(isScope));
    return this.remember(
      {
        name: typeof payload.sub === 'string' ? payload.sub : '(no subject)',
        kind: 'jwt',
        scopes,
        ratePerSecond: this.options.ratePerSecond,
      },
      { expiresAtMs: payload.exp! * 1000 },
    );
  }
}

/** What is wrong with a JWT, in words that give nothing of its contents away. */
function jwtProblem(err: unknown): string {
  if (err instanceof joseErrors.JWTExpired) return 'it has expired';
  if (err instanceof joseErrors.JWTClaimValidationFailed)
    return err.reason === 'missing'
      ? `it has no "${err.claim}" claim`
      : `its "${err.claim}" claim is not what this server accepts`;
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return 'its signature does not verify';
  if (err instanceof joseErrors.JWKSNoMatchingKey) return 'no key of the key set matches it';
  if (err instanceof joseErrors.JOSEAlgNotAllowed || err instanceof joseErrors.JOSENotSupported)
    return 'its algorithm is not accepted';
  return 'it is not a well-formed JWT';
}

function parseKeySet(text: Buffer, file: string): JWTVerifyGetKey {
  let set: unknown;
  try {
    set = JSON.parse(text.toString('utf8'));
  } catch (err) {
    throw new Error(`${file}: not JSON: ${(err as Error).message}`, { cause: err });
  }
  const keys = (set as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys) || keys.length === 0)
    throw new Error(`${file}: expected a JSON Web Key Set: {"keys": [...]} with at least one key`);
  if (keys.some((k: unknown) => typeof k === 'object' && k !== null && ('d' in k || 'k' in k))) {
    throw new Error(`${file}: holds a private or symmetric key; give only public keys`);
  }
  return createLocalJWKSet(set as JSONWebKeySet);
}
