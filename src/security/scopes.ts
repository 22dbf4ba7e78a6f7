/**
 * What a caller may do. A token (or a client certificate, or a JWT) carries a set of these; each
 * gRPC method needs one of them (transport/grpc/method-scopes.ts), /metrics needs "metrics".
 */
export const SCOPES = ['predict', 'models:read', 'models:admin', 'jobs', 'metrics'] as const;

export type Scope = (typeof SCOPES)[number];

export function isScope(value: unknown): value is Scope {
  return typeof value === 'string' && (SCOPES as readonly string[]).includes(value);
}
