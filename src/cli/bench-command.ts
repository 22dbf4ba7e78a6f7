import { createServer, type AddressInfo } from 'node:net';
import { availableParallelism, cpus } from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { BinaryReader } from '@bufbuild/protobuf/wire';
import { InferdClient, InferdClientError, type Datatype, type InputTensor } from '../client';
import {
  CLIENT_SECURITY_OPTIONS,
  CLIENT_SECURITY_USAGE,
  clientSecurityOptions,
  readClientSecurity,
} from '../client/client-security';
import { elementType, elementTypeOfWire } from '../tensor/element-types';
import type { HostTensor } from '../tensor/tensor-types';
import { clientStreamLoad, clientUnaryLoad } from '../bench/client-load';
import { streamLoad, unaryLoad, type LoadOptions, type RawTarget } from '../bench/load-generator';
import { machineLimit } from '../bench/machine-limit';
import { ownCpuMs, processCpuMs } from '../bench/process-cpu-ms';
import { predictRequestEncoder, rawPredictTarget } from '../bench/raw-predict';
import { restInferRequest, restUnaryLoad } from '../bench/rest-load';
import { RuntimeBaseline } from '../bench/runtime-baseline';
import { spawnEchoServer, spawnServe, stopProcess, type Spawned } from '../bench/spawn-serve';
import type { LevelResult } from '../bench/summarize';

export const BENCH_USAGE = `Usage: inferd bench --model NAME (--models DIR | --server HOST:PORT) [options]

Loads a server with requests for a model at each concurrency level and prints, per level,
requests/s, inferences/s (rows), p50/p90/p99 latency, errors, and the CPU time each request
cost the client (this process) and the server (from /proc/<pid>/stat: the server this command
started, or --server-pid). The client runs in this process; with --models the server runs in a
child process of its own.

Options:
  --model NAME              the model to call (required)
  --models DIR              start "inferd serve" on this repository in a child process
  --server HOST:PORT        load a server that is already running instead
  --server-pid PID          with --server on this machine: the process whose CPU is the server's
  --mode unary|stream       Predict calls, or one PredictStream (default unary)
  --client LIST             how requests are made, comma-separated (default raw): raw (grpc-js
                            sending the same encoded bytes, answers not decoded), sdk (inferd/client:
                            typed arrays in, each answer decoded); with both, each level is
                            measured with one, then the other, and the ratio sdk/raw printed
  --protocol LIST           grpc, rest, or both (default grpc): rest loads the Open Inference
                            Protocol's REST binding on the HTTP port (unary only), every tensor
                            in binary (Triton's binary tensor data extension), answers read whole
                            and not decoded; with both, each level is measured both ways in turn
  --http-port N             with --server and rest: the server's HTTP port (default 8002)
  --rounds N                measurements of --duration-s per level, client and baseline, in
                            alternating order, added up (default 1); percentiles are the rounds'
                            medians; every server stays up throughout, so that each round's
                            numbers are seconds apart (the JSON report has each round's ratios;
                            a round's limit takes that round's transport and the in-process
                            run's CPU over all rounds)
  --concurrency LIST        requests in flight, comma-separated (default 1,4,16)
  --duration-s N            seconds of measurement per level (default 10)
  --warmup-s N              seconds of load before each level, not measured (default 2)
  --rows N                  rows per request along a dynamic first dimension (default 1)
  --shape LIST              the full shape of each input whose rank matches, e.g. 1,3,48,192
                            (default: the model's, with --rows first and 1 for other dynamic dims)
  --input random|zero       input values (default random, seeded)
  --baseline LIST           also measure, in the same run, comma-separated (default none):
                            echo: a bare grpc-js server answering the same bytes;
                            runtime: ONNX Runtime run() in this process, one session, one
                            request's inputs a run (needs --models);
                            limit: the floor of a request, the CPU it cannot cost less than: a
                            bare grpc-js server taking the same bytes and answering as many bytes
                            as inferd's answer (client + server CPU), plus one in-process run; and
                            the machine's limit, cores / floor, in requests/s (needs --models and
                            the raw client)
  --serve-arg ARG           passed to "inferd serve" (repeatable), e.g. --serve-arg=--instances=2
${CLIENT_SECURITY_USAGE}  --json                    print one JSON document instead of a table
  --help                    this text

With --server and a server that checks tokens, the token (scope "predict" and "models:read")
is read from the INFERD_TOKEN environment variable. The echo baseline is always plaintext.
`;

