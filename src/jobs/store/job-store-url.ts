import * as path from 'node:path';

/** Where jobs are kept, as --job-store names it. */
export type JobStoreUrl =
  | { readonly kind: 'sqlite'; readonly file: string }
  | {
      readonly kind: 'postgres';
      /** The URL as given (it may hold a password: never log it). */
      readonly url: string;
      /** The URL without its password, for logs and errors. */
      readonly safe: string;
      readonly host: string;
      readonly port: number;
    };

/**
 * Reads --job-store: "" (the default: sqlite:<dataDir>/jobs.sqlite), `sqlite:PATH` (relative to
 * the working directory) or `postgres://user:password@host:port/database` (also postgresql://).
 * Throws an Error saying what was expected, with no password in it.
 */
export function parseJobStoreUrl(text: string, dataDir: string, defaultFile: string): JobStoreUrl {
  if (text === '') return { kind: 'sqlite', file: path.join(dataDir, defaultFile) };
  if (text.startsWith('sqlite:')) {
    const file = text.slice('sqlite:'.length);
    if (file === '') throw new Error('expected sqlite:PATH, got no path');
    return { kind: 'sqlite', file };
  }
  if (/^postgres(ql)?:\/\//.test(text)) {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      throw new Error(`a postgres:// URL that cannot be read (${redactJobStoreUrl(text)}): expected postgres://user:password@host:port/database`);
    }
    if (url.hostname === '') throw new Error(`${redactJobStoreUrl(text)} names no host`);
    return { kind: 'postgres', url: text, safe: redactJobStoreUrl(text), host: url.hostname, port: url.port === '' ? 5432 : Number(url.port) };
  }
  throw new Error(`expected sqlite:PATH or postgres://user:password@host:port/database, got "${redactJobStoreUrl(text)}"`);
}

/** The URL with any password (in the user part, or a password= parameter) replaced by "***". */
export function redactJobStoreUrl(text: string): string {
  const params = text.replace(/([?&]password=)[^&#]*/gi, '$1***');
  const start = params.indexOf('//');
  const at = params.lastIndexOf('@'); // a password may hold an "@" of its own
  if (start < 0 || at < start) return params;
  const colon = params.indexOf(':', start + 2);
  return colon < 0 || colon > at ? params : `${params.slice(0, colon)}:***${params.slice(at)}`;
}
