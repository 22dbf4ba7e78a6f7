import { credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { expect } from 'chai';
import { HealthCheckResponse_ServingStatus as Serving, HealthClient } from '../../../generated/grpc/health/v1/health';
import { ModelServiceClient, type UnloadModelResponse } from '../../../generated/inferd/v1/model_service';
import { PredictionServiceClient } from '../../../generated/inferd/v1/prediction_service';
import { simpleModel } from '../../../src/example-models/example-models';
import { plain, serveOutput, serveOutputSuite, type ServeOutput } from '../../support/serve-output';
import { predict, tensor } from '../../support/test-server';

/** A readable "serving" line: local time to the millisecond, the level, the message, then the fields on the same line. */
const PRETTY_SERVING = /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: serving \{"host":"127\.0\.0\.1","port":\d+,"httpPort":\d+,/;
const LOST_NOTE = 'inferd: log output lost (EPIPE): later log lines are dropped; serving goes on\n';

const isServing = (line: string): boolean => plain(line).includes('serving {') || line.includes('"msg":"serving"');

function portOf(servingLine: string): number {
  return Number(/"port":(\d+)/.exec(servingLine)![1]);
}

interface Clients {
  readonly prediction: PredictionServiceClient;
  readonly models: ModelServiceClient;
  readonly health: HealthClient;
  close(): void;
}

/** Clients sharing one channel. */
function connect(port: number): Clients {
  const prediction = new PredictionServiceClient(`127.0.0.1:${port}`, credentials.createInsecure());
  const models = new ModelServiceClient(`127.0.0.1:${port}`, credentials.createInsecure(), {
    channelOverride: prediction.getChannel(),
  });
  const health = new HealthClient(`127.0.0.1:${port}`, credentials.createInsecure(), {
    channelOverride: prediction.getChannel(),
  });
  return { prediction, models, health, close: () => prediction.close() };
}

/** Predict on "simple" with 5s and 2s: its OUTPUT0, the sums. */
async function predictSeven(clients: Clients): Promise<number[]> {
  const answer = await predict(clients.prediction, {
    modelName: 'simple',
    inputs: {
      INPUT0: tensor({ shape: [1n, 16n], int32Data: new Array<number>(16).fill(5) }),
      INPUT1: tensor({ shape: [1n, 16n], int32Data: new Array<number>(16).fill(2) }),
    },
  });
  return answer.outputs['OUTPUT0']!.int32Data;
}

function check(clients: Clients): Promise<Serving> {
  return new Promise((resolve, reject) =>
    clients.health.check({ service: '' }, new Metadata(), (err: ServiceError | null, r) =>
      err ? reject(err) : resolve(r.status),
    ),
  );
}

function asJson(line: string): Record<string, unknown> | undefined {
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

describe('inferd serve log output', () => {
  const repo = serveOutputSuite({ simple: simpleModel(), other: simpleModel() });

  describe('on a terminal (a pseudo-terminal)', () => {
    /** The terminal's lines without colour codes, and without the "^C" the terminal echoes. */
    function logLines(server: ServeOutput): string[] {
      return server.lines.map((l) => plain(l).replace(/^\^C/, '')).filter((l) => l !== '');
    }

    /** Ctrl-C on the terminal: SIGINT to inferd, which stops gracefully. */
    async function interrupt(server: ServeOutput): Promise<number | null> {
      server.child.stdin!.write('\x03');
      return server.exited;
    }

    it('prints readable lines, in colour: time, level, message and the key fields, and no JSON', async () => {
      const server = serveOutput(repo(), [], { terminal: true });
      const serving = await server.line(isServing, 'the "serving" line');
      expect(plain(serving)).to.match(PRETTY_SERVING);
      expect(serving).to.include('\x1b['); // coloured
      expect(await interrupt(server)).to.equal(0);
      // Every line is a readable one; its message is the logger's.
      const readable = logLines(server).map((l) => ({
        line: l,
        parts: /^\[\d\d:\d\d:\d\d\.\d{3}\] ([A-Z]+): (.+?)(?: (\{.*\}))?$/.exec(l),
      }));
      expect(readable.filter((r) => r.parts === null).map((r) => r.line)).to.deep.equal([]);
      expect(readable.map((r) => `${r.parts![1]}: ${r.parts![2]}`)).to.deep.equal([
        'INFO: model version ready',
        'INFO: model version ready',
        'INFO: serving',
        'INFO: TLS is off: plaintext gRPC and HTTP (set --tls-cert and --tls-key for TLS)',
        'INFO: stopping',
        'INFO: draining',
        'INFO: model version unloaded',
        'INFO: model version unloaded',
        'INFO: stopped',
      ]);
      expect(readable.find((r) => r.parts![2] === 'stopping')!.parts![3]).to.equal('{"signal":"SIGINT"}');
    });

    it('prints JSON lines with --log-format json', async () => {
      const server = serveOutput(repo(), ['--log-format', 'json'], { terminal: true });
      const serving = await server.line(isServing, 'the "serving" line');
      expect(asJson(serving)).to.deep.include({
        level: 30,
        service: 'inferd',
        msg: 'serving',
        host: '127.0.0.1',
        port: portOf(serving),
      });
      expect(await interrupt(server)).to.equal(0);
      const records = logLines(server).map((l) => asJson(l));
      expect(records.filter((r) => r === undefined)).to.deep.equal([]);
      expect(records.map((r) => r!['msg'])).to.deep.equal([
        'model version ready',
        'model version ready',
        'serving',
        'TLS is off: plaintext gRPC and HTTP (set --tls-cert and --tls-key for TLS)',
        'stopping',
        'draining',
        'model version unloaded',
        'model version unloaded',
        'stopped',
      ]);
    });
  });

  describe('on a pipe', () => {
    it('prints JSON lines by default', async () => {
      const server = serveOutput(repo(), [], { terminal: false });
      const serving = await server.line(isServing, 'the "serving" line');
      expect(asJson(serving)).to.deep.include({ level: 30, service: 'inferd', msg: 'serving', port: portOf(serving) });
      server.child.kill('SIGTERM');
      expect(await server.exited).to.equal(0);
      expect(server.lines.filter((l) => asJson(l) === undefined)).to.deep.equal([]);
    });

    for (const [how, flags, env] of [
      ['--log-format pretty', ['--log-format', 'pretty'], {}],
      ['INFERD_LOG_FORMAT=pretty', [], { INFERD_LOG_FORMAT: 'pretty' }],
    ] as const) {
      it(`prints readable lines without colour codes with ${how}`, async () => {
        const server = serveOutput(repo(), flags, { terminal: false, env });
        const serving = await server.line(isServing, 'the "serving" line');
        expect(serving).to.match(PRETTY_SERVING);
        server.child.kill('SIGTERM');
        expect(await server.exited).to.equal(0);
        expect(server.lines.filter((l) => l.includes('\x1b') || asJson(l) !== undefined)).to.deep.equal([]);
        expect(server.lines.at(-1)).to.match(/^\[[\d:.]+\] INFO: stopped \{"drainMs":\d+\}$/);
      });
    }
  });

  for (const format of ['json', 'pretty'] as const) {
    describe(`when the reader of its ${format} log output goes away (like \`inferd serve | head -5\`)`, () => {
      /** Serving, its stdout read up to its last line at start (after "serving") and then destroyed; clients on one channel. */
      async function headless(): Promise<{ server: ServeOutput; clients: Clients }> {
        const server = serveOutput(repo(), ['--log-format', format, '--model-control', 'explicit'], {
          terminal: false,
        });
        const port = portOf(await server.line(isServing, 'the "serving" line'));
        await server.line((l) => l.includes('TLS is off'), 'the "TLS is off" line');
        server.child.stdout!.destroy();
        return { server, clients: connect(port) };
      }

      it('goes on answering, and exits 0 on SIGTERM, the first line it cannot write being "stopping"', async () => {
        const { server, clients } = await headless();
        try {
          expect(await predictSeven(clients)).to.deep.equal(new Array<number>(16).fill(7));
          expect(await check(clients)).to.equal(Serving.SERVING);
          expect(server.stderr()).to.equal(''); // nothing logged since the pipe went
        } finally {
          clients.close();
        }
        server.child.kill('SIGTERM');
        expect(await server.exited).to.equal(0);
        expect(server.stderr()).to.equal(LOST_NOTE);
      });

      it('goes on answering once a line could not be written, says so once on stderr, and exits 0 on SIGTERM', async () => {
        const { server, clients } = await headless();
        try {
          // Unloading a model logs "model version unloaded": the first line written after the pipe is gone.
          const unloaded = await new Promise<UnloadModelResponse>((resolve, reject) =>
            clients.models.unloadModel({ modelName: 'other' }, (err: ServiceError | null, r) =>
              err ? reject(err) : resolve(r),
            ),
          );
          expect(unloaded.model!.versions.map((v) => v.reason)).to.deep.equal(['unloaded by request']);
          expect(server.stderr()).to.equal(LOST_NOTE);
          expect(await predictSeven(clients)).to.deep.equal(new Array<number>(16).fill(7));
          expect(await check(clients)).to.equal(Serving.SERVING);
        } finally {
          clients.close();
        }
        server.child.kill('SIGTERM');
        expect(await server.exited).to.equal(0);
        expect(server.stderr()).to.equal(LOST_NOTE);
      });
    });
  }
});
