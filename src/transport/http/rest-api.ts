import type { IncomingMessage, ServerResponse } from 'node:http';
import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import { clipText } from '../../clip-text';
import type { HealthRegistry } from '../../health/health-registry';
import { InferdError } from '../../inferd-error';
import type { Inference } from '../../inference';
import type { ModelRepository } from '../../repository/model-repository';
import type { CallScope } from '../../telemetry/call-scope';
import type { Telemetry } from '../../telemetry/telemetry';
import { httpRefusal, type HttpAccessOptions } from './http-access';
import { jsonText, type JsonWritable } from './json-text';
import { parseJson, type JsonObject } from './parse-json';
import { isUnsupportedEncoding, readBody } from './read-body';
import { INFERENCE_HEADER_LENGTH, readInferRequest, type RestRequestLimits } from './read-infer-request';
import { asTooLarge, restFailure, type RestFailure } from './rest-status';
import { matchRoute, type RestRoute, type RouteMatch } from './rest-routes';
import {
  modelConfigDocument,
  modelMetadataDocument,
  repositoryIndexDocument,
  resolveModel,
  statisticsDocument,
  unknownModel,
} from './triton-documents';
import { writeInferResponse } from './write-infer-response';

const gzip = promisify(zlib.gzip);
const deflate = promisify(zlib.deflate);

export interface RestApiParts {
  readonly inference: Inference;
  readonly repository: ModelRepository;
  readonly health: HealthRegistry;
  /** Metrics and spans of every request but health's, as for a gRPC call. */
  readonly telemetry: Telemetry;
}

export interface RestApiOptions extends HttpAccessOptions {
  /** Largest request body, as sent and once decompressed; larger ones get 413. */
  readonly maxMessageBytes: number;
  /** What one inference request may cost to decode; past it, 413. */
  readonly requestLimits: RestRequestLimits;
  /** inferd's release, reported by GET /v2. */
  readonly serverVersion: string;
}

/** Server metadata extensions: Triton's names for what this binding serves. */
const EXTENSIONS = ['binary_tensor_data', 'model_repository', 'model_configuration', 'statistics'];

const JSON_TYPE = 'application/json';

/**
 * The Open Inference Protocol's REST binding (KServe V2, with Triton's extensions), under /v2 on
 * the HTTP port: a codec pair around the core's infer() (JSON and binary tensors in, JSON and
 * binary tensors out), and the health, metadata, statistics and repository endpoints.
 *
 * Every request but health's needs what the same call needs on the gRPC port (mutual TLS, a
 * token with the scope) and gets a span; each inference is counted like a ModelInfer call.
 * Faults are answered `{"error": "<message>"}` with the status Triton uses (rest-status.ts).
 * `drain()` waits for the requests in flight, for a graceful stop.
 */
export class RestApi {
  private inFlight = 0;
  private idle: (() => void)[] = [];

  constructor(
    private readonly parts: RestApiParts,
    private readonly options: RestApiOptions,
  ) {}

  /** True for the paths this API answers: /v2 and everything under it. */
  static handles(path: string): boolean {
    return path === '/v2' || path.startsWith('/v2/');
  }

