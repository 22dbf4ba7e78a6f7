import * as http2 from 'node:http2';
import { expect } from 'chai';
import { PredictRequest } from '../../generated/inferd/v1/prediction_service';

/**
 * A PredictStream call over a bare HTTP/2 stream, for a client that really stops reading: the
 * grpc-js client keeps taking messages off the connection into a buffer of its own while the
 * application reads none, so it never pushes back on the server.
 */
export class RawPredictStream {
  /** Settles when the server has sent its response headers, that is, with its first response. */
  readonly answering: Promise<void>;
  private readonly trailers: Promise<string | undefined>;

  private constructor(
    private readonly session: http2.ClientHttp2Session,
    readonly stream: http2.ClientHttp2Stream,
  ) {
    session.on('error', () => undefined);
    stream.on('error', () => undefined);
    this.answering = new Promise((resolve) => stream.once('response', () => resolve()));
    this.trailers = new Promise((resolve) =>
      stream.once('trailers', (headers) => resolve(headers['grpc-status'] as string | undefined)),
    );
  }

  static open(address: string): RawPredictStream {
    const session = http2.connect(`http://${address}`);
    const stream = session.request({
      ':method': 'POST',
      ':path': '/inferd.v1.PredictionService/PredictStream',
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    return new RawPredictStream(session, stream);
  }

  /** Writes one length-prefixed message; settles once HTTP/2 has taken it (flow control permitting). */
  send(request: PredictRequest): Promise<void> {
    const body = PredictRequest.encode(request).finish();
    const frame = Buffer.alloc(5 + body.length);
    frame.writeUInt32BE(body.length, 1);
    frame.set(body, 5);
    return new Promise((resolve, reject) => this.stream.write(frame, (err) => (err ? reject(err) : resolve())));
  }

  /** Starts reading; settles with every message and the grpc-status trailer once the server ends the stream. */
  async readAll(): Promise<{ frames: Uint8Array[]; grpcStatus: string | undefined }> {
    const chunks: Buffer[] = [];
    this.stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    await new Promise((resolve) => this.stream.once('end', resolve));
    const data = Buffer.concat(chunks);
    const frames: Uint8Array[] = [];
    for (let at = 0; at < data.length;) {
      expect(data[at], 'compressed flag').to.equal(0);
      const length = data.readUInt32BE(at + 1);
      frames.push(data.subarray(at + 5, at + 5 + length));
      at += 5 + length;
    }
    return { frames, grpcStatus: await this.trailers };
  }

  /**
   * Starts reading and hands each message to `onMessage` as it arrives, keeping none; settles
   * with the grpc-status trailer once the server ends the stream.
   */
  async readEach(onMessage: (message: Uint8Array) => void): Promise<string | undefined> {
    let pending: Buffer = Buffer.alloc(0);
    this.stream.on('data', (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      let at = 0;
      while (pending.length - at >= 5 && pending.length - at >= 5 + pending.readUInt32BE(at + 1)) {
        const length = pending.readUInt32BE(at + 1);
        onMessage(pending.subarray(at + 5, at + 5 + length));
        at += 5 + length;
      }
      pending = pending.subarray(at);
    });
    await new Promise((resolve) => this.stream.once('end', resolve));
    return this.trailers;
  }

  /** Half-closes: no more requests. */
  end(): void {
    this.stream.end();
  }

  close(): void {
    this.stream.destroy();
    this.session.close();
  }
}
