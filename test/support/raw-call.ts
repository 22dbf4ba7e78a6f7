import { Client, credentials, Metadata, status, type ChannelCredentials } from '@grpc/grpc-js';
import { ServerReflectionService as ReflectionV1 } from '../../generated/grpc/reflection/v1/reflection';
import { ServerReflectionService as ReflectionV1Alpha } from '../../generated/grpc/reflection/v1alpha/reflection';
import { HealthService } from '../../generated/grpc/health/v1/health';
import { GRPCInferenceServiceService } from '../../generated/inference/grpc_service';
import { JobServiceService } from '../../generated/inferd/v1/job_service';
import { ModelServiceService } from '../../generated/inferd/v1/model_service';
import { PredictionServiceService } from '../../generated/inferd/v1/prediction_service';
import { LOCALHOST_NAME } from './secure-clients';

export interface MethodShape {
  readonly path: string;
  readonly requestStream: boolean;
  readonly responseStream: boolean;
}

/** Every method of every service inferd serves. */
export const ALL_METHODS: readonly MethodShape[] = [
  PredictionServiceService,
  ModelServiceService,
  JobServiceService,
  GRPCInferenceServiceService,
  HealthService,
  ReflectionV1,
  ReflectionV1Alpha,
].flatMap((service) =>
  Object.values(service).map((m: MethodShape) => ({
    path: m.path,
    requestStream: m.requestStream,
    responseStream: m.responseStream,
  })),
);

export interface CallOutcome {
  readonly code: status;
  readonly details: string;
}

const bytes = (b: Buffer): Buffer => b;

/**
 * Calls `method` with the request message `body` (by default empty, valid for every request
 * type) and resolves with the status it ends with. A server stream that answers with a message
 * counts as OK and is cancelled; a client stream is half-closed once it has sent `body`.
 */
export function rawCall(
  address: string,
  method: MethodShape,
  metadata: Metadata = new Metadata(),
  creds: ChannelCredentials = credentials.createInsecure(),
  body: Buffer = Buffer.alloc(0),
): Promise<CallOutcome> {
  const client = new Client(address, creds, LOCALHOST_NAME);
  const options = { deadline: Date.now() + 10_000 };
  return new Promise<CallOutcome>((resolve) => {
    if (!method.requestStream && !method.responseStream) {
      client.makeUnaryRequest(method.path, bytes, bytes, body, metadata, options, (err) =>
        resolve(err ? { code: err.code, details: err.details } : { code: status.OK, details: '' }),
      );
      return;
    }
    const call = method.requestStream
      ? client.makeBidiStreamRequest(method.path, bytes, bytes, metadata, options)
      : client.makeServerStreamRequest(method.path, bytes, bytes, body, metadata, options);
    call.on('data', () => {
      resolve({ code: status.OK, details: 'answered' });
      call.cancel();
    });
    call.on('error', () => undefined);
    call.on('status', (s: { code: status; details: string }) => resolve({ code: s.code, details: s.details }));
    if (method.requestStream) {
      const stream = call as unknown as { write(b: Buffer): void; end(): void };
      if (body.length > 0) stream.write(body);
      stream.end();
    }
  }).finally(() => client.close());
}
