import type { Client, ClientDuplexStream, ServiceError } from '@grpc/grpc-js';
import { Metadata } from '@grpc/grpc-js';
import { summarize, type LevelResult } from './summarize';

/**
 * A unary or bidirectional method seen as bytes: the load generator sends the same encoded
 * request again and again and does not decode answers, so the client's own cost stays small
 * and the same for inferd and for the echo baseline.
 */
export interface RawTarget {
  readonly client: Client;
  /** e.g. /inferd.v1.PredictionService/Predict */
  readonly unaryPath: string;
  readonly streamPath: string;
  /** Each call's metadata (a bearer token); empty when left out. */
  readonly metadata?: () => Metadata;
}

const noMetadata = (): Metadata => new Metadata();

const identity = (b: Buffer): Buffer => b;

export interface LoadOptions {
  readonly concurrency: number;
  readonly durationMs: number;
  readonly rowsPerRequest: number;
  /** For streams: a request carries its id; its bytes are made per message by this. */
  readonly encode: (id: number) => Buffer;
  /** Whether an answer is an error (for streams, an error response). */
  readonly isError: (answer: Buffer) => string | undefined;
}

/** `concurrency` loops each calling the unary method back to back for `durationMs`. */
export async function unaryLoad(target: RawTarget, o: LoadOptions): Promise<LevelResult> {
  const latencies: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  const end = performance.now() + o.durationMs;
  const started = performance.now();
  const request = o.encode(0);
  let answerBytes: number | undefined;
  const loop = async (): Promise<void> => {
    while (performance.now() < end) {
      const t0 = performance.now();
      const failure = await new Promise<string | undefined>((resolve) => {
        target.client.makeUnaryRequest(
          target.unaryPath,
          identity,
          identity,
          request,
          (target.metadata ?? noMetadata)(),
          {},
          (err: ServiceError | null, answer?: Buffer) => {
            if (answer !== undefined) answerBytes = answer.length;
            resolve(err ? err.message : o.isError(answer!));
          },
        );
      });
      if (failure === undefined) latencies.push(performance.now() - t0);
      else {
        errors++;
        firstError ??= failure;
      }
    }
  };
  await Promise.all(Array.from({ length: o.concurrency }, loop));
  return {
    ...summarize(o.concurrency, (performance.now() - started) / 1000, latencies, o.rowsPerRequest, errors, firstError),
    requestBytes: request.length,
    answerBytes,
  };
}

/** One bidirectional stream keeping `concurrency` requests in flight for `durationMs`. */
export async function streamLoad(target: RawTarget, o: LoadOptions): Promise<LevelResult> {
  const latencies: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  const sentAt = new Map<number, number>();
  const call: ClientDuplexStream<Buffer, Buffer> = target.client.makeBidiStreamRequest(
    target.streamPath,
    identity,
    identity,
    (target.metadata ?? noMetadata)(),
    {},
  );
  const started = performance.now();
  const end = started + o.durationMs;
  let nextId = 0;
  let answerBytes: number | undefined;
  const send = (): void => {
    const id = nextId++;
    sentAt.set(id, performance.now());
    call.write(o.encode(id));
  };
  await new Promise<void>((resolve, reject) => {
    call.on('data', (answer: Buffer) => {
      // Answers are matched in order of arrival to the oldest outstanding send: the latency of
      // each is then at most what the server took, which is all a load level reports.
      const [id, t0] = sentAt.entries().next().value as [number, number];
      sentAt.delete(id);
      const failure = o.isError(answer);
      if (failure === undefined) {
        latencies.push(performance.now() - t0);
        // The smallest answer: that to a one-digit id, as requestBytes is request 0's size (an
        // answer carries its request's id, so later ones are longer), whatever the run's length.
        answerBytes = Math.min(answerBytes ?? Infinity, answer.length);
      } else {
        errors++;
        firstError ??= failure;
      }
      if (performance.now() < end) send();
      else if (sentAt.size === 0) call.end();
    });
    call.on('error', (err: Error) => {
      firstError ??= err.message;
      reject(err);
    });
    call.on('end', () => resolve());
    for (let i = 0; i < o.concurrency; i++) send();
  });
  return {
    ...summarize(o.concurrency, (performance.now() - started) / 1000, latencies, o.rowsPerRequest, errors, firstError),
    requestBytes: o.encode(0).length,
    answerBytes,
  };
}
