/**
 * The bench's baseline server: a bare grpc-js server that answers every message with its own
 * bytes, unary and bidirectional, on the same paths as inferd.v1.PredictionService. Run as a
 * process of its own: `node dist/src/bench/echo-server.js` prints {"port": N} and serves until
 * SIGTERM.
 */
import { Server, ServerCredentials, type ServerDuplexStream, type ServerUnaryCall, type sendUnaryData } from '@grpc/grpc-js';

const identity = (b: Buffer): Buffer => b;
const LIMIT = 64 * 1024 * 1024;

export async function startEchoServer(host: string, port: number): Promise<{ port: number; server: Server }> {
  const server = new Server({ 'grpc.max_receive_message_length': LIMIT, 'grpc.max_send_message_length': LIMIT });
  server.addService(
    {
      Predict: { path: '/inferd.v1.PredictionService/Predict', requestStream: false, responseStream: false, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity },
      PredictStream: { path: '/inferd.v1.PredictionService/PredictStream', requestStream: true, responseStream: true, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity },
    },
    {
      Predict: (call: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Buffer>) => callback(null, call.request),
      PredictStream: (call: ServerDuplexStream<Buffer, Buffer>) => {
        call.on('data', (b: Buffer) => call.write(b));
        call.on('end', () => call.end());
      },
    },
  );
  const bound = await new Promise<number>((resolve, reject) => server.bindAsync(`${host}:${port}`, ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  return { port: bound, server };
}

if (require.main === module) {
  void startEchoServer('127.0.0.1', 0).then(({ port, server }) => {
    process.stdout.write(`${JSON.stringify({ port })}\n`);
    process.on('SIGTERM', () => server.tryShutdown(() => process.exit(0)));
  });
}
