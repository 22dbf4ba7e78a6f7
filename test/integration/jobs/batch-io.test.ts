import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { expect } from 'chai';
import { InferdError } from '../../../src/inferd-error';
import { BatchInput, type InputRecord } from '../../../src/jobs/batch/batch-input';
import { CallbackPolicy } from '../../../src/jobs/webhooks/callback-policy';
import { DataPaths } from '../../../src/jobs/batch/data-paths';
import { parseCsvLine } from '../../../src/jobs/batch/parse-csv-line';
import { readLines, type Line } from '../../../src/jobs/batch/read-lines';
import { recordTensor } from '../../../src/jobs/batch/record-tensor';
import { tensorRows } from '../../../src/jobs/batch/tensor-rows';
import { tensorValues } from '../../../src/jobs/batch/tensor-values';
import { toFloat16Bits } from '../../../src/tensor/float16';
import { removeFolder } from '../../support/test-server';

async function all(lines: AsyncIterable<Line>): Promise<Line[]> {
  const out: Line[] = [];
  for await (const l of lines) out.push(l);
  return out;
}

function thrown(f: () => unknown): Error {
  try {
    f();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected it to throw');
}

describe('batch input and output', () => {
  let dir: string;

  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'inferd-batch-io-'));
  });

  after(() => removeFolder(dir));

  describe('readLines', () => {
    it('reads lines with their numbers and end offsets, dropping CR and a leading BOM, and the last line without a newline', async () => {
      const file = path.join(dir, 'lines.txt');
      writeFileSync(file, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('ab\r\n\nnaïve\nlast')]));
      const lines = await all(readLines(file, { fromOffset: 0, fromLine: 0, maxLineBytes: 100, chunkBytes: 3 }));
      expect(lines).to.deep.equal([
        { text: 'ab', number: 1, end: 7 },
        { text: '', number: 2, end: 8 },
        { text: 'naïve', number: 3, end: 15 },
        { text: 'last', number: 4, end: 19 },
      ]);
    });

    it('starts again exactly after any line, given its end offset and number', async () => {
      const file = path.join(dir, 'resume.txt');
      writeFileSync(file, Array.from({ length: 50 }, (_, i) => `line ${i + 1} ${'x'.repeat(i % 7)}`).join('\n'));
      const whole = await all(readLines(file, { fromOffset: 0, fromLine: 0, maxLineBytes: 100, chunkBytes: 16 }));
      for (const at of [0, 1, 17, 49]) {
        const rest = await all(
          readLines(file, {
            fromOffset: whole[at]!.end,
            fromLine: whole[at]!.number,
            maxLineBytes: 100,
            chunkBytes: 16,
          }),
        );
        expect(rest).to.deep.equal(whole.slice(at + 1));
      }
    });

    it('yields a line of bytes that are not UTF-8, or longer than the most, as malformed with its number and end, and reads on', async () => {
      const file = path.join(dir, 'bad.txt');
      writeFileSync(
        file,
        Buffer.concat([
          Buffer.from('ok\nbad '),
          Buffer.from([0xff, 0xfe]),
          Buffer.from(`\nshort\n${'y'.repeat(40)}\nafter\n${'z'.repeat(11)}`),
        ]),
      );
      for (const chunkBytes of [4, 8, 1024]) {
        const lines = await all(readLines(file, { fromOffset: 0, fromLine: 0, maxLineBytes: 10, chunkBytes }));
        expect(lines, `chunks of ${chunkBytes}`).to.deep.equal([
          { text: 'ok', number: 1, end: 3 },
          { text: '', number: 2, end: 10, malformed: 'not valid UTF-8' },
          { text: 'short', number: 3, end: 16 },
          { text: '', number: 4, end: 57, malformed: 'longer than 10 bytes' },
          { text: 'after', number: 5, end: 63 },
          { text: '', number: 6, end: 74, malformed: 'longer than 10 bytes' },
        ]);
        const rest = await all(readLines(file, { fromOffset: 57, fromLine: 4, maxLineBytes: 10, chunkBytes }));
        expect(rest).to.deep.equal(lines.slice(4));
      }
    });
  });

  describe('BatchInput', () => {
    it('yields a line that is not a record as a bad record with its row, and starts again exactly after any record, bad ones included', async () => {
      const folder = path.join(dir, 'records');
      mkdirSync(folder);
      writeFileSync(
        path.join(folder, 'a.jsonl'),
        Buffer.concat([Buffer.from('{"key":1}\n[]\n\n'), Buffer.from([0xc3]), Buffer.from('\n{"key":2}')]),
      );
      writeFileSync(path.join(folder, 'b.csv'), 'key,v\nk3,1\nk4,"2\n\nk5,3\n');
      const input = await BatchInput.open(folder, 'records', new DataPaths({ root: dir, confine: true }));
      const records: InputRecord[] = [];
      for await (const r of input.records({ file: 0, offset: 0, line: 0 }, 1)) records.push(r);
      expect(records.map((r) => [r.row, r.kind, r.where, r.key, r.kind === 'bad' ? r.reason : ''])).to.deep.equal([
        [1, 'json', 'records/a.jsonl line 1', 1, ''],
        [2, 'bad', 'records/a.jsonl line 2', null, 'expected a JSON object, got an array'],
        [3, 'bad', 'records/a.jsonl line 4', null, 'not valid UTF-8'],
        [4, 'json', 'records/a.jsonl line 5', 2, ''],
        [5, 'csv', 'records/b.csv line 2', 'k3', ''],
        [6, 'bad', 'records/b.csv line 3', null, 'a quoted cell (cell 2) is not closed on its line'],
        [7, 'csv', 'records/b.csv line 5', 'k5', ''],
      ]);
      for (const [i, r] of records.entries()) {
        const rest: InputRecord[] = [];
        for await (const next of input.records(r.after, r.row + 1)) rest.push(next);
        expect(rest, `after row ${r.row}`).to.deep.equal(records.slice(i + 1));
      }
      expect(await input.scan(new AbortController().signal)).to.deep.equal({
        records: 7,
        bad: 3,
        firstBad: 'records/a.jsonl line 2: expected a JSON object, got an array',
      });
    });
  });

  describe('parseCsvLine', () => {
    const cases: [string, string[]][] = [
      ['a,b,c', ['a', 'b', 'c']],
      ['1,,3,', ['1', '', '3', '']],
      ['"x, y","say ""hi""",z', ['x, y', 'say "hi"', 'z']],
      ['""', ['']],
      ['', ['']],
    ];
    for (const [line, cells] of cases) {
      it(`splits ${JSON.stringify(line)} into ${JSON.stringify(cells)}`, () => {
        expect(parseCsvLine(line)).to.deep.equal(cells);
      });
    }

    it('refuses a quote left open and text after a closing quote', () => {
      expect(() => parseCsvLine('a,"b')).to.throw('a quoted cell (cell 2) is not closed on its line');
      expect(() => parseCsvLine('"a"b,c')).to.throw('text after the closing quote of cell 1');
    });
  });

  describe('recordTensor', () => {
    it('takes nested arrays of the record shape, and 64-bit integers as decimal strings exactly', () => {
      expect(
        recordTensor(
          'input "x"',
          [
            [1, 2],
            [3, 4],
            [5, 6],
          ],
          'int32',
          [-1, 2],
        ),
      ).to.deep.equal({ type: 'int32', dims: [3, 2], data: Int32Array.of(1, 2, 3, 4, 5, 6) });
      expect(recordTensor('input "x"', ['9223372036854775807', -5], 'int64', [2]).data).to.deep.equal(
        BigInt64Array.of(2n ** 63n - 1n, -5n),
      );
      expect(recordTensor('input "x"', 7.5, 'float64', [])).to.deep.equal({
        type: 'float64',
        dims: [],
        data: Float64Array.of(7.5),
      });
      expect(recordTensor('input "b"', [true, false], 'bool', [2]).data).to.deep.equal(Uint8Array.of(1, 0));
    });

    const refusals: [unknown, Parameters<typeof recordTensor>[2], number[], string][] = [
      [[[1, 2], [3]], 'int32', [-1, -1], 'input "x": not a rectangular array of shape [2,2] ([1] has 1 elements)'],
      [[1, 2, 3], 'float32', [4], 'input "x": expected shape [4] for one record, got [3]'],
      [[1, 300], 'int8', [2], 'input "x": element [1] is 300, out of range for INT8 [-128, 127]'],
      [[1.5], 'int32', [1], 'input "x": element [0] is 1.5, expected an INT32'],
      [
        ['18446744073709551616'],
        'uint64',
        [1],
        'input "x": element [0] is 18446744073709551616, out of range for UINT64',
      ],
      [[1], 'string', [1], 'input "x": element [0] is 1, expected a STRING'],
    ];
    for (const [value, type, dims, message] of refusals) {
      it(`refuses ${JSON.stringify(value)} as ${type} ${JSON.stringify(dims)} with INVALID_ARGUMENT: ${message}`, () => {
        const err = thrown(() => recordTensor('input "x"', value, type, dims));
        expect(err).to.be.instanceOf(InferdError);
        expect([(err as InferdError).code, err.message]).to.deep.equal(['INVALID_ARGUMENT', message]);
      });
    }
  });

  describe('tensorRows and tensorValues', () => {
    it('stacks records along the first dimension and slices them back out', () => {
      const a = { type: 'int64' as const, dims: [1, 2], data: BigInt64Array.of(1n, 2n) };
      const b = { type: 'int64' as const, dims: [1, 2], data: BigInt64Array.of(3n, 4n) };
      const stacked = tensorRows.stack([a, b]);
      expect(stacked).to.deep.equal({ type: 'int64', dims: [2, 2], data: BigInt64Array.of(1n, 2n, 3n, 4n) });
      expect(tensorRows.slice(stacked, 1)).to.deep.equal({ type: 'int64', dims: [2], data: BigInt64Array.of(3n, 4n) });
    });

    it('writes floats as the shortest decimal that reads back to the same value, 64-bit integers exactly, NaN as null', () => {
      expect(
        tensorValues.json({ type: 'float32', dims: [2, 2], data: Float32Array.of(0.1, 1 / 3, -2.5, NaN) }),
      ).to.equal('[[0.1,0.33333334],[-2.5,null]]');
      expect(
        tensorValues.json({
          type: 'float16',
          dims: [2],
          data: Uint16Array.of(toFloat16Bits(0.1), toFloat16Bits(65504)),
        }),
      ).to.equal('[0.1,65500]'); // 65500 is the shortest decimal whose nearest half is 65504
      expect(tensorValues.json({ type: 'uint64', dims: [1], data: BigUint64Array.of(2n ** 64n - 1n) })).to.equal(
        '[18446744073709551615]',
      );
      expect(tensorValues.json({ type: 'string', dims: [], data: ['a "b"'] })).to.equal('"a \\"b\\""');
      expect(
        tensorValues
          .leaves({ type: 'float32', dims: [2], data: Float32Array.of(Infinity, 0.2) })
          .map(tensorValues.cell),
      ).to.deep.equal(['Infinity', '0.2']);
    });
  });

  describe('DataPaths', () => {
    let root: string;
    let outside: string;
    let paths: DataPaths;

    before(() => {
      root = path.join(dir, 'data');
      outside = path.join(dir, 'elsewhere');
      mkdirSync(path.join(root, 'in'), { recursive: true });
      mkdirSync(outside);
      symlinkSync(outside, path.join(root, 'out-link'));
      symlinkSync(path.join(root, 'in'), path.join(root, 'in-link'));
      symlinkSync(path.join(outside, 'not-yet.db'), path.join(root, 'dangling.db'));
      paths = new DataPaths({ root, confine: true });
    });

    it('resolves paths inside the data directory, relative or absolute, through links that stay inside', () => {
      expect(paths.resolve('in/a.jsonl', 'input')).to.equal(path.join(root, 'in/a.jsonl'));
      expect(paths.resolve(path.join(root, 'new/b.jsonl'), 'output')).to.equal(path.join(root, 'new/b.jsonl'));
      expect(paths.resolve('in-link/c.csv', 'input')).to.equal(path.join(root, 'in/c.csv'));
      expect(paths.resolve('in/../in/d.csv', 'input')).to.equal(path.join(root, 'in/d.csv'));
    });

    for (const given of [
      '../x.jsonl',
      '/etc/passwd',
      'in/../../x.jsonl',
      'out-link/x.jsonl',
      'out-link/deeper/x.jsonl',
      'dangling.db',
    ]) {
      it(`refuses "${given}", naming it`, () => {
        const err = thrown(() => paths.resolve(given, 'output'));
        expect([(err as InferdError).code, err.message]).to.deep.equal([
          'INVALID_ARGUMENT',
          `output "${given}" is outside the data directory`,
        ]);
      });
    }

    it("takes any path when not confined (the command line, with the user's own rights)", () => {
      expect(new DataPaths({ root, confine: false }).resolve('../x.jsonl', 'input')).to.equal(
        path.join(dir, 'x.jsonl'),
      );
    });
  });

  describe('CallbackPolicy', () => {
    const policy = new CallbackPolicy(['hooks.example.com', '127.0.0.1:8080', '[::1]:9000']);
    const cases: [string, boolean][] = [
      ['https://hooks.example.com/a', true],
      ['http://HOOKS.example.com:1234/a', true],
      ['http://127.0.0.1:8080/', true],
      ['http://127.0.0.1/', false],
      ['http://127.0.0.1:8081/', false],
      ['http://[::1]:9000/x', true],
      ['http://evil.example.com/', false],
      ['http://hooks.example.com.evil.net/', false],
      ['file:///etc/passwd', false],
    ];
    for (const [url, allowed] of cases) {
      it(`${allowed ? 'allows' : 'refuses'} ${url}`, () => {
        expect(policy.allows(url)).to.equal(allowed);
      });
    }
  });
});
