import type { ErrorCode } from '../../inferd-error';
import type { PredictInput, PredictOutput } from '../../inference';
import { wireTensorJson, type WireTensorJson } from '../batch/wire-tensor-json';
import type { Delivery } from '../job-store';
import type { Job, JobSpec, JobState } from '../job';

/** A jobs table row as both stores keep it (PostgreSQL's BIGINTs already read as numbers). */
export interface JobRow {
  seq: number;
  id: string;
  kind: string;
  state: string;
  spec: string;
  total: number;
  processed: number;
  failed: number;
  result: string | null;
  error_code: string | null;
  error_message: string | null;
  callback_url: string;
  schedule: string;
  checkpoint: string | null;
  created_ms: number;
  started_ms: number | null;
  finished_ms: number | null;
  owner: string;
  lease_epoch: number;
}

export interface DeliveryRow {
  id: string;
  job_id: string;
  url: string;
  body: string;
  attempts: number;
  due_ms: number;
  last_error: string;
}

/** How jobs and deliveries become rows and back, the same for both stores. */
export const jobRow = {
  encodeSpec(spec: JobSpec): string {
    if (spec.kind === 'batch') return JSON.stringify(spec);
    const r = spec.request;
    return JSON.stringify({ kind: 'prediction', request: { ...r, inputs: wireTensorJson.encodeMap(r.inputs) } });
  },

  decodeSpec(text: string): JobSpec {
    const spec = JSON.parse(text) as JobSpec;
    if (spec.kind === 'batch') return spec;
    const r = spec.request as PredictInput & { inputs: Record<string, WireTensorJson> };
    return { kind: 'prediction', request: { ...r, inputs: wireTensorJson.decodeMap(r.inputs) } };
  },

  encodeOutput(output: PredictOutput): string {
    return JSON.stringify({ ...output, outputs: wireTensorJson.encodeMap(output.outputs) });
  },

  decodeOutput(text: string): PredictOutput {
    const o = JSON.parse(text) as PredictOutput & { outputs: Record<string, WireTensorJson> };
    return { ...o, outputs: wireTensorJson.decodeMap(o.outputs) };
  },

  toJob(row: JobRow): Job {
    return {
      id: row.id,
      spec: jobRow.decodeSpec(row.spec),
      state: row.state as JobState,
      total: Number(row.total),
      processed: Number(row.processed),
      failed: Number(row.failed),
      result: row.result === null ? undefined : jobRow.decodeOutput(row.result),
      error: row.error_code === null ? undefined : { code: row.error_code as ErrorCode, message: row.error_message ?? '' },
      callbackUrl: row.callback_url,
      schedule: row.schedule,
      owner: row.state === 'RUNNING' ? row.owner : '',
      createdMs: Number(row.created_ms),
      startedMs: row.started_ms === null ? undefined : Number(row.started_ms),
      finishedMs: row.finished_ms === null ? undefined : Number(row.finished_ms),
    };
  },

  toDelivery(row: DeliveryRow): Delivery {
    return { id: row.id, jobId: row.job_id, url: row.url, body: row.body, attempts: Number(row.attempts), dueMs: Number(row.due_ms), lastError: row.last_error };
  },
};
