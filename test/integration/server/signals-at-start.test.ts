import { expect } from 'chai';
import { simpleModel } from '../../../src/example-models/example-models';
import { outputChildren, serveOutput } from '../../support/serve-output';
import { removeFolder, writeRepository } from '../../support/test-server';

function messages(lines: readonly string[]): string[] {
  return lines.map((l) => (JSON.parse(l) as { msg: string }).msg);
}

describe('inferd serve, signalled while it starts or just after', () => {
  let repo: string;

  before(() => {
    repo = writeRepository({ simple: simpleModel(), other: simpleModel() });
  });

  afterEach(() => {
    for (const child of outputChildren) child.kill('SIGKILL');
  });

  after(() => removeFolder(repo));

  it('stops gracefully on a SIGTERM sent as soon as "serving" is printed, and exits 0', async () => {
    const server = serveOutput(repo, [], { terminal: false });
    await server.line((l) => l.includes('"msg":"serving"'), 'the "serving" line');
    server.child.kill('SIGTERM');
    expect(await server.exited).to.equal(0);
    expect(messages(server.lines).slice(2)).to.deep.equal([
      'serving',
      'TLS is off: plaintext gRPC and HTTP (set --tls-cert and --tls-key for TLS)',
      'stopping',
      'draining',
      'model version unloaded',
      'model version unloaded',
      'stopped',
    ]);
  });

  it('finishes starting on a SIGTERM sent while models load, then stops gracefully and exits 0', async () => {
    const server = serveOutput(repo, [], { terminal: false });
    await server.line((l) => l.includes('"msg":"model version ready"'), 'the first "model version ready" line');
    server.child.kill('SIGTERM');
    expect(await server.exited).to.equal(0);
    const msgs = messages(server.lines);
    expect(msgs.slice(msgs.indexOf('serving'))).to.deep.equal([
      'serving',
      'TLS is off: plaintext gRPC and HTTP (set --tls-cert and --tls-key for TLS)',
      'stopping',
      'draining',
      'model version unloaded',
      'model version unloaded',
      'stopped',
    ]);
  });

  it('ends at once on a second signal sent while models load, saying so', async () => {
    const server = serveOutput(repo, [], { terminal: false });
    await server.line((l) => l.includes('"msg":"model version ready"'), 'the first "model version ready" line');
    server.child.kill('SIGTERM');
    server.child.kill('SIGINT');
    // Exit code 1; or, when a warm-up run was in progress on a worker, ONNX Runtime's abort as the
    // worker is torn down (README, "Known limits"), which the 'exit' event reports as no code.
    expect(await server.exited).to.be.oneOf([1, null]);
    // Two different signals pending at once may come in either order.
    expect(JSON.parse(server.lines.at(-1)!)).to.deep.include({ level: 40, msg: 'second signal: exiting now' });
  });
});