/** Deterministic values for an input: a tensor whose first dynamic dimension is `rows`. */
function makeInput(
  datatype: Datatype,
  shape: readonly number[],
  rows: number,
  fill: 'random' | 'zero',
  seed: number,
  given: readonly number[] | undefined,
): { host: HostTensor; typed: InputTensor } {
  const info = elementTypeOfWire(WIRE_DATATYPE[datatype]);
  if (info === undefined || info.type === 'string')
    throw new Error(`inferd bench makes numeric inputs only; this model takes ${datatype}`);
  const dims =
    given !== undefined && given.length === shape.length
      ? [...given]
      : shape.map((d, i) => (d >= 0 ? d : i === 0 ? rows : 1));
  const count = dims.reduce((a, b) => a * b, 1);
  const data = elementType(info.type).allocate(count);
  let s = seed >>> 0;
  for (let i = 0; i < count && fill === 'random'; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const u = s / 2 ** 32;
    if (data instanceof BigInt64Array || data instanceof BigUint64Array) data[i] = BigInt(Math.floor(u * 100));
    else if (data instanceof Float32Array || data instanceof Float64Array) data[i] = u * 2 - 1;
    else (data as Uint8Array)[i] = info.type === 'bool' ? (u < 0.5 ? 0 : 1) : Math.floor(u * 100);
  }
  return { host: { type: info.type, dims, data }, typed: { data, shape: dims, datatype } };
}

const WIRE_DATATYPE: Readonly<Record<Datatype, number>> = {
  FLOAT32: 1,
  FLOAT64: 2,
  FLOAT16: 3,
  INT8: 4,
  INT16: 5,
  INT32: 6,
  INT64: 7,
  UINT8: 8,
  UINT16: 9,
  UINT32: 10,
  UINT64: 11,
  BOOL: 12,
  STRING: 13,
};

/** The top-level field number of a PredictStreamResponse's result: 2 response, 3 error. */
function streamError(answer: Buffer): string | undefined {
  const reader = new BinaryReader(answer);
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (field === 3) return 'error response';
    reader.skip(wireType);
  }
  return undefined;
}

/** Rounds of one level as one result: requests, rows, errors and time added up; each percentile the median of the rounds'. */
function mergeRounds(rounds: readonly LevelResult[]): LevelResult {
  if (rounds.length === 1) return rounds[0]!;
  const sum = (f: (l: LevelResult) => number): number => rounds.reduce((a, l) => a + f(l), 0);
  const median = (f: (l: LevelResult) => number): number => {
    const v = rounds.map(f).sort((a, b) => a - b);
    return v.length % 2 === 1 ? v[(v.length - 1) / 2]! : (v[v.length / 2 - 1]! + v[v.length / 2]!) / 2;
  };
  const seconds = sum((l) => l.seconds);
  const calls = Math.max(
    1,
    sum((l) => l.requests + l.errors),
  );
  const perRequest = (field: 'clientCpuMsPerRequest' | 'serverCpuMsPerRequest'): Partial<LevelResult> =>
    rounds.some((l) => l[field] === undefined)
      ? {}
      : { [field]: sum((l) => l[field]! * (l.requests + l.errors)) / calls };
  const firstError = rounds.find((l) => l.firstError !== undefined)?.firstError;
  return {
    concurrency: rounds[0]!.concurrency,
    seconds,
    requests: sum((l) => l.requests),
    rows: sum((l) => l.rows),
    errors: sum((l) => l.errors),
    requestsPerSecond: sum((l) => l.requests) / seconds,
    inferencesPerSecond: sum((l) => l.rows) / seconds,
    p50Ms: median((l) => l.p50Ms),
    p90Ms: median((l) => l.p90Ms),
    p99Ms: median((l) => l.p99Ms),
    ...perRequest('clientCpuMsPerRequest'),
    ...perRequest('serverCpuMsPerRequest'),
    requestBytes: rounds.at(-1)!.requestBytes,
    answerBytes: smallest(rounds.map((l) => l.answerBytes)),
    ...(firstError === undefined ? {} : { firstError }),
    rounds: rounds.map((l) => l.requestsPerSecond),
  };
}

