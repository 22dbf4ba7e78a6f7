import * as http2 from 'node:http2';
import { expect } from 'chai';
import { simpleModel } from '../../../src/example-models/example-models';
import { removeFolder, startServer, writeRepository, type TestServer } from '../../support/test-server';

describe('HTTP/2 receive windows', () => {
  let repo: string;
  let t: TestServer;

  before(async () => {
    repo = writeRepository({ simple: simpleModel() });
    t = await startServer(repo, { http2WindowBytes: 3 * 1024 * 1024 });
  });

  after(async () => {
    await t.close();
    removeFolder(repo);
  });

  it('offers each new connection the configured stream window instead of the 64 KiB default', async () => {
    const session = http2.connect(`http://${t.address}`);
    try {
      const settings = await new Promise<http2.Settings>((resolve) => {
        // The server's own SETTINGS frame, then the update it sends once the connection is up.
        session.on('remoteSettings', (s) => {
          if (s.initialWindowSize === 3 * 1024 * 1024) resolve(s);
        });
      });
      expect(settings.initialWindowSize).to.equal(3 * 1024 * 1024);
    } finally {
      session.close();
    }
  });
});
