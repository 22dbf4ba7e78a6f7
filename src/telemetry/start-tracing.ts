import { trace } from '@opentelemetry/api';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { Tracing } from './tracing';

/** The service name spans carry when OTEL_SERVICE_NAME does not say. */
export const DEFAULT_SERVICE_NAME = 'inferd';

export interface StartedTracing {
  /** Undefined when the environment asks for no tracing. */
  readonly tracing: Tracing | undefined;
  /** Exports what is buffered and stops the SDK. Safe to call twice. */
  shutdown(): Promise<void>;
}

/**
 * Whether the standard OpenTelemetry variables ask for traces: OTEL_TRACES_EXPORTER set to
 * something other than "none", or an OTLP endpoint given, and OTEL_SDK_DISABLED not true.
 * Nothing is exported otherwise (the SDK's own default would be OTLP to localhost).
 */
export function tracingRequested(env: Readonly<Record<string, string | undefined>>): boolean {
  if ((env['OTEL_SDK_DISABLED'] ?? '').trim().toLowerCase() === 'true') return false;
  const exporters = (env['OTEL_TRACES_EXPORTER'] ?? '')
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e !== '');
  if (exporters.length > 0) return !exporters.every((e) => e === 'none');
  return Boolean(env['OTEL_EXPORTER_OTLP_ENDPOINT'] || env['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT']);
}

/**
 * Starts the OpenTelemetry Node SDK for traces only, configured by the standard OTEL_*
 * environment variables (exporter: otlp over grpc, http/protobuf or http/json, console;
 * endpoint; sampler; resource), when `env` asks for tracing. The SDK reads process.env itself;
 * `env` only decides whether to start it. Metrics are served by inferd's own /metrics, so the
 * SDK exports no metrics and no logs.
 */
export function startTracing(env: Readonly<Record<string, string | undefined>>): StartedTracing {
  if (!tracingRequested(env)) return { tracing: undefined, shutdown: () => Promise.resolve() };
  const sdk = new NodeSDK({
    serviceName: env['OTEL_SERVICE_NAME'] || DEFAULT_SERVICE_NAME,
    instrumentations: [],
    metricReaders: [],
    logRecordProcessors: [],
  });
  sdk.start();
  let stopped: Promise<void> | undefined;
  return {
    tracing: new Tracing(trace.getTracer('inferd')),
    shutdown: () => (stopped ??= sdk.shutdown()),
  };
}
