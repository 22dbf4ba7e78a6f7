import { createHmac, timingSafeEqual } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { status } from '@grpc/grpc-js';
import { expect } from 'chai';
import { simpleModel, tinyMlpModel } from '../../../src/example-models/example-models';
import { jobsClient, type Jobs } from '../../support/jobs';
import {
  rejection,
  removeFolder,
  startServer,
  tensor,
  writeRepository,
  type TestServer,
} from '../../support/test-server';
import { until } from '../../support/until';

const SECRET = 'test-webhook-secret';

interface Received {
  readonly url: string;
  readonly method: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  /** The signature header checked against the HMAC-SHA256 of the raw body, as a receiver must. */
  readonly verified: boolean;
  /** The status the receiver answered. */
  readonly status: number;
}

/** A webhook receiver on 127.0.0.1: records each call and answers with the next status of `answers` (`otherwise` once they run out). */
class Receiver {
  readonly received: Received[] = [];
  answers: number[] = [];
  otherwise = 200;

  private constructor(private readonly server: Server) {}

  static async start(): Promise<Receiver> {
    const server = createServer();
    const receiver = new Receiver(server);
    server.on('request', (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const raw = Buffer.concat(chunks);
        const expected = Buffer.from(`sha256=${createHmac('sha256', SECRET).update(raw).digest('hex')}`);
        const given = Buffer.from(String(req.headers['x-inferd-signature'] ?? ''));
        const verified = given.length === expected.length && timingSafeEqual(given, expected);
        const status = verified ? (receiver.answers.shift() ?? receiver.otherwise) : 401;
        receiver.received.push({
          url: req.url ?? '',
          method: req.method ?? '',
          headers: req.headers,
          body: raw.toString('utf8'),
          verified,
          status,
        });
        res.statusCode = status;
        res.end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return receiver;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

const tinyInput = { x: tensor({ shape: [1n, 4n], floatData: [1, 2, 3, 4] }) };

describe('job webhooks', function () {
  this.timeout(30_000);
  let repo: string;
  let receiver: Receiver;

  before(async () => {
    repo = writeRepository({ simple: simpleModel(), tiny_mlp: tinyMlpModel() });
    receiver = await Receiver.start();
  });

  after(async () => {
    await receiver?.close();
    removeFolder(repo);
  });

  beforeEach(() => {
    receiver.received.length = 0;
    receiver.answers = [];
    receiver.otherwise = 200;
  });

  describe('on a server that allows the receiver', () => {
    let t: TestServer;
    let jobs: Jobs;

    before(async () => {
      t = await startServer(repo, {
        webhookAllow: [`127.0.0.1:${receiver.port}`],
        webhookSecret: SECRET,
        webhookRetryMs: 50,
        webhookMaxAttempts: 3,
      });
      jobs = jobsClient(t.address);
    });

    after(async () => {
      jobs?.close();
      await t?.close();
    });

    it('POSTs the job id, kind, state and counts as JSON when the job ends, signed with X-Inferd-Signature: sha256=<HMAC of the raw body>', async () => {
      const job = await jobs.submitPrediction(
        { modelName: 'tiny_mlp', inputs: tinyInput },
        `http://127.0.0.1:${receiver.port}/hooks/inferd?team=a`,
      );
      await until(() => receiver.received.length === 1, 'the webhook call');
      const call = receiver.received[0]!;
      expect(call).to.deep.include({ method: 'POST', url: '/hooks/inferd?team=a', verified: true });
      expect(call.headers['content-type']).to.equal('application/json');
      expect(call.headers['x-inferd-delivery']).to.match(
        /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
      );
      expect(JSON.parse(call.body)).to.deep.equal({
        job_id: job.id,
        kind: 'prediction',
        state: 'SUCCEEDED',
        total: 1,
        processed: 1,
        failed: 0,
      });
      await sleep(200);
      expect(receiver.received.length).to.equal(1);
    });

    it('retries after a 500, with the same body, signature and delivery id, until a 2xx', async () => {
      receiver.answers = [500, 503];
      const job = await jobs.submitPrediction(
        { modelName: 'tiny_mlp', inputs: tinyInput },
        `http://127.0.0.1:${receiver.port}/hook`,
      );
      await until(() => receiver.received.length === 3, 'three webhook calls');
      const [first, ...retries] = receiver.received;
      for (const retry of retries) {
        expect(retry.body).to.equal(first!.body);
        expect(retry.headers['x-inferd-delivery']).to.equal(first!.headers['x-inferd-delivery']);
        expect(retry.headers['x-inferd-signature']).to.equal(first!.headers['x-inferd-signature']);
        expect(retry.verified).to.equal(true);
      }
      expect(JSON.parse(first!.body)).to.include({ job_id: job.id, state: 'SUCCEEDED' });
      await sleep(300);
      expect(receiver.received.length).to.equal(3);
    });

    it('gives a delivery up after --webhook-max-attempts failed attempts', async () => {
      receiver.answers = [500, 500, 500, 500];
      await jobs.submitPrediction(
        { modelName: 'tiny_mlp', inputs: tinyInput },
        `http://127.0.0.1:${receiver.port}/hook`,
      );
      await until(() => receiver.received.length === 3, 'three webhook calls');
      await sleep(500); // the next retry would have come after 200 ms
      expect(receiver.received.length).to.equal(3);
    });

    it('refuses, naming the host, a callback to a host or port outside the allow-list, and calls nothing', async () => {
      for (const [url, host] of [
        [`http://localhost:${receiver.port}/hook`, `localhost:${receiver.port}`],
        [`http://127.0.0.1:${receiver.port + 1}/hook`, `127.0.0.1:${receiver.port + 1}`],
      ]) {
        const err = await rejection(jobs.submitPrediction({ modelName: 'tiny_mlp', inputs: tinyInput }, url));
        expect([err.code, err.details]).to.deep.equal([
          status.INVALID_ARGUMENT,
          `callback_url host "${host}" is not allowed: the server allows 127.0.0.1:${receiver.port}`,
        ]);
      }
      const ftp = await rejection(
        jobs.submitPrediction({ modelName: 'tiny_mlp', inputs: tinyInput }, `ftp://127.0.0.1:${receiver.port}/`),
      );
      expect([ftp.code, ftp.details]).to.deep.equal([
        status.INVALID_ARGUMENT,
        `callback_url "ftp://127.0.0.1:${receiver.port}/": only http and https URLs are called`,
      ]);
      await sleep(100);
      expect(receiver.received).to.deep.equal([]);
    });
  });

  it('keeps a delivery that has not succeeded across a restart, and sends it again with the same delivery id', async () => {
    const data = mkdtempSync(path.join(tmpdir(), 'inferd-webhooks-'));
    const options = {
      dataDir: data,
      webhookAllow: [`127.0.0.1:${receiver.port}`],
      webhookSecret: SECRET,
      webhookRetryMs: 1000,
      webhookMaxAttempts: 5,
    };
    try {
      // Every call fails while the first server runs, however many of its retries come before it stops.
      receiver.otherwise = 500;
      const first = await startServer(repo, options);
      const jobs = jobsClient(first.address);
      const job = await jobs.submitPrediction(
        { modelName: 'tiny_mlp', inputs: tinyInput },
        `http://127.0.0.1:${receiver.port}/hook`,
      );
      await until(() => receiver.received.length > 0, 'the first webhook call');
      jobs.close();
      await first.close();
      // From here on calls succeed: a call answered 200 came from the second server.
      receiver.otherwise = 200;

      const second = await startServer(repo, options);
      try {
        await until(() => receiver.received.some((r) => r.status === 200), 'the webhook call after the restart');
        const before = receiver.received[0]!;
        const after = receiver.received.find((r) => r.status === 200)!;
        expect(before.status).to.equal(500);
        expect(after.headers['x-inferd-delivery']).to.equal(before.headers['x-inferd-delivery']);
        expect(after.body).to.equal(before.body);
        expect(JSON.parse(after.body)).to.include({ job_id: job.id, state: 'SUCCEEDED' });
      } finally {
        await second.close();
      }
    } finally {
      removeFolder(data);
    }
  });
});
