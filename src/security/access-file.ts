import { parse as parseYaml } from 'yaml';
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

const TOKEN_KEYS = ['name', 'sha256', 'scopes', 'rate_per_second'];
const CLIENT_KEYS = ['name', 'common_name', 'san', 'scopes', 'rate_per_second'];

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
 * Throws an Error listing every problem, each naming the entry and field.
 */
export function parseAccessFile(text: string, file: string): AccessList {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new Error(`${file}: not YAML or JSON: ${(err as Error).message}`, { cause: err });
  }
  const problems: string[] = [];
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new Error(`${file}: expected a mapping with "tokens" and/or "clients"`);
  const top = doc as Record<string, unknown>;
  for (const key of Object.keys(top)) if (key !== 'tokens' && key !== 'clients') problems.push(`${file}: unknown key "${key}" (expected "tokens", "clients")`);
  const names = new Set<string>();
  const entries = (key: string, allowed: readonly string[]): Array<{ at: string; e: Record<string, unknown> }> => {
    const list = top[key] ?? [];
    if (!Array.isArray(list)) {
      problems.push(`${file}: "${key}" must be a list`);
      return [];
    }
    return list.flatMap((e: unknown, i) => {
      const at = `${file}: ${key}[${i}]`;
      if (typeof e !== 'object' || e === null || Array.isArray(e)) {
        problems.push(`${at}: expected a mapping`);
        return [];
      }
      for (const k of Object.keys(e)) if (!allowed.includes(k)) problems.push(`${at}: unknown key "${k}" (expected ${allowed.join(', ')})`);
      return [{ at, e: e as Record<string, unknown> }];
    });
  };
  const common = (at: string, e: Record<string, unknown>): { name: string; scopes: Set<Scope>; ratePerSecond: number | undefined } => {
    const name = e['name'];
    if (typeof name !== 'string' || name === '') problems.push(`${at}.name: expected a non-empty string`);
    else if (names.has(name)) problems.push(`${at}.name: "${name}" is taken by an earlier entry`);
    else names.add(name);
    const scopes = new Set<Scope>();
    const given = e['scopes'];
    if (!Array.isArray(given)) problems.push(`${at}.scopes: expected a list of scopes (${SCOPES.join(', ')})`);
    else {
      for (const s of given) {
        if (isScope(s)) scopes.add(s);
        else problems.push(`${at}.scopes: unknown scope ${JSON.stringify(s)} (expected ${SCOPES.join(', ')})`);
      }
    }
    const rate = e['rate_per_second'];
    if (rate !== undefined && (typeof rate !== 'number' || !(rate > 0) || !Number.isFinite(rate))) problems.push(`${at}.rate_per_second: expected a number above 0, got ${JSON.stringify(rate)}`);
    return { name: typeof name === 'string' ? name : '', scopes, ratePerSecond: typeof rate === 'number' ? rate : undefined };
  };

  const tokens: TokenEntry[] = [];
  const digests = new Set<string>();
  for (const { at, e } of entries('tokens', TOKEN_KEYS)) {
    const c = common(at, e);
    const hex = e['sha256'];
    if (typeof hex !== 'string' || !/^[0-9a-fA-F]{64}$/.test(hex)) {
      problems.push(`${at}.sha256: expected the token's SHA-256 as 64 hex digits (printf %s "$TOKEN" | sha256sum), not the token itself`);
      continue;
    }
    if (digests.has(hex.toLowerCase())) problems.push(`${at}.sha256: the same token is listed twice`);
    digests.add(hex.toLowerCase());
    tokens.push({ ...c, sha256: Buffer.from(hex, 'hex') });
  }
  const clients: ClientEntry[] = [];
  for (const { at, e } of entries('clients', CLIENT_KEYS)) {
    const c = common(at, e);
    const cn = e['common_name'];
    const san = e['san'];
    if ((cn === undefined) === (san === undefined)) problems.push(`${at}: give exactly one of "common_name" or "san"`);
    if (cn !== undefined && (typeof cn !== 'string' || cn === '')) problems.push(`${at}.common_name: expected a non-empty string`);
    if (san !== undefined && (typeof san !== 'string' || !/^(DNS|URI|IP Address|email):\S+$/.test(san))) {
      problems.push(`${at}.san: expected a subjectAltName entry such as "DNS:host.internal" or "URI:spiffe://domain/workload"`);
    }
    clients.push({ ...c, commonName: typeof cn === 'string' ? cn : undefined, subjectAltName: typeof san === 'string' ? san : undefined });
  }
  if (problems.length > 0) throw new Error(problems.join('\n'));
  return { tokens, clients };
}
