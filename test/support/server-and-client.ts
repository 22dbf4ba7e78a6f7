import type { ServeConfig } from '../../src/config';
import { removeFolder, startServer, writeRepository, type TestServer } from './test-server';

/** A test server on a repository of its own, with one client of the test's choosing. */
export interface ServerAndClient<C> extends TestServer {
  /** The repository folder (for a second server on it, or files a test adds). */
  readonly repo: string;
  readonly client: C;
  /** Closes the client, then the server, and removes the repository. */
  close(): Promise<void>;
}

/**
 * Writes a repository of `models` (see writeRepository), starts a test server on it with
 * `overrides`, and connects `connect(address)` to it. The repository is removed when the
 * server does not start.
 */
export async function startServerAndClient<C extends { close(): void }>(
  models: Parameters<typeof writeRepository>[0],
  connect: (address: string) => C,
  overrides: Partial<ServeConfig> = {},
): Promise<ServerAndClient<C>> {
  const repo = writeRepository(models);
  let server: TestServer;
  try {
    server = await startServer(repo, overrides);
  } catch (err) {
    removeFolder(repo);
    throw err;
  }
  const client = connect(server.address);
  return {
    ...server,
    repo,
    client,
    close: async () => {
      client.close();
      await server.close();
      removeFolder(repo);
    },
  };
}
