import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { simpleModel } from '../../../src/example-models/example-models';
import { SERVER_NODE_FLAGS } from '../../../src/node-flags';
import { PACKAGE_ROOT } from '../../../src/package-root';
import { serveOutput, serveOutputSuite } from '../../support/serve-output';

/** The fields of the JSON "serving" line of a server started with `launch`, which is then stopped. */
async function servingLine(repo: string, launch: 'node' | 'program'): Promise<Record<string, unknown>> {
  const server = serveOutput(repo, ['--log-format', 'json'], { terminal: false, launch });
  const line = await server.line((l) => l.includes('"msg":"serving"'), 'the serving line');
  server.child.kill('SIGTERM');
  expect(await server.exited).to.equal(0);
  return JSON.parse(line) as Record<string, unknown>;
}

describe("the server's node flags", function () {
  this.timeout(60_000);
  const repo = serveOutputSuite({ simple: simpleModel() });

  it("turn V8's memory reducer off when inferd runs as a program, as its serving line says; a bare `node bin/inferd.js` leaves it on", async () => {
    expect((await servingLine(repo(), 'program'))['v8MemoryReducer']).to.equal('off');
    expect((await servingLine(repo(), 'node'))['v8MemoryReducer']).to.equal('on');
  });

  it("are the ones npm start and the first line of bin/inferd.js pass to node (the image runs npm start's command)", () => {
    const read = (file: string): string => readFileSync(path.join(PACKAGE_ROOT, file), 'utf8');
    const start = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts['start'];
    const shebang = read('bin/inferd.js').split('\n')[0];
    const flags = SERVER_NODE_FLAGS.join(' ');
    expect([start, shebang]).to.deep.equal([`node ${flags} bin/inferd.js serve`, `#!/usr/bin/env -S node ${flags}`]);
  });
});
