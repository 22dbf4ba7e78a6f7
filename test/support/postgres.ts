import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import pg from 'pg';

/** The login of the test server: a superuser with a password (so tests can check it never shows). */
export const PG_USER = 'inferd';
export const PG_PASSWORD = 'pw-Never-Shown-7261';

/** Where Debian's postgresql package puts initdb and pg_ctl: /usr/lib/postgresql/<major>/bin, the newest major. */
function binDir(): string {
  const root = '/usr/lib/postgresql';
  const majors = existsSync(root) ? readdirSync(root).filter((v) => existsSync(path.join(root, v, 'bin', 'initdb'))) : [];
  majors.sort((a, b) => Number(b) - Number(a));
  if (majors.length === 0) throw new Error('PostgreSQL is not installed: no /usr/lib/postgresql/*/bin/initdb (apt-get install postgresql; see README, "Install")');
  return path.join(root, majors[0]!, 'bin');
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * A PostgreSQL server of the test's own: a cluster made by initdb in a temporary folder, on a
 * free port of 127.0.0.1, stopped and removed by close(). initdb and the server refuse to run as
 * root, so as root they run as the "postgres" user (runuser).
 */
export class TestPostgres {
  private databases = 0;

  private constructor(
    private readonly dir: string,
    readonly port: number,
    private readonly bin: string,
    private readonly durable: boolean,
  ) {}

  /** `durable`: fsync and synchronous commits on, as in production (for measurements); off by default, for speed. */
  static async start(options: { durable?: boolean } = {}): Promise<TestPostgres> {
    const bin = binDir();
    const dir = mkdtempSync(path.join(tmpdir(), 'inferd-pg-'));
    const root = process.getuid?.() === 0;
    if (root) {
      const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
      const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
      chownSync(dir, uid, gid);
    }
    const pg = new TestPostgres(dir, await freePort(), bin, options.durable === true);
    pg.run('initdb', ['-D', pg.dataDir, '-U', PG_USER, `--pwfile=${pg.passwordFile(uidOf(root))}`, '--auth-host=scram-sha-256', '--auth-local=trust', '-E', 'UTF8', '--no-sync']);
    pg.startServer();
    return pg;
  }

  /** A URL of a database of its own, new and empty. */
  async createDatabase(): Promise<string> {
    const name = `t${++this.databases}`;
    const client = new pg.Client({ connectionString: this.url('postgres') });
    await client.connect();
    try {
      await client.query(`CREATE DATABASE ${name}`);
    } finally {
      await client.end();
    }
    return this.url(name);
  }

  url(database: string): string {
    return `postgres://${PG_USER}:${PG_PASSWORD}@127.0.0.1:${this.port}/${database}`;
  }

  /** Stops the server (fast: connections are cut), keeping its data. */
  stopServer(): void {
    this.run('pg_ctl', ['-D', this.dataDir, '-m', 'fast', '-w', 'stop']);
  }

  /** Starts the server again, on the same port, with the same data. */
  startServer(): void {
    const fast = this.durable ? '' : ' -c fsync=off -c synchronous_commit=off -c full_page_writes=off';
    const options = `-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1 -c max_connections=200${fast}`;
    this.run('pg_ctl', ['-D', this.dataDir, '-o', options, '-l', path.join(this.dir, 'server.log'), '-w', '-t', '60', 'start']);
  }

  /** Stops the server and removes its folder. */
  close(): void {
    try {
      this.stopServer();
    } catch {
      // already stopped
    }
    rmSync(this.dir, { recursive: true, force: true });
  }

  private get dataDir(): string {
    return path.join(this.dir, 'data');
  }

  private passwordFile(owner: { uid: number; gid: number } | undefined): string {
    const file = path.join(this.dir, 'password');
    writeFileSync(file, `${PG_PASSWORD}\n`, { mode: 0o600 });
    if (owner !== undefined) chownSync(file, owner.uid, owner.gid);
    return file;
  }

  private run(tool: string, args: readonly string[]): void {
    const command = path.join(this.bin, tool);
    const asRoot = process.getuid?.() === 0;
    const [file, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', command, ...args]] : [command, [...args]];
    execFileSync(file, argv, { stdio: ['ignore', 'pipe', 'pipe'], cwd: this.dir });
  }
}

function uidOf(root: boolean): { uid: number; gid: number } | undefined {
  if (!root) return undefined;
  return { uid: Number(execFileSync('id', ['-u', 'postgres']).toString().trim()), gid: Number(execFileSync('id', ['-g', 'postgres']).toString().trim()) };
}
