import { createServer, type Server as HttpServer } from 'node:http';
import * as path from 'node:path';
import { expect } from 'chai';
import {
  credentials,
  loadPackageDefinition,
  Server,
  ServerCredentials,
  type GrpcObject,
  type ServiceClientConstructor,
  type sendUnaryData,
  type ServerUnaryCall,
} from '@grpc/grpc-js';
import { loadSync, type MethodDefinition } from '@grpc/proto-loader';
import { PredictionServiceClient } from '../../../generated/inferd/v1/prediction_service';
import { simpleModel } from '../../../src/example-models/example-models';
import { PACKAGE_ROOT } from '../../../src/package-root';
import { children, serve } from '../../support/serve-process';
import { CALLER, callerMetadata } from '../../support/telemetry';
import { predict, removeFolder, tensor, writeRepository } from '../../support/test-server';

const PROTO = path.join(PACKAGE_ROOT, 'test', 'support', 'otlp-trace-service.proto');
const SERVICE = 'opentelemetry.proto.collector.trace.v1.TraceService';
const definition = loadSync(PROTO, { longs: String, defaults: true, oneofs: true });

interface KeyValue {
  key: string;
  value: { stringValue?: string; intValue?: string; boolValue?: boolean; doubleValue?: number };
}
interface WireSpan {
  traceId: Buffer;
  spanId: Buffer;
  parentSpanId: Buffer;
  name: string;
  kind: number;
  attributes: KeyValue[];
}
interface ExportRequest {
  resourceSpans: { resource: { attributes: KeyValue[] } | null; scopeSpans: { spans: WireSpan[] }[] }[];
}

/** A span as received: ids in hex, attributes as a plain object, and its resource's service.name. */
interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: number;
  attributes: Record<string, unknown>;
  serviceName: unknown;
}

function flatten(request: ExportRequest): ReceivedSpan[] {
  const value = (kv: KeyValue): unknown =>
    kv.value.stringValue ??
    (kv.value.intValue === undefined ? (kv.value.boolValue ?? kv.value.doubleValue) : Number(kv.value.intValue));
  const attributes = (kvs: KeyValue[]): Record<string, unknown> =>
    Object.fromEntries(kvs.map((kv) => [kv.key, value(kv)]));
  return request.resourceSpans.flatMap((rs) => {
    const serviceName = attributes(rs.resource?.attributes ?? [])['service.name'];
    return rs.scopeSpans.flatMap((ss) =>
      ss.spans.map((s) => ({
        traceId: s.traceId.toString('hex'),
        spanId: s.spanId.toString('hex'),
        parentSpanId: s.parentSpanId.toString('hex'),
        name: s.name,
        kind: s.kind,
        attributes: attributes(s.attributes),
        serviceName,
      })),
    );
  });
}

/** The spans received so far, once `ready` holds for them (polled; 30 s at most). */
async function receivedWhen(
  received: ReceivedSpan[],
  ready: (spans: ReceivedSpan[]) => boolean,
): Promise<ReceivedSpan[]> {
  const until = Date.now() + 30_000;
  while (!ready(received)) {
    if (Date.now() > until) throw new Error(`spans never arrived; have: ${received.map((s) => s.name).join(', ')}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return received;
}

/** Checks the spans of one traced Predict, as exported by a real `inferd serve`. */
function expectPredictTrace(spans: ReceivedSpan[]): void {
  const server = spans.find((s) => s.name === 'inferd.v1.PredictionService/Predict' && s.traceId === CALLER.traceId)!;
  expect(server, 'the Predict server span').to.not.equal(undefined);
  expect(server.parentSpanId).to.equal(CALLER.spanId);
  expect(server.kind).to.equal(2); // SPAN_KIND_SERVER
  expect(server.serviceName).to.equal('inferd');
  expect(server.attributes).to.deep.include({
    'rpc.system': 'grpc',
    'rpc.service': 'inferd.v1.PredictionService',
    'rpc.method': 'Predict',
    'rpc.grpc.status_code': 0,
  });
  const children = spans.filter((s) => s.parentSpanId === server.spanId);
  expect(children.map((s) => s.name).sort()).to.deep.equal(['decode', 'encode', 'model run', 'queue wait']);
  for (const c of children) expect(c.traceId).to.equal(CALLER.traceId);
}

describe('exporting traces over OTLP from inferd serve', function () {
  this.timeout(120_000);
  let repo: string;

  before(() => {
    repo = writeRepository({ simple: simpleModel() });
  });
  after(() => removeFolder(repo));
  afterEach(() => {
    for (const child of children) child.kill('SIGKILL');
  });

  async function tracedPredict(env: Record<string, string>): Promise<void> {
    const p = await serve(repo, [], { OTEL_TRACES_EXPORTER: 'otlp', OTEL_BSP_SCHEDULE_DELAY: '100', ...env });
    const client = new PredictionServiceClient(`127.0.0.1:${p.port}`, credentials.createInsecure());
    try {
      const shape = [1n, 16n];
      await predict(
        client,
        {
          modelName: 'simple',
          inputs: {
            INPUT0: tensor({ shape, int32Data: new Array(16).fill(1) }),
            INPUT1: tensor({ shape, int32Data: new Array(16).fill(2) }),
          },
        },
        { metadata: callerMetadata() },
      );
    } finally {
      client.close();
    }
    p.child.kill('SIGTERM');
    expect(await p.exited).to.equal(0);
  }

  it('sends the spans with the caller trace id to an OTLP/gRPC receiver (TraceService/Export)', async () => {
    const received: ReceivedSpan[] = [];
    const receiver = new Server();
    const pkg = loadPackageDefinition(definition);
    const collector = ((pkg['opentelemetry'] as GrpcObject)['proto'] as GrpcObject)['collector'] as GrpcObject;
    const traceService = ((collector['trace'] as GrpcObject)['v1'] as GrpcObject)[
      'TraceService'
    ] as ServiceClientConstructor;
    receiver.addService(traceService.service, {
      Export: (call: ServerUnaryCall<ExportRequest, unknown>, callback: sendUnaryData<unknown>) => {
        received.push(...flatten(call.request));
        callback(null, {});
      },
    });
    const port = await new Promise<number>((resolve, reject) =>
      receiver.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(err) : resolve(p),
      ),
    );
    try {
      await tracedPredict({
        OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
      });
      expectPredictTrace(
        await receivedWhen(received, (s) => s.filter((x) => x.traceId === CALLER.traceId).length >= 5),
      );
    } finally {
      receiver.forceShutdown();
    }
  });

  it('sends them over OTLP/HTTP (protobuf) too', async () => {
    const received: ReceivedSpan[] = [];
    const method = (definition[SERVICE] as Record<string, MethodDefinition<ExportRequest, unknown>>)['Export']!;
    const paths: string[] = [];
    const receiver: HttpServer = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        paths.push(req.url ?? '');
        received.push(...flatten(method.requestDeserialize(Buffer.concat(chunks))));
        res.writeHead(200, { 'content-type': 'application/x-protobuf' });
        res.end();
      });
    });
    const port = await new Promise<number>((resolve) =>
      receiver.listen(0, '127.0.0.1', () => resolve((receiver.address() as { port: number }).port)),
    );
    try {
      await tracedPredict({
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
      });
      expectPredictTrace(
        await receivedWhen(received, (s) => s.filter((x) => x.traceId === CALLER.traceId).length >= 5),
      );
      expect(paths[0]).to.equal('/v1/traces');
    } finally {
      receiver.closeAllConnections();
      receiver.close();
    }
  });
});
