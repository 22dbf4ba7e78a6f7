/**
 * The bench's transport baselines: a bare grpc-js server on the same paths as
 * inferd.v1.PredictionService, unary and bidirectional, that answers every message either with
 * its own bytes (the echo) or, given `answerBytes`, with that many bytes (the transport floor:
 * the request's bytes in, an answer of inferd's answer's size out). Run as a process of its own:
 * `node dist/src/bench/echo-server.js [--answer-bytes N]` prints {"port": N} and serves until
 * SIGTERM.
 */
import { parseArgs } from 'node:util';
import {
  Server,
  ServerCredentials,
  type ServerDuplexStream,
  type ServerUnaryCall,
  type sendUnaryData,
} from '@grpc/grpc-js';

const identity = (b: Buffer): Buffer => b;
const LIMIT = 64 * 1024 * 1024;

export interface EchoServerOptions {
  /** Answer every message with this many bytes (zeros, one buffer for all) instead of its own. */
  readonly answerBytes?: number;
}

export async function startEchoServer(
  host: string,
  port: number,
  options: EchoServerOptions = {},
): Promise<{ port: number; server: Server }> {
  const server = new Server({ 'grpc.max_receive_message_length': LIMIT, 'grpc.max_send_message_length': LIMIT });
  const fixed = options.answerBytes === undefined ? undefined : Buffer.alloc(options.answerBytes);
  const answer = fixed === undefined ? identity : (): Buffer => fixed;
  server.addService(
    {
      Predict: {
        path: '/inferd.v1.PredictionService/Predict',
        requestStream: false,
        responseStream: false,
        requestSerialize: identity,
        requestDeserialize: identity,
        responseSerialize: identity,
        responseDeserialize: identity,
      },
      PredictStream: {
        path: '/inferd.v1.PredictionService/PredictStream',
        requestStream: true,
        responseStream: true,
        requestSerialize: identity,
        requestDeserialize: identity,
        responseSerialize: identity,
        responseDeserialize: identity,
      },
    },
    {
      Predict: (call: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Buffer>) =>
        callback(null, answer(call.request)),
      PredictStream: (call: ServerDuplexStream<Buffer, Buffer>) => {
        call.on('data', (b: Buffer) => call.write(answer(b)));
        call.on('end', () => call.end());
      },
    },
  );
  const bound = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${host}:${port}`, ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  return { port: bound, server };
}

if (require.main === module) {
  const { values } = parseArgs({ options: { 'answer-bytes': { type: 'string' } } });
  const answerBytes = values['answer-bytes'] === undefined ? undefined : Number(values['answer-bytes']);
  void startEchoServer('127.0.0.1', 0, { answerBytes }).then(({ port, server }) => {
    process.stdout.write(`${JSON.stringify({ port })}\n`);
    process.on('SIGTERM', () => server.tryShutdown(() => process.exit(0)));
  });
}