  /** Answers one request whose path (without the query) is `path`. Never rejects. */
  async answer(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    let match: RouteMatch | undefined;
    try {
      match = matchRoute(path);
    } catch (err) {
      return this.sendFailure(req, res, restFailure(err, this.options.log));
    }
    if (match === undefined) return this.sendFailure(req, res, { status: 404, code: 'NOT_FOUND', message: 'Not Found' });
    if (req.method !== match.method) {
      res.setHeader('allow', match.method);
      return this.sendFailure(req, res, { status: 405, code: 'INVALID_ARGUMENT', message: 'Method Not Allowed' });
    }
    this.inFlight++;
    try {
      if (match.access !== 'open') {
        const refused = await httpRefusal(req, match.access, `${match.method} ${match.template}`, this.options);
        if (refused !== undefined) {
          if (refused.status === 401) res.setHeader('www-authenticate', 'Bearer');
          return await this.sendFailure(req, res, refused);
        }
      }
      if (match.route.kind === 'live') return this.send(req, res, 200, []);
      if (match.route.kind === 'ready') return this.send(req, res, this.serverReady() ? 200 : 400, []);
      const call = this.parts.telemetry.startCall('inference.rest', match.rpc, () => ({ traceparent: first(req.headers.traceparent), tracestate: first(req.headers.tracestate) }));
      call.span?.updateName(`${match.method} ${match.template}`);
      call.span?.setAttributes({ 'rpc.system': 'http', 'http.request.method': match.method, 'http.route': match.template, 'url.path': path });
      if (match.route.kind === 'infer') await this.infer(req, res, match.route, call);
      else await this.unary(req, res, match.route, call);
    } catch (err) {
      // Only a fault in sending itself gets here (the connection went away): nothing to answer.
      this.options.log.debug({ err, path }, 'an HTTP answer could not be sent');
    } finally {
      if (--this.inFlight === 0) for (const resolve of this.idle.splice(0)) resolve();
    }
  }

