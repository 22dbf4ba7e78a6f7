import { isIPv4, isIPv6 } from 'node:net';
import { credentials, Metadata, type ChannelCredentials, type ChannelOptions } from '@grpc/grpc-js';
import type { ClientTls } from './client-types';
import { InferdClientError } from './inferd-client-error';

/** What a grpc-js channel to inferd is made from. */
export interface ChannelSettings {
  /** A grpc-js target: host:port, dns:///name:port, or ipv4:/ipv6: with a comma-separated list. */
  readonly target: string;
  readonly credentials: ChannelCredentials;
  readonly options: ChannelOptions;
}

/** Default limit on a message in either direction: the server's default --max-message-bytes. */
export const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

const pem = (v: Uint8Array | string | undefined): Buffer | null => (v === undefined ? null : Buffer.from(v));

/**
 * The grpc-js target for one address or a list of them. One address is used as it is (host:port
 * or any grpc-js target, e.g. dns:///inferd-headless:8001, whose every address is used). A list
 * must be IP:port entries, all IPv4 or all IPv6 ([::1]:8001), made into one ipv4: or ipv6:
 * target. Throws INVALID_ARGUMENT for an empty list, a host name or a mixed list in a list.
 */
export function channelTarget(address: string | readonly string[]): string {
  if (typeof address === 'string') return address;
  if (address.length === 0) throw new InferdClientError('INVALID_ARGUMENT', 'no address given');
  if (address.length === 1) return address[0]!;
  const hosts = address.map((a) => {
    const m = /^\[([^\]]+)\]:(\d+)$/.exec(a) ?? /^([^:]+):(\d+)$/.exec(a);
    return m === null ? undefined : m[1]!;
  });
  if (hosts.every((h) => h !== undefined && isIPv4(h))) return `ipv4:${address.join(',')}`;
  if (hosts.every((h) => h !== undefined && isIPv6(h))) return `ipv6:${address.join(',')}`;
  throw new InferdClientError(
    'INVALID_ARGUMENT',
    `a list of addresses takes IP:port entries, all IPv4 or all IPv6 ([::1]:8001), got ${JSON.stringify(address)}; for host names give one "dns:///NAME:PORT" whose name resolves to every replica`,
  );
}

/**
 * The target, credentials and options of a channel to inferd: round-robin over every address the
 * target resolves to (a replica whose connection fails is left out until it is back), TLS when
 * `tls` is given (mutual with cert and key), messages up to `maxMessageBytes` both ways.
 * Throws INVALID_ARGUMENT for a bad address list or a cert without its key.
 */
export function channelSettings(
  address: string | readonly string[],
  options: { readonly tls?: ClientTls | undefined; readonly maxMessageBytes?: number | undefined },
): ChannelSettings {
  const target = channelTarget(address);
  const tls = options.tls;
  if (tls !== undefined && (tls.cert === undefined) !== (tls.key === undefined))
    throw new InferdClientError('INVALID_ARGUMENT', 'tls: cert and key go together');
  const creds =
    tls === undefined ? credentials.createInsecure() : credentials.createSsl(pem(tls.ca), pem(tls.key), pem(tls.cert));
  const max = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  const channelOptions: ChannelOptions = {
    'grpc.service_config': JSON.stringify({ loadBalancingConfig: [{ round_robin: {} }] }),
    'grpc.max_receive_message_length': max,
    'grpc.max_send_message_length': max,
    ...(tls?.serverName === undefined
      ? {}
      : { 'grpc.ssl_target_name_override': tls.serverName, 'grpc.default_authority': tls.serverName }),
  };
  return { target, credentials: creds, options: channelOptions };
}

/** A call's metadata: "authorization: Bearer <token>" when there is a token. */
export function callMetadata(token: string | undefined): Metadata {
  const m = new Metadata();
  if (token !== undefined) m.set('authorization', `Bearer ${token}`);
  return m;
}