/** The smallest of the sizes known, undefined when none is. */
function smallest(sizes: readonly (number | undefined)[]): number | undefined {
  const known = sizes.filter((n): n is number => n !== undefined);
  return known.length === 0 ? undefined : Math.min(...known);
}

/** CPU ms with four decimals (a tiny model's request costs tens of µs); "-" when unknown. */
function cpuMs(ms: number | undefined): string {
  return ms === undefined ? '-' : ms.toFixed(4);
}

function table(title: string, levels: readonly LevelResult[]): string {
  const head = `${title}\n  conc   req/s      inf/s      p50 ms   p90 ms   p99 ms   client CPU ms/req   server CPU ms/req   errors`;
  const rows = levels.map(
    (l) =>
      `  ${String(l.concurrency).padStart(4)}   ${l.requestsPerSecond.toFixed(0).padStart(8)}   ${l.inferencesPerSecond.toFixed(0).padStart(8)}   ${l.p50Ms.toFixed(2).padStart(6)}   ${l.p90Ms.toFixed(2).padStart(6)}   ${l.p99Ms.toFixed(2).padStart(6)}   ${cpuMs(l.clientCpuMsPerRequest).padStart(17)}   ${cpuMs(l.serverCpuMsPerRequest).padStart(17)}   ${l.errors}${l.firstError ? ` (${l.firstError})` : ''}`,
  );
  return [head, ...rows].join('\n');
}