  /** Resolves true once no request is in flight, false if `timeoutMs` passes first. */
  async drain(timeoutMs: number): Promise<boolean> {
    if (this.inFlight === 0) return true;
    let timer: NodeJS.Timeout | undefined;
    const drained = await Promise.race([
      new Promise<true>((resolve) => this.idle.push(() => resolve(true))),
      new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), Math.max(0, timeoutMs)))),
    ]);
    clearTimeout(timer);
    return drained;
  }

  /** As the gRPC ServerReady: serving, and every model that has versions has one ready. */
  private serverReady(): boolean {
    const { health, repository } = this.parts;
    return health.get('') === 'SERVING' && repository.modelNames().every((name) => (repository.versions(name) ?? []).length === 0 || repository.isReady(name));
  }

  /** POST /v2/models/{m}[/versions/{v}]/infer: read, infer, write; counted and traced like a ModelInfer call. */
  private async infer(req: IncomingMessage, res: ServerResponse, route: { readonly model: string; readonly version: string }, call: CallScope): Promise<void> {
    const { inference, repository } = this.parts;
    const { log } = this.options;
    const scope = call.request();
    const aborted = new AbortController();
    const onClose = (): void => {
      if (!res.writableFinished) aborted.abort(new InferdError('CANCELLED', 'the client closed the connection'));
    };
    res.once('close', onClose);
    let failure: RestFailure;
    try {
      const body = await readBody(req, this.options.maxMessageBytes);
      const request = scope.step('parse', () => {
        try {
          return readInferRequest(body, first(req.headers[INFERENCE_HEADER_LENGTH]), this.options.requestLimits);
        } catch (err) {
          throw err instanceof InferdError ? asTooLarge(err) : err;
        }
      });
      let result;
      try {
        result = await inference.infer({ modelName: route.model, modelVersion: route.version, inputs: request.inputs, outputNames: request.outputNames, deadline: request.deadline }, aborted.signal, scope);
      } catch (err) {
        // An unknown model or version, in the words Triton's clients look for.
        if (err instanceof InferdError && err.code === 'NOT_FOUND') throw unknownModel(repository, route.model, route.version, err);
        throw err;
      }
      const out = scope.step('encode', () => writeInferResponse(result, request.id, request.binaryOutput));
      scope.finish({ code: 'OK' }, log);
      call.span?.setAttribute('http.response.status_code', 200);
      call.end({ code: 'OK' });
      const headers: Record<string, string | number> = { 'content-type': out.headerLength === undefined ? JSON_TYPE : 'application/octet-stream' };
      // Spelt as Triton does, for clients that look it up by its exact name.
      if (out.headerLength !== undefined) headers['Inference-Header-Content-Length'] = out.headerLength;
      return await this.send(req, res, 200, out.chunks, headers);
    } catch (err) {
      failure = restFailure(err, scope.logger(log));
      if (isUnsupportedEncoding(err)) {
        failure = { ...failure, status: 415 };
        res.setHeader('accept-encoding', 'gzip, deflate');
      }
      scope.finish({ code: failure.code, message: failure.message }, log);
      call.span?.setAttribute('http.response.status_code', failure.status);
      call.end({ code: failure.code, message: failure.message });
    } finally {
      res.off('close', onClose);
    }
    return this.sendFailure(req, res, failure);
  }

  /** Every route but infer and health: a JSON document (or an empty body) from the repository; traced like a gRPC unary call. */
  private async unary(req: IncomingMessage, res: ServerResponse, route: Exclude<RestRoute, { kind: 'infer' | 'live' | 'ready' }>, call: CallScope): Promise<void> {
    let document: JsonWritable | undefined;
    try {
      document = await this.document(req, route);
    } catch (err) {
      let failure = restFailure(err, call.logger(this.options.log));
      if (isUnsupportedEncoding(err)) failure = { ...failure, status: 415 };
      call.span?.setAttribute('http.response.status_code', failure.status);
      call.end({ code: failure.code, message: failure.message });
      return this.sendFailure(req, res, failure);
    }
    call.span?.setAttribute('http.response.status_code', 200);
    call.end({ code: 'OK' });
    if (document === undefined) return this.send(req, res, 200, []);
    return this.send(req, res, 200, [Buffer.from(jsonText(document), 'utf8')], { 'content-type': JSON_TYPE });
  }

  /** The answer of one route: a document, or undefined for an empty 200. Throws an InferdError for a fault. */
  private async document(req: IncomingMessage, route: Exclude<RestRoute, { kind: 'infer' | 'live' | 'ready' }>): Promise<JsonWritable | undefined> {
    const { inference, repository } = this.parts;
    switch (route.kind) {
      case 'server-metadata':
        return { name: 'inferd', version: this.options.serverVersion, extensions: EXTENSIONS };
      case 'model-ready':
        // Through the core, so that a draining server answers not ready; Triton answers 400 for not ready.
        try {
          inference.resolve(route.model, route.version);
        } catch (err) {
          if (!(err instanceof InferdError)) throw err;
          const reason = err.code === 'NOT_FOUND' ? unknownModel(repository, route.model, route.version).message : err.message;
          throw new InferdError('INVALID_ARGUMENT', `Model version not ready: ${reason}`, { cause: err });
        }
        return undefined;
      case 'model-metadata':
        try {
          return modelMetadataDocument(inference.metadata(route.model, route.version));
        } catch (err) {
          if (err instanceof InferdError && err.code === 'NOT_FOUND') throw unknownModel(repository, route.model, route.version, err);
          throw err;
        }
      case 'model-config': {
        const model = resolveModel(repository, route.model, route.version);
        return modelConfigDocument(repository.config(model.name, model.version));
      }
      case 'model-stats':
        return statisticsDocument(repository, route.model, route.version);
      case 'all-stats':
        return statisticsDocument(repository, '', '');
      case 'repository-index': {
        const body = await this.jsonBody(req, 'the repository index request');
        const ready = body?.['ready'];
        if (ready !== undefined && typeof ready !== 'boolean') throw new InferdError('INVALID_ARGUMENT', `"ready" must be true or false`);
        return repositoryIndexDocument(repository, ready === true);
      }
      case 'load': {
        refuseParameters(await this.jsonBody(req, 'the load request'), []);
        try {
          await repository.load(route.model);
        } catch (err) {
          // Triton's clients look for "failed to load".
          if (err instanceof InferdError && err.code === 'NOT_FOUND') throw new InferdError('NOT_FOUND', `failed to load '${clipText(route.model)}': ${err.message}`, { cause: err });
          throw err;
        }
        return undefined;
      }
      case 'unload': {
        // Nothing depends on another model in inferd, so unload_dependents changes nothing.
        refuseParameters(await this.jsonBody(req, 'the unload request'), ['unload_dependents']);
        if (repository.versions(route.model) === undefined) throw unknownModel(repository, route.model, '');
        await repository.unload(route.model);
        return undefined;
      }
    }
  }

  /** The body of a repository request: a JSON object, or undefined when empty. */
  private async jsonBody(req: IncomingMessage, what: string): Promise<JsonObject | undefined> {
    const body = await readBody(req, this.options.maxMessageBytes);
    if (body.length === 0) return undefined;
    const { maxRequestElements, maxRequestStrings } = this.options.requestLimits;
    let json;
    try {
      json = parseJson(body, what, { maxValues: maxRequestElements, maxStrings: maxRequestStrings, valuesFlag: '--max-request-elements', stringsFlag: '--max-request-strings' });
    } catch (err) {
      throw err instanceof InferdError ? asTooLarge(err) : err;
    }
    if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new InferdError('INVALID_ARGUMENT', `${what} must be a JSON object`);
    return json;
  }

  private sendFailure(req: IncomingMessage, res: ServerResponse, failure: Pick<RestFailure, 'status' | 'message'> & { readonly code?: string }): Promise<void> {
    // A body left unread (a refusal before reading it, or one over the limit) is not worth reading: the connection closes after the answer.
    if (!req.complete) res.setHeader('connection', 'close');
    return this.send(req, res, failure.status, [Buffer.from(JSON.stringify({ error: failure.message }), 'utf8')], { 'content-type': JSON_TYPE });
  }

  /**
   * Sends an answer, compressed as the request's Accept-Encoding prefers (gzip or deflate, as
   * Triton chooses: the highest weight). Settles once the body is handed to the socket.
   */
  private async send(req: IncomingMessage, res: ServerResponse, status: number, chunks: readonly Uint8Array[], headers: Record<string, string | number> = {}): Promise<void> {
    let body: readonly Uint8Array[] = chunks;
    const encoding = chunks.length === 0 ? undefined : responseEncoding(req.headers['accept-encoding']);
    if (encoding !== undefined) {
      const whole = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
      body = [encoding === 'gzip' ? await gzip(whole) : await deflate(whole)];
      headers['content-encoding'] = encoding;
    }
    headers['content-length'] = body.reduce((n, c) => n + c.byteLength, 0);
    headers['cache-control'] = 'no-store';
    res.writeHead(status, headers);
    for (const c of body) res.write(c);
    res.end();
  }
}

