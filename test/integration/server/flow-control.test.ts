import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import { PredictStreamResponse, type PredictRequest } from '../../../generated/inferd/v1/prediction_service';
import { simpleModel } from '../../../src/example-models/example-models';
import { RawPredictStream } from '../../support/raw-predict-stream';
import { children, serve } from '../../support/serve-process';
import { removeFolder, tensor, writeRepository } from '../../support/test-server';

/** Resident memory of a process, in MiB, from /proc (Linux). */
function rssMiB(pid: number): number {
  const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]!;
  return Number(kb) / 1024;
}

const ROWS = 16;
/** About 2 KiB a request: 100,000 of them held in memory would be some 200 MiB. */
function request(i: number): PredictRequest {
  const a = new Int32Array(ROWS * 16).fill(i);
  const b = new Int32Array(ROWS * 16).fill(1);
  const raw = (x: Int32Array): Uint8Array => new Uint8Array(x.buffer);
  return {
    modelName: 'simple',
    modelVersion: '',
    id: String(i),
    outputNames: ['OUTPUT0'],
    inputs: {
      INPUT0: tensor({ shape: [BigInt(ROWS), 16n], rawData: raw(a) }),
      INPUT1: tensor({ shape: [BigInt(ROWS), 16n], rawData: raw(b) }),
    },
  };
}

describe('PredictStream flow control', function () {
  this.timeout(180_000);
  const TOTAL = 100_000;
  let repo: string;

  before(() => {
    repo = writeRepository({ simple: simpleModel() });
  });

  after(() => {
    for (const child of children) child.kill('SIGKILL');
    removeFolder(repo);
  });

  it(`keeps the server's memory bounded while a client sends ${TOTAL.toLocaleString('en')} requests without reading, then answers every one`, async () => {
    const server = await serve(repo, ['--max-stream-in-flight', '256']);
    const pid = server.child.pid!;
    const stream = RawPredictStream.open(`127.0.0.1:${server.port}`);
    const baseline = rssMiB(pid);
    let peak = baseline;
    const sampler = setInterval(() => (peak = Math.max(peak, rssMiB(pid))), 50);
    try {
      let sent = 0;
      let sendingDone = false;
      const sending = (async () => {
        for (; sent < TOTAL; sent++) await stream.send(request(sent));
        sendingDone = true;
      })();

      // The client reads nothing: the server must stop reading, so sending stalls far short of the total.
      let stalledAt = -1;
      for (;;) {
        const before = sent;
        await new Promise((r) => setTimeout(r, 500));
        if (sent === before) {
          stalledAt = sent;
          break;
        }
        if (sendingDone) break;
      }
      const peakWhileStalled = peak;
      expect(stalledAt, 'sending stalled').to.be.within(1, 5_000);

      // Now read: every request is answered once, correctly, and the stream ends OK.
      let answered = 0;
      let wrong = 0;
      const reading = stream.readEach((bytes) => {
        const r = PredictStreamResponse.decode(bytes);
        const i = Number(r.id);
        const out = r.response?.outputs['OUTPUT0'];
        const first =
          out === undefined ? NaN : new DataView(out.rawData.buffer, out.rawData.byteOffset).getInt32(0, true);
        if (first !== i + 1) wrong++;
        answered++;
      });
      await sending;
      stream.end();
      expect(await reading).to.equal('0');
      expect({ answered, wrong }).to.deep.equal({ answered: TOTAL, wrong: 0 });
      console.log(
        `      flow control: stalled after ${stalledAt} requests; server RSS ${baseline.toFixed(0)} MiB at start, ${peakWhileStalled.toFixed(0)} MiB peak while stalled, ${peak.toFixed(0)} MiB peak over ${TOTAL} requests`,
      );
      // Held requests (and their answers) would take 200 MiB and more; the bound leaves room for the heap's growth under load.
      expect(peak - baseline).to.be.below(150);
    } finally {
      clearInterval(sampler);
      stream.close();
    }
  });
});
