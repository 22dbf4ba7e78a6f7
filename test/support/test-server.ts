import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import pino, { type Logger } from 'pino';
import { HealthClient } from '../../generated/grpc/health/v1/health';
import {
  ModelServiceClient,
  type LoadModelResponse,
  type UnloadModelResponse,
} from '../../generated/inferd/v1/model_service';
import {
  PredictionServiceClient,
  type PredictRequest,
  type PredictResponse,
} from '../../generated/inferd/v1/prediction_service';
import { Tensor } from '../../generated/inferd/v1/tensor';
import { parseServeConfig, type ServeConfig } from '../../src/config';
import { InferdServer } from '../../src/server';
import type { Tracing } from '../../src/telemetry/tracing';

/** Writes `<tmp>/<model>/<version>/model.onnx` for each entry; the caller removes the folder. */
export function writeRepository(models: Record<string, Uint8Array | Record<string, Uint8Array>>): string {
  const root = mkdtempSync(path.join(tmpdir(), 'inferd-repo-'));
  for (const [name, content] of Object.entries(models)) {
    const versions = content instanceof Uint8Array ? { '1': content } : content;
    for (const [version, bytes] of Object.entries(versions)) {
      mkdirSync(path.join(root, name, version), { recursive: true });
      writeFileSync(path.join(root, name, version, 'model.onnx'), bytes);
    }
  }
  return root;
}

export function removeFolder(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

export interface TestServer {
  readonly server: InferdServer;
  readonly address: string;
  /** The server's --data-dir: its own (removed on close) unless the test gave one. */
  readonly dataDir: string;
  readonly prediction: PredictionServiceClient;
  readonly models: ModelServiceClient;
  readonly health: HealthClient;
  close(): Promise<void>;
}

/** Starts a real server on an ephemeral port of 127.0.0.1, with clients for it. */
export async function startServer(
  models: string,
  overrides: Partial<ServeConfig> = {},
  parts: { tracing?: Tracing; log?: Logger } = {},
): Promise<TestServer> {
  // A data directory of its own (the job store), removed on close, unless the test gives one.
  const ownDataDir = overrides.dataDir === undefined ? mkdtempSync(path.join(tmpdir(), 'inferd-data-')) : undefined;
  const config: ServeConfig = {
    ...parseServeConfig({ argv: [], env: {} }),
    port: 0,
    httpPort: 0,
    logLevel: 'silent',
    models,
    dataDir: ownDataDir ?? overrides.dataDir!,
    ...overrides,
  };
  const server = await InferdServer.create(config, parts.log ?? pino({ level: 'silent' }), { tracing: parts.tracing });
  const address = `127.0.0.1:${server.port}`;
  const options = { 'grpc.max_receive_message_length': -1, 'grpc.max_send_message_length': -1 };
  const prediction = new PredictionServiceClient(address, credentials.createInsecure(), options);
  const modelsClient = new ModelServiceClient(address, credentials.createInsecure());
  const health = new HealthClient(address, credentials.createInsecure());
  return {
    server,
    address,
    dataDir: config.dataDir,
    prediction,
    models: modelsClient,
    health,
    close: async () => {
      prediction.close();
      modelsClient.close();
      health.close();
      await server.close();
      if (ownDataDir !== undefined) removeFolder(ownDataDir);
    },
  };
}

/** A wire tensor with every field not given left empty. */
export function tensor(fields: Partial<Tensor>): Tensor {
  return Tensor.fromPartial(fields);
}

/** Calls Predict; resolves with the response or rejects with the ServiceError. */
export function predict(
  client: PredictionServiceClient,
  request: Partial<PredictRequest>,
  options: { deadlineMs?: number; metadata?: Metadata } = {},
): Promise<PredictResponse> {
  const full: PredictRequest = { modelName: '', modelVersion: '', inputs: {}, outputNames: [], id: '', ...request };
  const callOptions = options.deadlineMs === undefined ? {} : { deadline: Date.now() + options.deadlineMs };
  return new Promise((resolve, reject) => {
    client.predict(
      full,
      options.metadata ?? new Metadata(),
      callOptions,
      (err: ServiceError | null, response: PredictResponse) => (err ? reject(err) : resolve(response)),
    );
  });
}

/** Makes one unary call (`start` passes the callback to the client's method); resolves with the response or rejects with the ServiceError. */
export function unary<T>(start: (callback: (err: ServiceError | null, response: T) => void) => unknown): Promise<T> {
  return new Promise((resolve, reject) => {
    start((err, response) => (err ? reject(err) : resolve(response)));
  });
}

/** Calls ModelService.LoadModel on the server's client. */
export function loadModel(t: TestServer, modelName: string): Promise<LoadModelResponse> {
  return unary((cb) => t.models.loadModel({ modelName }, cb));
}

/** Calls ModelService.UnloadModel on the server's client. */
export function unloadModel(t: TestServer, modelName: string): Promise<UnloadModelResponse> {
  return unary((cb) => t.models.unloadModel({ modelName }, cb));
}

/** The error a promise rejects with; fails when it resolves. */
export async function rejection(promise: Promise<unknown>): Promise<ServiceError> {
  try {
    await promise;
  } catch (err) {
    return err as ServiceError;
  }
  throw new Error('expected the call to fail, but it succeeded');
}
