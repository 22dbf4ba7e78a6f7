/** Early pings forgiven before a client's connection is closed for pinging too often, as in gRPC's own servers. */
export const MAX_PING_STRIKES = 2;
