import { InferdError } from '../../inferd-error';

/** host or host:port, as --webhook-allow takes them; IPv6 addresses in brackets. */
const ALLOW_ENTRY = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?)(:\d{1,5})?$/;

/**
 * Which callback URLs the server may call: http(s) URLs whose host is on the allow-list (an
 * entry without a port allows every port of its host). An empty list allows none, so that a
 * client cannot make the server call an address of its choosing.
 */
export class CallbackPolicy {
  /** What one allow-list entry looks like: host or host:port, IPv6 addresses in brackets. */
  static readonly ENTRY = ALLOW_ENTRY;

  private readonly entries: readonly { readonly host: string; readonly port: string | undefined }[];

  /** `allow`: entries as ALLOW_ENTRY matches them (checked by the configuration). */
  constructor(allow: readonly string[]) {
    this.entries = allow.map((entry) => {
      const m = ALLOW_ENTRY.exec(entry);
      if (m === null) throw new Error(`not a host[:port]: ${entry}`);
      return { host: m[1]!.toLowerCase(), port: m[3]?.slice(1) };
    });
  }

  /** Throws INVALID_ARGUMENT, naming the URL and its host, when the server may not call `url`. */
  check(url: string): void {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new InferdError('INVALID_ARGUMENT', `callback_url "${url}" is not a URL`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
      throw new InferdError('INVALID_ARGUMENT', `callback_url "${url}": only http and https URLs are called`);
    if (!this.allows(url)) {
      const allowed =
        this.entries.length === 0
          ? 'the server allows no callback hosts (--webhook-allow is empty)'
          : `the server allows ${this.entries.map((e) => (e.port ? `${e.host}:${e.port}` : e.host)).join(', ')}`;
      throw new InferdError('INVALID_ARGUMENT', `callback_url host "${parsed.host}" is not allowed: ${allowed}`);
    }
  }

  /** True when `url` is an http(s) URL to an allowed host and port. */
  allows(url: string): boolean {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      return false;
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return false;
    const port = parsed.port || (parsed.protocol === 'https:' ? '443' : '80');
    const host = parsed.hostname.toLowerCase();
    return this.entries.some((e) => e.host === host && (e.port === undefined || e.port === port));
  }
}
