import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { tinyMlpModel, tinyMlpReference } from '../../../src/example-models/example-models';
import { issue, makeAuthority } from '../../support/certs';
import { jsonl } from '../../support/json-lines';
import { runInferd, type Run } from '../../support/run-inferd';
import { writeFiles } from '../../support/secure-clients';
import { removeFolder, startServer, writeRepository, type TestServer } from '../../support/test-server';

/** Runs `inferd ...args` in `cwd` to its end, with no INFERD_* variables set (stderr is a pipe, not a terminal). */
function inferd(cwd: string, ...args: string[]): Promise<Run> {
  return runInferd(args, { cwd });
}

/** The same, with these variables added. */
function inferdWith(env: Record<string, string>, cwd: string, ...args: string[]): Promise<Run> {
  return runInferd(args, { cwd, env });
}

const mlpRow = (i: number): number[] => [i, 1 - i, 2 * i, 3];

describe('inferd batch', function () {
  this.timeout(60_000);
  let repo: string;
  let work: string;

  before(() => {
    repo = writeRepository({ tiny_mlp: tinyMlpModel() });
    work = mkdtempSync(path.join(tmpdir(), 'inferd-batch-cli-'));
  });

  after(() => {
    removeFolder(repo);
    removeFolder(work);
  });

  it('--help describes every option and exits 0', async () => {
    const run = await inferd(work, 'batch', '--help');
    expect(run.code).to.equal(0);
    expect(run.stdout).to.match(/^Usage: inferd batch --model NAME --input PATH --output PATH/);
    for (const flag of [
      '--model',
      '--model-version',
      '--input',
      '--output',
      '--models',
      '--server',
      '--tls-ca',
      '--tls-cert',
      '--tls-key',
      '--batch-size',
      '--input-columns',
      '--output-names',
      '--max-bad-records',
      '--data-dir',
      '--intra-op-threads',
      '--quiet',
    ]) {
      expect(run.stdout).to.match(new RegExp(`^ {2}${flag} `, 'm'), flag);
    }
  });

  it('is listed in "inferd --help"', async () => {
    expect((await inferd(work, '--help')).stdout).to.include('inferd batch [options]');
  });

  it('scores a CSV file into CSV with the model loaded in this process, prints progress lines and a summary on stderr, and exits 0', async () => {
    writeFileSync(
      path.join(work, 'in.csv'),
      `key,a,b,c,d\n${[0, 1, 2, 3, 4].map((i) => `k${i},${mlpRow(i).join(',')}`).join('\n')}\n`,
    );
    const run = await inferd(
      work,
      'batch',
      '--models',
      repo,
      '--model',
      'tiny_mlp',
      '--input',
      'in.csv',
      '--output',
      'out.csv',
      '--batch-size',
      '2',
      '--data-dir',
      'state',
    );
    expect(run.code, run.stderr).to.equal(0);
    expect(run.stdout).to.equal('');
    expect(run.stderr).to.match(/^100% 5\/5 rows, \d+ rows\/s, ETA 0:00$/m);
    expect(run.stderr).to.match(/\ninferd batch: 5 of 5 rows written to out\.csv\n$/);
    const expected = [
      'row,key,y_0,y_1,y_2',
      ...[0, 1, 2, 3, 4].map((i) => `${i + 1},k${i},${tinyMlpReference(mlpRow(i)).join(',')}`),
    ];
    expect(readFileSync(path.join(work, 'out.csv'), 'utf8')).to.equal(`${expected.join('\n')}\n`);
  });

  it('writes the records that fail to the errors file, says how many, and still exits 0', async () => {
    writeFileSync(path.join(work, 'rows.jsonl'), jsonl([{ x: mlpRow(1) }, { x: [1, 2] }, { x: mlpRow(2) }]));
    const run = await inferd(
      work,
      'batch',
      '--models',
      repo,
      '--model',
      'tiny_mlp',
      '--input',
      'rows.jsonl',
      '--output',
      'rows-out.jsonl',
      '--quiet',
      '--data-dir',
      'state',
    );
    expect(run.code, run.stderr).to.equal(0);
    expect(run.stderr).to.equal(
      'inferd batch: 2 of 3 rows written to rows-out.jsonl; 1 failed, see rows-out.jsonl.errors.jsonl\n',
    );
    expect(readFileSync(path.join(work, 'rows-out.jsonl'), 'utf8')).to.equal(
      jsonl([1, 3].map((row) => ({ row, key: null, outputs: { y: tinyMlpReference(mlpRow(row === 1 ? 1 : 2)) } }))),
    );
    const errors = readFileSync(path.join(work, 'rows-out.jsonl.errors.jsonl'), 'utf8');
    expect(JSON.parse(errors)).to.deep.equal({
      row: 2,
      key: null,
      where: `${path.join(work, 'rows.jsonl')} line 2`,
      error: 'input "x": expected shape [4] for one record, got [2]',
    });
  });

  it('exits 1 with the reason for an unknown model, and 2 with the usage problems for missing flags', async () => {
    writeFileSync(path.join(work, 'one.jsonl'), jsonl([{ x: mlpRow(1) }]));
    const unknown = await inferd(
      work,
      'batch',
      '--models',
      repo,
      '--model',
      'nope',
      '--input',
      'one.jsonl',
      '--output',
      'x.jsonl',
      '--data-dir',
      'state',
    );
    expect([unknown.code, unknown.stderr]).to.deep.equal([1, 'inferd batch: unknown model "nope"\n']);
    const usage = await inferd(work, 'batch', '--model', 'tiny_mlp', '--batch-size', 'many');
    expect(usage.code).to.equal(2);
    expect(usage.stderr).to.equal(
      'inferd batch: --input is required\n  --output is required\n  --batch-size: expected a whole number from 1 to 65536, got "many"\n\nRun "inferd batch --help" for the options.\n',
    );
  });

  it('refuses an output that is the input or lies inside the input folder, exits 1 naming both, and leaves the input as it was', async () => {
    const input = jsonl([{ x: mlpRow(1) }]);
    writeFileSync(path.join(work, 'same.jsonl'), input);
    mkdirSync(path.join(work, 'folder'));
    writeFileSync(path.join(work, 'folder', 'a.jsonl'), input);
    const own = ': the job would write over its own input';
    const abs = (name: string): string => path.join(work, name);
    const cases: [string, string, string][] = [
      ['same.jsonl', 'same.jsonl', `output "${abs('same.jsonl')}" is the input "${abs('same.jsonl')}"${own}`],
      [
        'same.jsonl',
        'sqlite:./same.jsonl#t',
        `output "sqlite:${abs('same.jsonl')}#t" is the input "${abs('same.jsonl')}"${own}`,
      ],
      [
        'folder',
        'folder/out.jsonl',
        `output "${abs('folder/out.jsonl')}" lies inside the input folder "${abs('folder')}"${own}`,
      ],
    ];
    for (const [input, output, message] of cases) {
      const run = await inferd(
        work,
        'batch',
        '--models',
        repo,
        '--model',
        'tiny_mlp',
        '--input',
        input,
        '--output',
        output,
        '--data-dir',
        'state',
      );
      expect([run.code, run.stderr], output).to.deep.equal([1, `inferd batch: ${message}\n`]);
    }
    expect(readFileSync(path.join(work, 'same.jsonl'), 'utf8')).to.equal(input);
    expect(readdirSync(path.join(work, 'folder'))).to.deep.equal(['a.jsonl']);
  });

  it('writes a malformed line to the errors file with its line number and goes on; past --max-bad-records the job fails, exit 1, naming the count', async () => {
    const notJson = '{"x": [1, 2';
    writeFileSync(
      path.join(work, 'mixed.jsonl'),
      `${JSON.stringify({ x: mlpRow(1) })}\n${notJson}\n${JSON.stringify({ x: mlpRow(2) })}\n[]\n`,
    );
    const parseError = ((): string => {
      try {
        JSON.parse(notJson);
      } catch (err) {
        return (err as Error).message;
      }
      throw new Error('parsed');
    })();
    const args = [
      'batch',
      '--models',
      repo,
      '--model',
      'tiny_mlp',
      '--input',
      'mixed.jsonl',
      '--quiet',
      '--data-dir',
      'state',
    ];
    const run = await inferd(work, ...args, '--output', 'mixed-out.jsonl');
    expect([run.code, run.stderr]).to.deep.equal([
      0,
      'inferd batch: 2 of 4 rows written to mixed-out.jsonl; 2 failed, see mixed-out.jsonl.errors.jsonl\n',
    ]);
    expect(readFileSync(path.join(work, 'mixed-out.jsonl'), 'utf8')).to.equal(
      jsonl(
        [
          [1, 1],
          [3, 2],
        ].map(([row, i]) => ({ row, key: null, outputs: { y: tinyMlpReference(mlpRow(i!)) } })),
      ),
    );
    const where = (line: number): string => `${path.join(work, 'mixed.jsonl')} line ${line}`;
    expect(readFileSync(path.join(work, 'mixed-out.jsonl.errors.jsonl'), 'utf8')).to.equal(
      jsonl([
        { row: 2, key: null, where: where(2), error: `not valid JSON (${parseError})` },
        { row: 4, key: null, where: where(4), error: 'expected a JSON object, got an array' },
      ]),
    );

    const limited = await inferd(work, ...args, '--output', 'limited.jsonl', '--max-bad-records', '1');
    expect(limited.code).to.equal(1);
    const reason = `2 records of input "${path.join(work, 'mixed.jsonl')}" are malformed, more than max_bad_records (1) allows; the first: ${where(2)}: not valid JSON (${parseError})`;
    expect(limited.stderr).to.match(/^inferd batch: job [0-9a-f-]{36} FAILED: /);
    expect(limited.stderr.replace(/^inferd batch: job [0-9a-f-]{36} FAILED: /, '')).to.equal(`${reason}\n`);
    expect(existsSync(path.join(work, 'limited.jsonl'))).to.equal(false);

    const usage = await inferd(work, ...args, '--output', 'x.jsonl', '--max-bad-records=some');
    expect([usage.code, usage.stderr]).to.deep.equal([
      2,
      'inferd batch: --max-bad-records: expected a whole number from 0 to 4294967295, got "some"\n\nRun "inferd batch --help" for the options.\n',
    ]);
  });

  describe('--server HOST:PORT', () => {
    let data: string;
    let t: TestServer;

    before(async () => {
      data = mkdtempSync(path.join(tmpdir(), 'inferd-batch-server-'));
      writeFileSync(path.join(data, 'in.jsonl'), jsonl([0, 1, 2].map((i) => ({ key: i, x: mlpRow(i) }))));
      t = await startServer(repo, { dataDir: data });
    });

    after(async () => {
      await t?.close();
      removeFolder(data);
    });

    it("submits the job to the server, follows it to its end and exits 0; the paths are under the server's data directory", async () => {
      const run = await inferd(
        work,
        'batch',
        '--server',
        t.address,
        '--model',
        'tiny_mlp',
        '--input',
        'in.jsonl',
        '--output',
        'out.jsonl',
      );
      expect(run.code, run.stderr).to.equal(0);
      expect(run.stderr).to.match(
        new RegExp(`^inferd batch: job [0-9a-f-]{36} submitted to ${t.address.replace(/\./g, '\\.')}\n`),
      );
      expect(run.stderr).to.match(/\ninferd batch: 3 of 3 rows written to out\.jsonl\n$/);
      expect(readFileSync(path.join(data, 'out.jsonl'), 'utf8')).to.equal(
        jsonl([0, 1, 2].map((i) => ({ row: i + 1, key: i, outputs: { y: tinyMlpReference(mlpRow(i)) } }))),
      );
    });

    it('passes --max-bad-records to the server, which fails the job past it', async () => {
      writeFileSync(path.join(data, 'bad.jsonl'), `${JSON.stringify({ x: mlpRow(1) })}\n[1]\n`);
      const run = await inferd(
        work,
        'batch',
        '--server',
        t.address,
        '--model',
        'tiny_mlp',
        '--input',
        'bad.jsonl',
        '--output',
        'bad-out.jsonl',
        '--max-bad-records',
        '0',
        '--quiet',
      );
      expect(run.code).to.equal(1);
      const id = /^inferd batch: job ([0-9a-f-]{36}) submitted to /.exec(run.stderr)?.[1];
      expect(run.stderr).to.equal(
        `inferd batch: job ${id} submitted to ${t.address}\ninferd batch: job ${id} FAILED: 1 record of input "bad.jsonl" is malformed, more than max_bad_records (0) allows; the first: bad.jsonl line 2: expected a JSON object, got an array\n`,
      );
    });

    it("exits 1 with the server's reason when it refuses the job", async () => {
      const run = await inferd(
        work,
        'batch',
        '--server',
        t.address,
        '--model',
        'tiny_mlp',
        '--input',
        '../in.jsonl',
        '--output',
        'out.jsonl',
      );
      expect([run.code, run.stderr]).to.deep.equal([
        1,
        'inferd batch: input "../in.jsonl" is outside the data directory\n',
      ]);
    });
  });

  describe('--server over TLS, to a server that checks tokens', () => {
    const TOKEN = randomBytes(24).toString('base64url');
    const ca = makeAuthority('inferd test CA');
    const serverCert = issue(ca, { commonName: 'localhost', dns: ['localhost'] });
    let data: string;
    let keys: ReturnType<typeof writeFiles>;
    let t: TestServer;

    before(async () => {
      data = mkdtempSync(path.join(tmpdir(), 'inferd-batch-server-'));
      writeFileSync(path.join(data, 'in.jsonl'), jsonl([0, 1].map((i) => ({ key: i, x: mlpRow(i) }))));
      const digest = createHash('sha256').update(TOKEN).digest('hex');
      keys = writeFiles({
        'ca.crt': ca.cert,
        'server.crt': serverCert.cert,
        'server.key': serverCert.key,
        'access.yaml': `tokens:\n  - { name: batch, sha256: ${digest}, scopes: [jobs] }\n`,
      });
      t = await startServer(repo, {
        dataDir: data,
        tlsCert: keys.file('server.crt'),
        tlsKey: keys.file('server.key'),
        authTokens: keys.file('access.yaml'),
      });
    });

    after(async () => {
      await t?.close();
      removeFolder(data);
      removeFolder(keys.dir);
    });

    it('submits with the token from INFERD_TOKEN and the CA from --tls-ca, and exits 0', async () => {
      const run = await inferdWith(
        { INFERD_TOKEN: TOKEN },
        work,
        'batch',
        '--server',
        `localhost:${t.server.port}`,
        '--tls-ca',
        keys.file('ca.crt'),
        '--model',
        'tiny_mlp',
        '--input',
        'in.jsonl',
        '--output',
        'out.jsonl',
        '--quiet',
      );
      expect(run.code, run.stderr).to.equal(0);
      expect(readFileSync(path.join(data, 'out.jsonl'), 'utf8')).to.equal(
        jsonl([0, 1].map((i) => ({ row: i + 1, key: i, outputs: { y: tinyMlpReference(mlpRow(i)) } }))),
      );
    });

    it('exits 2 for a token with a line break, without printing the token', async () => {
      const run = await inferdWith(
        { INFERD_TOKEN: `${TOKEN}\n` },
        work,
        'batch',
        '--server',
        `localhost:${t.server.port}`,
        '--tls-ca',
        keys.file('ca.crt'),
        '--model',
        'tiny_mlp',
        '--input',
        'in.jsonl',
        '--output',
        'out3.jsonl',
      );
      expect([run.code, run.stderr]).to.deep.equal([
        2,
        'inferd batch: INFERD_TOKEN holds a character no token can have (a space or a line break?)\n\nRun "inferd batch --help" for the options.\n',
      ]);
    });

    it("exits 1 with the server's reason without a token", async () => {
      const run = await inferd(
        work,
        'batch',
        '--server',
        `localhost:${t.server.port}`,
        '--tls-ca',
        keys.file('ca.crt'),
        '--model',
        'tiny_mlp',
        '--input',
        'in.jsonl',
        '--output',
        'out2.jsonl',
        '--quiet',
      );
      expect([run.code, run.stderr]).to.deep.equal([
        1,
        'inferd batch: this call needs credentials: send the metadata "authorization: Bearer <token>"\n',
      ]);
    });
  });
});
