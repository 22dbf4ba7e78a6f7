/**
 * The benchmark suite behind docs/benchmarks.md: the scenarios of the throughput issue, each
 * measured against its baseline in the same run. Run on a quiet machine:
 *
 *   node dist/src/bench/suite.js [--models DIR] [--duration-s N] [--leak-requests N] [--only LIST]
 *
 * where LIST names scenarios: tinyUnary, tinyStream, ocrUnary, ocrUnaryTwoInstances, leak.
 *
 * Prints one JSON document: for each scenario the `inferd bench --json` report (inferd, its
 * baselines, the floor and the machine's limit, the ratios, CPU per request of client and
 * server), and the memory of a server over a long run of tiny requests.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { Client, credentials } from '@grpc/grpc-js';
import { PredictRequest } from '../../generated/inferd/v1/prediction_service';
import { Tensor } from '../../generated/inferd/v1/tensor';
import { PACKAGE_ROOT } from '../package-root';
import { unaryLoad } from './load-generator';
import { spawnServe, stopProcess } from './spawn-serve';

const BIN = path.join(PACKAGE_ROOT, 'bin', 'inferd.js');

function bench(args: readonly string[]): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [BIN, 'bench', ...args, '--json'],
      { maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err && stdout === '') reject(new Error(`inferd bench ${args.join(' ')} failed: ${stderr}`));
        else resolve(JSON.parse(stdout) as Record<string, unknown>);
      },
    );
  });
}

function rssMiB(pid: number): number {
  return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
}

/** Tiny-model requests, back to back at concurrency 16, until `total`; the server's RSS after every 100,000. */
async function leak(models: string, total: number): Promise<{ requests: number; rssMiB: number }[]> {
  const server = await spawnServe(models, ['--log-level', 'warn']);
  const client = new Client(`127.0.0.1:${server.port}`, credentials.createInsecure());
  const x = new Float32Array([1, 2, 3, 4]);
  const request = Buffer.from(
    PredictRequest.encode({
      modelName: 'tiny_mlp',
      modelVersion: '',
      id: '',
      outputNames: [],
      inputs: { x: Tensor.fromPartial({ shape: [1n, 4n], rawData: new Uint8Array(x.buffer) }) },
    }).finish(),
  );
  const samples: { requests: number; rssMiB: number }[] = [];
  try {
    let done = 0;
    while (done < total) {
      const target = Math.min(total, done + 100_000);
      while (done < target) {
        const r = await unaryLoad(
          { client, unaryPath: '/inferd.v1.PredictionService/Predict', streamPath: '' },
          { concurrency: 16, durationMs: 2000, rowsPerRequest: 1, encode: () => request, isError: () => undefined },
        );
        if (r.errors > 0) throw new Error(`errors during the leak run: ${r.firstError}`);
        done += r.requests;
      }
      samples.push({ requests: done, rssMiB: Math.round(rssMiB(server.child.pid!)) });
    }
  } finally {
    client.close();
    await stopProcess(server.child);
  }
  return samples;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      models: { type: 'string', default: 'models' },
      'duration-s': { type: 'string', default: '10' },
      'leak-requests': { type: 'string', default: '1000000' },
      only: { type: 'string' },
    },
  });
  const runs = (name: string): boolean => values.only === undefined || values.only.split(',').includes(name);
  const models = values.models;
  const d = ['--duration-s', values['duration-s'], '--warmup-s', '2', '--models', models];
  const report: Record<string, unknown> = {};
  if (runs('tinyUnary'))
    report['tinyUnary'] = await bench([
      '--model',
      'tiny_mlp',
      '--mode',
      'unary',
      '--concurrency',
      '16',
      '--baseline',
      'echo,limit',
      ...d,
    ]);
  if (runs('tinyStream'))
    report['tinyStream'] = await bench([
      '--model',
      'tiny_mlp',
      '--mode',
      'stream',
      '--concurrency',
      '256',
      '--baseline',
      'echo,limit',
      ...d,
    ]);
  const ocr = ['--model', 'ocr_cls', '--mode', 'unary', '--concurrency', '32', '--shape', '1,3,48,192'];
  if (runs('ocrUnary')) report['ocrUnary'] = await bench([...ocr, '--baseline', 'runtime,limit', ...d]);
  if (runs('ocrUnaryTwoInstances'))
    report['ocrUnaryTwoInstances'] = await bench([
      ...ocr,
      '--baseline',
      'runtime,limit',
      '--serve-arg=--instances=2',
      ...d,
    ]);
  if (runs('leak')) report['leak'] = await leak(models, Number(values['leak-requests']));
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
}

void main();
