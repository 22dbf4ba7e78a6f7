import { status, type Metadata } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { CallScope } from '../../telemetry/call-scope';
import type { RequestScope } from '../../telemetry/request-scope';
import type { Outcome } from '../../telemetry/tracing';
import type { Headers } from '../../telemetry/tracing';
import { statusFor } from './status-for';

/** The outcome of a call answered OK. */
export const GRPC_OK: Outcome = { code: 'OK', rpcStatus: status.OK };

/** The outcome of a call answered with status `s`. */
export function grpcOutcome(s: { code: status; details?: string | undefined }): Outcome {
  return { code: status[s.code], message: s.details, rpcStatus: s.code };
}

/** The W3C trace context headers of a call's metadata (the first value of each). */
export function traceHeaders(metadata: Metadata): Headers {
  const first = (key: string): string | undefined => {
    const v = metadata.get(key)[0];
    return v === undefined ? undefined : v.toString();
  };
  return { traceparent: first('traceparent'), tracestate: first('tracestate') };
}

/**
 * The one place an inference request's outcome is told to telemetry, for inferd.v1 and the Open
 * Inference Protocol alike: `succeeded` counts OK; `failed` turns the error into its gRPC status
 * (logging an unexpected one with the request's trace ids), counts that, and returns it.
 */
export class RequestOutcome {
  constructor(
    private readonly scope: RequestScope,
    private readonly log: Logger,
  ) {}

  succeeded(): void {
    this.scope.finish(GRPC_OK, this.log);
  }

  failed(err: unknown): { code: status; details: string } {
    const s = statusFor(err, this.scope.logger(this.log));
    this.scope.finish(grpcOutcome(s), this.log);
    return s;
  }
}

/**
 * Serves one unary inference call: runs `answer` with the call's request scope, counts the
 * outcome, ends the call's span with the status, then answers the client.
 */
export function answerUnary<Res>(call: CallScope, log: Logger, answer: (scope: RequestScope) => Promise<Res>, callback: (err: { code: status; details: string } | null, response?: Res) => void): Promise<void> {
  const scope = call.request();
  const outcome = new RequestOutcome(scope, log);
  return answer(scope).then(
    (response) => {
      outcome.succeeded();
      call.end(GRPC_OK);
      callback(null, response);
    },
    (err: unknown) => {
      const s = outcome.failed(err);
      call.end(grpcOutcome(s));
      callback(s);
    },
  );
}
