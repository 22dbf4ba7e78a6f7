import { parse as parseYaml } from 'yaml';
import { ConfigError, ConfigReader, described, shown } from '../config-problems';
import { isScope, SCOPES, type Scope } from './scopes';

/** A bearer token the server accepts, known only by its SHA-256. */
export interface TokenEntry {
  /** Names the token's holder in logs and errors (never the token itself). */
  readonly name: string;
  /** SHA-256 of the token's UTF-8 bytes. */
  readonly sha256: Buffer;
  readonly scopes: ReadonlySet<Scope>;
  /** Requests per second this token may make; undefined: the server's default. */
  readonly ratePerSecond: number | undefined;
}

/** A client certificate identity (mutual TLS) and what it may do. */
export interface ClientEntry {
  readonly name: string;
  /** Matches a certificate whose subject CN is exactly this. */
  readonly commonName: string | undefined;
  /** Matches a certificate with this subjectAltName entry, e.g. "DNS:batch.internal" or "URI:spiffe://acme/batch". */
  readonly subjectAltName: string | undefined;
  readonly scopes: ReadonlySet<Scope>;
  readonly ratePerSecond: number | undefined;
}

export interface AccessList {
  readonly tokens: readonly TokenEntry[];
  readonly clients: readonly ClientEntry[];
}

const TOKEN_FIELDS = ['name', 'sha256', 'scopes', 'rate_per_second'];
const CLIENT_FIELDS = ['name', 'common_name', 'san', 'scopes', 'rate_per_second'];

/**
 * Parses an access file (YAML or JSON):
 *
 *     tokens:
 *       - name: frontend
 *         sha256: 5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8
 *         scopes: [predict]
 *         rate_per_second: 200      # optional
 *     clients:                      # mutual TLS identities
 *       - name: batch
 *         common_name: batch.internal   # or san: "URI:spiffe://acme/batch"
 *         scopes: [jobs, models:read]
 *
 * Throws a ConfigError listing every problem, each naming the file, the entry's field, what was
 * expected and what came; what may be a clear token is described, never shown.
 */
export function parseAccessFile(text: string, file: string): AccessList {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new ConfigError([{ file, field: '', expected: 'YAML or JSON', got: `text that does not parse (${(err as Error).message})` }]);
  }
  const r = new ConfigReader(file);
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    r.problem('', 'a mapping with "tokens" and/or "clients"', described(doc));
    r.problems.throwIfAny();
  }
  const top = r.mapping(doc, '', ['tokens', 'clients'])!;
  const names = new Set<string>();
  /** The mappings listed under `key`; what is no mapping is reported and left out. */
  const entries = (key: string, fields: readonly string[]): Array<{ at: string; entry: Record<string, unknown> }> => {
    const list = top[key] ?? [];
    if (!Array.isArray(list)) {
      r.problem(key, 'a list', described(list));
      return [];
    }
    return list.flatMap((entry: unknown, i) => {
      const at = `${key}[${i}]`;
      if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
        r.problem(at, 'a mapping', described(entry));
        return [];
      }
      return [{ at, entry: r.mapping(entry, at, fields)! }];
    });
  };
  const common = (at: string, entry: Record<string, unknown>): { name: string; scopes: Set<Scope>; ratePerSecond: number | undefined } => {
    const name = r.string(entry['name'], `${at}.name`);
    if (name !== undefined && names.has(name)) r.problem(`${at}.name`, 'a name no earlier entry has', shown(name));
    if (name !== undefined) names.add(name);
    const scopes = new Set<Scope>();
    const given = entry['scopes'];
    if (!Array.isArray(given)) r.problem(`${at}.scopes`, `a list of scopes (${SCOPES.join(', ')})`, shown(given));
    else {
      given.forEach((scope: unknown, i) => {
        if (isScope(scope)) scopes.add(scope);
        else r.problem(`${at}.scopes[${i}]`, `one of ${SCOPES.join(', ')}`, shown(scope));
      });
    }
    const rate = entry['rate_per_second'];
    if (rate !== undefined && (typeof rate !== 'number' || !(rate > 0) || !Number.isFinite(rate))) r.problem(`${at}.rate_per_second`, 'a number above 0', shown(rate));
    return { name: name ?? '', scopes, ratePerSecond: typeof rate === 'number' ? rate : undefined };
  };

  const tokens: TokenEntry[] = [];
  const digests = new Map<string, string>();
  for (const { at, entry } of entries('tokens', TOKEN_FIELDS)) {
    const holder = common(at, entry);
    const hex = entry['sha256'];
    if (typeof hex !== 'string' || !/^[0-9a-fA-F]{64}$/.test(hex)) {
      r.problem(`${at}.sha256`, 'the token\'s SHA-256 as 64 hex digits (printf %s "$TOKEN" | sha256sum), not the token itself', `${described(hex)} (not shown: it may be the token itself)`);
      continue;
    }
    const earlier = digests.get(hex.toLowerCase());
    if (earlier !== undefined) r.problem(`${at}.sha256`, 'a token no earlier entry has', `the token of ${earlier}`);
    else digests.set(hex.toLowerCase(), at);
    tokens.push({ ...holder, sha256: Buffer.from(hex, 'hex') });
  }
  const clients: ClientEntry[] = [];
  for (const { at, entry } of entries('clients', CLIENT_FIELDS)) {
    const holder = common(at, entry);
    const cn = entry['common_name'];
    const san = entry['san'];
    if ((cn === undefined) === (san === undefined)) r.problem(at, 'exactly one of common_name, san', cn === undefined ? 'none' : 'both');
    if (cn !== undefined) r.string(cn, `${at}.common_name`);
    if (san !== undefined && (typeof san !== 'string' || !/^(DNS|URI|IP Address|email):\S+$/.test(san))) {
      r.problem(`${at}.san`, 'a subjectAltName entry such as "DNS:host.internal" or "URI:spiffe://domain/workload"', shown(san));
    }
    clients.push({ ...holder, commonName: typeof cn === 'string' ? cn : undefined, subjectAltName: typeof san === 'string' ? san : undefined });
  }
  r.problems.throwIfAny();
  return { tokens, clients };
}

