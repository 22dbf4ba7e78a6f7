import { expect } from 'chai';
import { InferdClient } from '../../../src/client';
import { tinyMlpModel, tinyMlpReference } from '../../../src/example-models/example-models';
import { requestsAnswered } from '../../support/request-counts';
import { children, serve, type ServeProcess } from '../../support/serve-process';
import { removeFolder, writeRepository } from '../../support/test-server';
import { until } from '../../support/until';

const row = (i: number): number[] => [i % 500, 1, -(i % 3), 2];

describe('inferd/client with three replicas', function () {
  this.timeout(90_000);
  let repo: string;
  let replicas: ServeProcess[];
  let client: InferdClient;

  const answered = (r: ServeProcess): Promise<number> => requestsAnswered(r.httpPort, 'tiny_mlp', 'OK');

  before(async () => {
    repo = writeRepository({ tiny_mlp: tinyMlpModel() });
    replicas = await Promise.all([serve(repo), serve(repo), serve(repo)]);
    client = new InferdClient(replicas.map((r) => `127.0.0.1:${r.port}`));
  });

  after(() => {
    client?.close();
    for (const child of children) child.kill('SIGKILL');
    removeFolder(repo);
  });

  /** `loops` callers each predicting back to back until `stop()`; every answer checked. */
  function load(loops: number): { done: Promise<void>; stop: () => void; ok: () => number; failures: unknown[] } {
    let stopped = false;
    let ok = 0;
    let next = 0;
    const failures: unknown[] = [];
    const loop = async (): Promise<void> => {
      while (!stopped) {
        const i = next++;
        try {
          const r = await client.predict('tiny_mlp', { x: { data: Float32Array.from(row(i)), shape: [1, 4] } });
          expect(Array.from(r.outputs['y']!.data as Float32Array)).to.deep.equal(tinyMlpReference(row(i)));
          ok++;
        } catch (err) {
          failures.push(err);
        }
      }
    };
    const done = Promise.all(Array.from({ length: loops }, loop)).then(() => undefined);
    return { done, stop: () => (stopped = true), ok: () => ok, failures };
  }

  it("spreads calls over every replica given: each replica's /metrics counts some", async () => {
    for (let i = 0; i < 300; i += 6)
      await Promise.all(
        [0, 1, 2, 3, 4, 5].map((k) =>
          client.predict('tiny_mlp', { x: { data: Float32Array.from(row(i + k)), shape: [1, 4] } }),
        ),
      );
    const counts = await Promise.all(replicas.map(answered));
    expect(
      counts.every((c) => c > 0),
      `answered per replica: ${counts.join(', ')}`,
    ).to.equal(true);
    expect(counts.reduce((a, b) => a + b, 0)).to.equal(300);
  });

  it('loses no prediction when a replica is SIGKILLed under load: its calls are retried on the others', async () => {
    const [victim, ...others] = replicas as [ServeProcess, ServeProcess, ServeProcess];
    const victimBefore = await answered(victim);
    const running = load(8);
    try {
      await until(async () => (await answered(victim)) >= victimBefore + 50, 'the victim to answer under load', 30_000);
      const othersAtKill = await Promise.all(others.map(answered));
      const okAtKill = running.ok();
      victim.child.kill('SIGKILL');
      await victim.exited;
      await until(() => running.ok() >= okAtKill + 500 || running.failures.length > 0, '500 more predictions', 60_000);
      running.stop();
      await running.done;
      expect(running.failures).to.deep.equal([]);
      const othersAfter = await Promise.all(others.map(answered));
      expect(
        othersAfter.every((c, i) => c > othersAtKill[i]!),
        `${othersAtKill} → ${othersAfter}`,
      ).to.equal(true);
    } finally {
      running.stop();
      await running.done;
    }
  });

  it('goes on with a stream whose replica is SIGKILLed: its unanswered inputs are sent again on another replica, and every result comes, in order', async () => {
    const alive = replicas.slice(1);
    const before = await Promise.all(alive.map(answered));
    let killed: ServeProcess | undefined;
    let taken = 0;
    for await (const r of client.predictStream(
      'tiny_mlp',
      Array.from({ length: 3000 }, (_, i) => ({ x: { data: Float32Array.from(row(i)), shape: [1, 4] } })),
      { maxInFlight: 64 },
    )) {
      expect([r.index, r.error]).to.deep.equal([taken, undefined]);
      expect(Array.from(r.outputs!['y']!.data as Float32Array)).to.deep.equal(tinyMlpReference(row(taken)));
      taken++;
      if (taken === 500) {
        // The stream's replica is the one whose count moved.
        const now = await Promise.all(alive.map(answered));
        killed = alive[now[0]! > before[0]! ? 0 : 1]!;
        killed.child.kill('SIGKILL');
      }
    }
    expect(taken).to.equal(3000);
    // Everything not answered before the kill (all but at most 500 + 64 in flight) was answered by the other replica.
    const survivor = alive.findIndex((r) => r !== killed);
    expect((await answered(alive[survivor]!)) - before[survivor]!).to.be.at.least(3000 - 500 - 64);
  });
});