/**
 * The response encoding an Accept-Encoding value asks for: gzip or deflate when it weighs most
 * (q, default 1; the first of equals), undefined for identity. Unknown codings are ignored.
 */
export function responseEncoding(accept: string | undefined): 'gzip' | 'deflate' | undefined {
  if (accept === undefined) return undefined;
  let best: string | undefined;
  let weight = 0;
  for (const part of accept.split(',')) {
    const [name, ...params] = part.split(';').map((s) => s.trim().toLowerCase());
    if (name !== 'gzip' && name !== 'deflate' && name !== 'identity') continue;
    const q = params.find((p) => p.startsWith('q='));
    const w = q === undefined ? 1 : Number(q.slice(2));
    if (Number.isFinite(w) && w > weight) {
      best = name;
      weight = w;
    }
  }
  return best === 'gzip' || best === 'deflate' ? best : undefined;
}

function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** Refuses repository parameters other than those `accepted`: inferd takes models only from the repository folder. */
function refuseParameters(body: JsonObject | undefined, accepted: readonly string[]): void {
  const parameters = body?.['parameters'];
  if (parameters === undefined) return;
  if (parameters === null || typeof parameters !== 'object' || Array.isArray(parameters)) throw new InferdError('INVALID_ARGUMENT', '"parameters" must be a JSON object');
  const refused = Object.keys(parameters).filter((k) => !accepted.includes(k));
  if (refused.length > 0) {
    throw new InferdError('INVALID_ARGUMENT', `parameter "${clipText(refused[0]!)}" is not supported: inferd loads models and their config files from the repository folder`);
  }
}