/** A port of 127.0.0.1 free right now, for the spawned server's HTTP port. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

/** Runs `inferd bench`; resolves with the exit code. */
export async function benchCommand(
  argv: readonly string[],
  env: { readonly INFERD_TOKEN?: string | undefined } = {},
): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        model: { type: 'string' },
        models: { type: 'string' },
        server: { type: 'string' },
        'server-pid': { type: 'string' },
        mode: { type: 'string', default: 'unary' },
        client: { type: 'string', default: 'raw' },
        protocol: { type: 'string', default: 'grpc' },
        'http-port': { type: 'string', default: '8002' },
        rounds: { type: 'string', default: '1' },
        concurrency: { type: 'string', default: '1,4,16' },
        'duration-s': { type: 'string', default: '10' },
        'warmup-s': { type: 'string', default: '2' },
        rows: { type: 'string', default: '1' },
        shape: { type: 'string' },
        input: { type: 'string', default: 'random' },
        baseline: { type: 'string', default: '' },
        'serve-arg': { type: 'string', multiple: true, default: [] },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
        ...CLIENT_SECURITY_OPTIONS,
      },
      strict: true,
    }));
  } catch (err) {
    process.stderr.write(`inferd bench: ${(err as Error).message}\n\n${BENCH_USAGE}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(BENCH_USAGE);
    return 0;
  }
  const problems: string[] = [];
  const levels = values.concurrency.split(',').map(Number);
  const durationMs = Number(values['duration-s']) * 1000;
  const warmupMs = Number(values['warmup-s']) * 1000;
  const rows = Number(values.rows);
  const baselines = values.baseline === '' ? [] : values.baseline.split(',');
  const clients = values.client.split(',');
  const roundCount = Number(values.rounds);
  const serverPid = values['server-pid'] === undefined ? undefined : Number(values['server-pid']);
  const protocols = values.protocol.split(',');
  const httpPort = Number(values['http-port']);
  for (const p of protocols)
    if (!['grpc', 'rest'].includes(p)) problems.push(`--protocol: unknown protocol "${p}" (grpc, rest)`);
  if (protocols.includes('rest') && values.mode !== 'unary')
    problems.push('--protocol rest measures unary calls only: leave --mode at unary');
  if (!Number.isInteger(httpPort) || httpPort < 1 || httpPort > 65535)
    problems.push(`--http-port: expected a port number, got "${values['http-port']}"`);
  if (values.model === undefined) problems.push('--model is required');
  if ((values.models === undefined) === (values.server === undefined))
    problems.push('give exactly one of --models DIR and --server HOST:PORT');
  if (!['unary', 'stream'].includes(values.mode))
    problems.push(`--mode: expected unary or stream, got "${values.mode}"`);
  for (const c of clients) if (!['raw', 'sdk'].includes(c)) problems.push(`--client: unknown client "${c}" (raw, sdk)`);
  if (!Number.isInteger(roundCount) || roundCount < 1)
    problems.push(`--rounds: expected a whole number ≥ 1, got "${values.rounds}"`);
  if (new Set(clients).size !== clients.length) problems.push(`--client: "${values.client}" names a client twice`);
  if (!['random', 'zero'].includes(values.input))
    problems.push(`--input: expected random or zero, got "${values.input}"`);
  if (levels.some((c) => !Number.isInteger(c) || c < 1))
    problems.push(`--concurrency: expected whole numbers ≥ 1, got "${values.concurrency}"`);
  if (!(durationMs > 0) || !(warmupMs >= 0)) problems.push('--duration-s must be > 0 and --warmup-s ≥ 0');
  if (!Number.isInteger(rows) || rows < 1) problems.push(`--rows: expected a whole number ≥ 1, got "${values.rows}"`);
  for (const b of baselines)
    if (!['echo', 'runtime', 'limit'].includes(b))
      problems.push(`--baseline: unknown baseline "${b}" (echo, runtime, limit)`);
  for (const b of ['runtime', 'limit'])
    if (baselines.includes(b) && values.models === undefined)
      problems.push(`--baseline ${b} needs --models (it loads the model file itself)`);
  if (baselines.includes('limit') && (!clients.includes('raw') || !protocols.includes('grpc')))
    problems.push(
      '--baseline limit needs gRPC and the raw client (--protocol grpc or grpc,rest; --client raw or raw,sdk): it answers as many bytes as the raw client received',
    );
  if (serverPid !== undefined && (values.server === undefined || !Number.isInteger(serverPid) || serverPid < 1))
    problems.push(
      `--server-pid: expected the process id of the server given by --server, got "${values['server-pid']}"`,
    );
  const security = readClientSecurity(values, values.server, env.INFERD_TOKEN, problems);
  if (problems.length > 0) {
    process.stderr.write(`inferd bench: ${problems.join('\n  ')}\n`);
    return 2;
  }
  const model = values.model!;
  const mode = values.mode as 'unary' | 'stream';

  let server: Spawned | undefined;
  let echo: Spawned | undefined;
  let floor: Spawned | undefined;
  let runtime: RuntimeBaseline | undefined;
  let sdk: InferdClient | undefined;
  const channels: RawTarget['client'][] = [];
  try {
    let address = values.server;
    if (values.models !== undefined) {
      server = await spawnServe(values.models, [
        ...values['serve-arg'],
        ...(protocols.includes('rest') ? [`--http-port=${await freePort()}`] : []),
      ]);
      address = `127.0.0.1:${server.port}`;
    }
    // The server under test may use TLS and tokens; the echo and floor baselines never do.
    const secured = clientSecurityOptions(security);
    sdk = new InferdClient(address!, secured);
    const meta = await sdk.modelMetadata(model);
    const given = values.shape?.split(',').map(Number);
    const inputs = meta.inputs.map((i, k) => ({
      name: i.name,
      ...makeInput(i.datatype, i.shape, rows, values.input as 'random' | 'zero', k + 1, given),
    }));
    const typedInputs = Object.fromEntries(inputs.map((i) => [i.name, i.typed]));
    const rowsPerRequest = meta.inputs[0]?.shape[0] === -1 ? Number(inputs[0]?.host.dims[0] ?? 1) : 1;
    const encode = predictRequestEncoder(model, inputs);
    const loadOptions = (concurrency: number, ms: number, isError: LoadOptions['isError']): LoadOptions => ({
      concurrency,
      durationMs: ms,
      rowsPerRequest,
      encode,
      isError,
    });
    const rawTarget = (addr: string, security: typeof secured | undefined): RawTarget => {
      const target = rawPredictTarget(addr, security?.tls, security?.token);
      channels.push(target.client);
      return target;
    };
    const rawLoad = mode === 'unary' ? unaryLoad : streamLoad;
    const sdkLoad = mode === 'unary' ? clientUnaryLoad : clientStreamLoad;
    const noError = (): undefined => undefined;
    const rest = restInferRequest(model, inputs);
    const [restHost, restPort] =
      values.server === undefined
        ? [
            '127.0.0.1',
            Number(server!.child.spawnargs.find((a) => a.startsWith('--http-port='))?.slice('--http-port='.length)),
          ]
        : [values.server.slice(0, values.server.lastIndexOf(':')).replace(/^\[|\]$/g, ''), httpPort];

    /** One load of `ms`, with the CPU it cost this process (the client) and the server `pid`, when known. */
    const timed = async (pid: number | undefined, load: () => Promise<LevelResult>): Promise<LevelResult> => {
      const clientMs = ownCpuMs();
      const serverMs = pid === undefined ? undefined : processCpuMs(pid);
      const result = await load();
      const calls = Math.max(1, result.requests + result.errors);
      const clientCpuMsPerRequest = (ownCpuMs() - clientMs) / calls;
      return {
        ...result,
        clientCpuMsPerRequest,
        ...(serverMs === undefined ? {} : { serverCpuMsPerRequest: (processCpuMs(pid!) - serverMs) / calls }),
      };
    };

    // What is measured, each level, in rounds: inferd with each client, then each baseline. All
    // servers stay up meanwhile (one idle costs next to nothing), so that the numbers of one level
    // are seconds apart, not minutes: this machine's speed moves from one minute to the next.
    const inferdPid = server?.child.pid ?? serverPid;
    const inferdTarget = rawTarget(address!, secured);
    let answerBytes: number | undefined;
    interface Measured {
      readonly name: string;
      /** One measurement; undefined for the in-process runtime, which keeps its own. */
      measure(concurrency: number, ms: number): Promise<LevelResult | undefined>;
    }
    // inferd through each client of each protocol: raw and sdk on gRPC, rest on the HTTP port.
    const inferdNames = [
      ...(protocols.includes('grpc') ? clients : []),
      ...(protocols.includes('rest') ? ['rest'] : []),
    ];
    const measured: Measured[] = inferdNames.map((name) => ({
      name,
      measure: async (c, ms) => {
        if (name === 'rest')
          return timed(inferdPid, () =>
            restUnaryLoad({ host: restHost!, port: restPort!, tls: secured?.tls, token: secured?.token }, rest, {
              concurrency: c,
              durationMs: ms,
              rowsPerRequest,
            }),
          );
        if (name === 'sdk')
          return timed(inferdPid, () =>
            sdkLoad(sdk!, { model, inputs: typedInputs, concurrency: c, durationMs: ms, rowsPerRequest }),
          );
        const result = await timed(inferdPid, () =>
          rawLoad(inferdTarget, loadOptions(c, ms, mode === 'stream' ? streamError : noError)),
        );
        answerBytes ??= result.answerBytes;
        return result;
      },
    }));
    if (baselines.includes('echo')) {
      echo = await spawnEchoServer();
      const target = rawTarget(`127.0.0.1:${echo.port}`, undefined);
      const pid = echo.child.pid;
      measured.push({
        name: 'echo',
        measure: (c, ms) => timed(pid, () => rawLoad(target, loadOptions(c, ms, noError))),
      });
    }
    if (baselines.includes('limit')) {
      let target: RawTarget | undefined;
      measured.push({
        name: 'floor',
        measure: async (c, ms) => {
          // Started once inferd has answered (it is measured first): it answers as many bytes as inferd did.
          if (floor === undefined) {
            if (answerBytes === undefined) throw new Error("no answer from inferd to size the floor's answers by");
            floor = await spawnEchoServer({ answerBytes });
            target = rawTarget(`127.0.0.1:${floor.port}`, undefined);
          }
          const pid = floor.child.pid;
          return timed(pid, () => rawLoad(target!, loadOptions(c, ms, noError)));
        },
      });
    }
    if (baselines.includes('runtime') || baselines.includes('limit')) {
      const modelPath = path.join(values.models!, model, meta.version, 'model.onnx');
      runtime = await RuntimeBaseline.create(modelPath, Object.fromEntries(inputs.map((i) => [i.name, i.host])));
      const inProcess = runtime;
      measured.push({ name: 'runtime', measure: async (_c, ms) => void (await inProcess.measure(ms)) });
    }

    const results: Record<string, LevelResult[]> = Object.fromEntries(measured.map((m) => [m.name, []]));
    /** Per name, per level, each round's result. */
    const byRound: Record<string, LevelResult[][]> = Object.fromEntries(measured.map((m) => [m.name, []]));
    for (const c of levels) {
      if (warmupMs > 0) for (const m of measured) if (m.name !== 'runtime') await m.measure(c, warmupMs);
      const rounds: Record<string, LevelResult[]> = Object.fromEntries(measured.map((m) => [m.name, []]));
      // Rounds alternate the order (inferd, baselines; then baselines, inferd...), so that a drift of the machine weighs on all alike.
      for (let r = 0; r < roundCount; r++) {
        for (const m of r % 2 === 0 ? measured : [...measured].reverse()) {
          const result = await m.measure(c, durationMs);
          if (result !== undefined) rounds[m.name]!.push(result);
        }
      }
      for (const m of measured) {
        if (m.name === 'runtime') continue;
        results[m.name]!.push(mergeRounds(rounds[m.name]!));
        byRound[m.name]!.push(rounds[m.name]!);
      }
    }
    /** Per level, inferd's requests/s over a baseline's, round by round. */
    const ratiosByRound = (rate: (name: string, level: number, round: number) => number, name: string): number[][] =>
      levels.map((_c, i) =>
        byRound[inferdNames[0]!]![i]!.map((_l, r) => rate(inferdNames[0]!, i, r) / rate(name, i, r)),
      );
    const rps = (name: string, level: number, round: number): number =>
      byRound[name]![level]![round]!.requestsPerSecond;

    const report: Record<string, unknown> = {
      model,
      mode,
      client: clients,
      rounds: roundCount,
      rowsPerRequest,
      durationS: durationMs / 1000,
      machine: { cpus: cpus().length, cpu: cpus()[0]?.model, node: process.version },
      serveArgs: values['serve-arg'],
    };
    const byClient = Object.fromEntries(inferdNames.map((c) => [c, results[c]!]));
    const inferd = byClient[inferdNames[0]!]!;
    report['inferd'] = inferd;
    const label = {
      raw: 'raw grpc-js client',
      sdk: 'inferd/client',
      rest: 'REST on the HTTP port, binary tensors, raw HTTP/1.1 client',
    } as Record<string, string>;
    if (byClient['rest'] !== undefined) {
      report['rest'] = byClient['rest'];
      const grpc = byClient[clients[0]!];
      if (grpc !== undefined)
        report['restToGrpc'] = byClient['rest'].map((l, i) => l.requestsPerSecond / grpc[i]!.requestsPerSecond);
    }
    if (!values.json)
      for (const c of inferdNames)
        process.stdout.write(
          `${table(`inferd ${mode} on ${model}, ${label[c]} (${rowsPerRequest} row(s) per request, ${durationMs / 1000} s per level)`, byClient[c]!)}\n`,
        );
    if (byClient['raw'] !== undefined && byClient['sdk'] !== undefined) {
      const raw = byClient['raw'];
      report['raw'] = raw;
      report['sdk'] = byClient['sdk'];
      report['sdkToRaw'] = byClient['sdk'].map((l, i) => l.requestsPerSecond / raw[i]!.requestsPerSecond);
      report['sdkClientCpuToRaw'] = byClient['sdk'].map(
        (l, i) => l.clientCpuMsPerRequest! / raw[i]!.clientCpuMsPerRequest!,
      );
      if (!values.json)
        process.stdout.write(
          `  inferd/client / raw requests/s: ${(report['sdkToRaw'] as number[]).map((r, i) => `${levels[i]}: ${r.toFixed(3)}`).join(', ')}\n`,
        );
      if (!values.json)
        process.stdout.write(
          `  inferd/client / raw client CPU per request: ${(report['sdkClientCpuToRaw'] as number[]).map((r, i) => `${levels[i]}: ${r.toFixed(3)}`).join(', ')}\n`,
        );
    }
    if (!values.json && report['restToGrpc'] !== undefined)
      process.stdout.write(
        `  REST / gRPC requests/s: ${(report['restToGrpc'] as number[]).map((r, i) => `${levels[i]}: ${r.toFixed(3)}`).join(', ')}\n`,
      );

    if (results['echo'] !== undefined) {
      const echoed = results['echo'];
      report['echo'] = echoed;
      report['ratioToEcho'] = inferd.map((l, i) => l.requestsPerSecond / echoed[i]!.requestsPerSecond);
      report['ratioToEchoByRound'] = ratiosByRound(rps, 'echo');
      if (!values.json) {
        process.stdout.write(`${table(`bare grpc-js echo, ${mode}, same bytes`, echoed)}\n`);
        process.stdout.write(
          `  inferd / echo requests/s: ${(report['ratioToEcho'] as number[]).map((r, i) => `${levels[i]}: ${r.toFixed(2)}`).join(', ')}\n`,
        );
      }
    }
    const base = runtime?.result();
    if (baselines.includes('runtime') && base !== undefined) {
      report['runtime'] = base;
      report['ratioToRuntime'] = inferd.map((l) => l.inferencesPerSecond / base.rowsPerSecond);
      if (!values.json) {
        process.stdout.write(
          `in-process run(), one session, 1 intra-op thread: ${base.runsPerSecond.toFixed(0)} runs/s, ${base.rowsPerSecond.toFixed(0)} rows/s, ${base.cpuMsPerRun.toFixed(4)} CPU ms a run\n`,
        );
        process.stdout.write(
          `  inferd / in-process inferences/s: ${(report['ratioToRuntime'] as number[]).map((r, i) => `${levels[i]}: ${r.toFixed(2)}`).join(', ')}\n`,
        );
      }
    }
    const floorTransport = results['floor'];
    if (floorTransport !== undefined && base !== undefined) {
      const cores = availableParallelism();
      const limitOf = (t: LevelResult): ReturnType<typeof machineLimit> =>
        machineLimit(
          {
            transportClientMs: t.clientCpuMsPerRequest!,
            transportServerMs: t.serverCpuMsPerRequest!,
            runMs: base.cpuMsPerRun,
          },
          cores,
        );
      const limits = floorTransport.map(limitOf);
      const inferdCpu = inferd.map((l) =>
        l.serverCpuMsPerRequest === undefined ? undefined : l.clientCpuMsPerRequest! + l.serverCpuMsPerRequest,
      );
      report['limit'] = {
        cores,
        requestBytes: floorTransport[0]!.requestBytes,
        answerBytes: floorTransport[0]!.answerBytes,
        transport: floorTransport,
        runCpuMs: base.cpuMsPerRun,
        floorMsPerRequest: limits.map((l) => l.floorMsPerRequest),
        limitPerSecond: limits.map((l) => l.limitPerSecond),
      };
      report['ratioToLimit'] = inferd.map((l, i) => l.requestsPerSecond / limits[i]!.limitPerSecond);
      report['ratioToLimitByRound'] = ratiosByRound(
        (name, i, r) => (name === 'floor' ? limitOf(byRound['floor']![i]![r]!).limitPerSecond : rps(name, i, r)),
        'floor',
      );
      report['cpuToFloor'] = inferdCpu.map((ms, i) => (ms === undefined ? null : ms / limits[i]!.floorMsPerRequest));
      if (!values.json) {
        process.stdout.write(
          `${table(`bare grpc-js, ${mode}: the same bytes in, answers of ${floorTransport[0]!.answerBytes} bytes out`, floorTransport)}\n`,
        );
        process.stdout.write(
          `floor (CPU ms per request: bare transport, client + server, + one in-process run of ${base.cpuMsPerRun.toFixed(4)} ms) and the machine's limit (${cores} cores / floor)\n`,
        );
        process.stdout.write(
          '  conc   floor ms   limit req/s   inferd req/s   / limit   inferd CPU ms/req   / floor\n',
        );
        limits.forEach((l, i) => {
          const cpu = inferdCpu[i];
          process.stdout.write(
            `  ${String(levels[i]).padStart(4)}   ${l.floorMsPerRequest.toFixed(4).padStart(8)}   ${l.limitPerSecond.toFixed(0).padStart(11)}   ${inferd[i]!.requestsPerSecond.toFixed(0).padStart(12)}   ${(report['ratioToLimit'] as number[])[i]!.toFixed(2).padStart(7)}   ${cpuMs(cpu).padStart(17)}   ${cpu === undefined ? '      -' : (cpu / l.floorMsPerRequest).toFixed(2).padStart(7)}\n`,
          );
        });
      }
    }
    if (values.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    return Object.values(byClient).some((ls) => ls.some((l) => l.errors > 0)) ? 1 : 0;
  } catch (err) {
    process.stderr.write(
      `inferd bench: ${err instanceof InferdClientError ? `${err.code}: ` : ''}${(err as Error).message}\n`,
    );
    return 1;
  } finally {
    sdk?.close();
    for (const c of channels) c.close();
    await runtime?.close();
    await stopProcess(server?.child);
    await stopProcess(echo?.child);
    await stopProcess(floor?.child);
  }
}
