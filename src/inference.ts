import { InferdError } from './inferd-error';
import type { ModelRepository } from './repository/model-repository';
import type { ModelVersion } from './repository/model-version';
import type { SubmitOptions } from './scheduler/dynamic-batcher';
import type { RequestScope } from './telemetry/request-scope';
import { decodeTensor } from './tensor/decode-tensor';
import { encodeTensor } from './tensor/encode-tensor';
import type { HostTensor, TensorSpec, WireTensor } from './tensor/tensor-types';

/** One prediction as the core takes it (the shape of inferd.v1.PredictRequest). */
export interface PredictInput {
  readonly modelName: string;
  readonly modelVersion: string;
  readonly inputs: Readonly<Record<string, WireTensor>>;
  readonly outputNames: readonly string[];
  readonly id: string;
}

/** Its answer (the shape of inferd.v1.PredictResponse). */
export interface PredictOutput {
  modelName: string;
  modelVersion: string;
  outputs: Record<string, WireTensor>;
  id: string;
}

/**
 * The transport-free core: validates a request against the model's metadata, queues it on the
 * model version's scheduler, and shapes the outputs. Adapters (gRPC today) call it.
 */
export class Inference {
  private accepting = true;

  constructor(private readonly repository: ModelRepository) {}

  /** From now on every request is refused with UNAVAILABLE (the server is draining). */
  stopAccepting(): void {
    this.accepting = false;
  }

  /**
   * The model version that serves a request. Throws UNAVAILABLE while the server drains, and
   * what ModelRepository.resolve throws for unknown or unready models.
   */
  resolve(modelName: string, modelVersion: string): ModelVersion {
    if (!this.accepting) throw new InferdError('UNAVAILABLE', 'server is shutting down');
    return this.repository.resolve(modelName, modelVersion);
  }

  /**
   * Queues validated feeds on a model version and settles with the outputs named (their buffers
   * belong to the caller). `signal` carries the caller's cancellation and deadline: while the
   * request is queued, its firing drops the work and rejects with the signal's reason.
   * `options.priority: 'background'` lets every real-time request go first.
   */
  run(model: ModelVersion, feeds: Record<string, HostTensor>, outputNames: readonly string[], signal: AbortSignal, options: SubmitOptions = {}): Promise<Record<string, HostTensor>> {
    return model.submit(feeds, outputNames, signal, options);
  }

  /**
   * Runs one inferd.v1 prediction: resolve, validate, run, encode. Rejects with an InferdError
   * for every fault a caller can cause (see DESIGN.md's error table). `scope` is told the model
   * version and times each step (see RequestScope).
   */
  async predict(request: PredictInput, signal: AbortSignal, scope: RequestScope): Promise<PredictOutput> {
    const model = this.resolve(request.modelName, request.modelVersion);
    scope.resolved(model.name, model.version);
    const { feeds, outputNames } = scope.step('decode', () => ({
      feeds: decodeInputs(model, request.inputs, decodeTensor),
      outputNames: selectOutputs(model, request.outputNames),
    }));
    const results = await this.run(model, feeds, outputNames, signal, { trace: scope.trace });
    const raw = Object.values(request.inputs).every((t) => t.rawData.length > 0);
    const outputs = scope.step('encode', () => {
      const encoded: Record<string, WireTensor> = {};
      for (const name of outputNames) encoded[name] = encodeTensor(results[name]!, raw);
      return encoded;
    });
    return { modelName: model.name, modelVersion: model.version, outputs, id: request.id };
  }
}

function names(specs: readonly TensorSpec[]): string {
  return specs.map((s) => `"${s.name}"`).join(', ');
}

/**
 * Checks that a request names every input the model declares and no other, and decodes each
 * with `decode` (one per wire format). Throws INVALID_ARGUMENT naming the input.
 */
export function decodeInputs<T>(model: ModelVersion, inputs: Readonly<Record<string, T>>, decode: (what: string, tensor: T, spec: TensorSpec) => HostTensor): Record<string, HostTensor> {
  const where = `model "${model.name}" version ${model.version}`;
  for (const name of Object.keys(inputs)) {
    if (!model.inputs.some((s) => s.name === name)) {
      throw new InferdError('INVALID_ARGUMENT', `unknown input "${name}": ${where} takes ${names(model.inputs)}`);
    }
  }
  const feeds: Record<string, HostTensor> = {};
  for (const spec of model.inputs) {
    const wire = inputs[spec.name];
    if (wire === undefined) throw new InferdError('INVALID_ARGUMENT', `missing input "${spec.name}": ${where} takes ${names(model.inputs)}`);
    feeds[spec.name] = decode(`input "${spec.name}"`, wire, spec);
  }
  return feeds;
}

/** The outputs to return: all of the model's when none are named; throws INVALID_ARGUMENT for an unknown name. */
export function selectOutputs(model: ModelVersion, wanted: readonly string[]): string[] {
  if (wanted.length === 0) return model.outputs.map((s) => s.name);
  for (const name of wanted) {
    if (!model.outputs.some((s) => s.name === name)) {
      throw new InferdError('INVALID_ARGUMENT', `unknown output "${name}": model "${model.name}" version ${model.version} has ${names(model.outputs)}`);
    }
  }
  return [...new Set(wanted)];
}
