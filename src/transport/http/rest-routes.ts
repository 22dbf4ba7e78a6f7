import { InferdError } from '../../inferd-error';
import type { Scope } from '../../security/scopes';

/** What a path of the REST binding asks for. */
export type RestRoute =
  | { readonly kind: 'live' | 'ready' | 'server-metadata' | 'all-stats' | 'repository-index' }
  | { readonly kind: 'model-metadata' | 'model-ready' | 'model-config' | 'model-stats' | 'infer'; readonly model: string; readonly version: string }
  | { readonly kind: 'load' | 'unload'; readonly model: string };

/** A route with what it takes: its method, the scope a caller needs, and its name in traces. */
export interface RouteMatch {
  readonly route: RestRoute;
  readonly method: 'GET' | 'POST';
  /** 'open': no credentials needed (health, for probes), as on the gRPC port. */
  readonly access: Scope | 'open';
  /** The path template, as spans name the route: `/v2/models/{model}/infer`. */
  readonly template: string;
  /** The matching Open Inference Protocol RPC, as metrics and spans name the call. */
  readonly rpc: string;
}

const MODEL_KINDS = {
  '': ['model-metadata', 'GET', 'models:read', 'ModelMetadata'],
  ready: ['model-ready', 'GET', 'open', 'ModelReady'],
  config: ['model-config', 'GET', 'models:read', 'ModelConfig'],
  stats: ['model-stats', 'GET', 'models:read', 'ModelStatistics'],
  infer: ['infer', 'POST', 'predict', 'ModelInfer'],
} as const;

/**
 * The route of a path under /v2 (Triton's, KServe V2's), or undefined when it names none.
 * Segments are percent-decoded, so a model name may hold any character but "/". Throws
 * INVALID_ARGUMENT for a segment that is not valid percent-encoding.
 */
export function matchRoute(path: string): RouteMatch | undefined {
  const s = path.split('/').slice(1).map(decodeSegment);
  if (s[0] !== 'v2') return undefined;
  const n = s.length;
  if (n === 1) return { route: { kind: 'server-metadata' }, method: 'GET', access: 'models:read', template: '/v2', rpc: 'ServerMetadata' };
  if (n === 3 && s[1] === 'health' && (s[2] === 'live' || s[2] === 'ready')) {
    return { route: { kind: s[2] }, method: 'GET', access: 'open', template: `/v2/health/${s[2]}`, rpc: s[2] === 'live' ? 'ServerLive' : 'ServerReady' };
  }
  if (s[1] === 'repository') {
    if (n === 3 && s[2] === 'index') return { route: { kind: 'repository-index' }, method: 'POST', access: 'models:read', template: '/v2/repository/index', rpc: 'RepositoryIndex' };
    if (n === 5 && s[2] === 'models' && s[3] !== '' && (s[4] === 'load' || s[4] === 'unload')) {
      return { route: { kind: s[4], model: s[3]! }, method: 'POST', access: 'models:admin', template: `/v2/repository/models/{model}/${s[4]}`, rpc: s[4] === 'load' ? 'RepositoryModelLoad' : 'RepositoryModelUnload' };
    }
    return undefined;
  }
  if (s[1] !== 'models' || n < 3 || s[2] === '') return undefined;
  if (n === 3 && s[2] === 'stats') return { route: { kind: 'all-stats' }, method: 'GET', access: 'models:read', template: '/v2/models/stats', rpc: 'ModelStatistics' };
  const model = s[2]!;
  let version = '';
  let rest = s.slice(3);
  if (rest[0] === 'versions') {
    if (rest.length < 2 || rest[1] === '') return undefined;
    version = rest[1]!;
    rest = rest.slice(2);
  }
  if (rest.length > 1) return undefined;
  const action = rest[0] ?? '';
  if (!Object.prototype.hasOwnProperty.call(MODEL_KINDS, action)) return undefined;
  const [kind, method, access, rpc] = MODEL_KINDS[action as keyof typeof MODEL_KINDS];
  const template = `/v2/models/{model}${version === '' ? '' : '/versions/{version}'}${action === '' ? '' : `/${action}`}`;
  return { route: { kind, model, version }, method, access, template, rpc };
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new InferdError('INVALID_ARGUMENT', 'the path is not valid percent-encoding');
  }
}
