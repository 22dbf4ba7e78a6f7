import { InferdError } from './inferd-error';
import type { ModelRepository } from './repository/model-repository';
import type { ModelVersion } from './repository/model-version';
import type { CancelSignal } from './scheduler/cancel-signal';
import type { Priority, SubmitOptions } from './scheduler/dynamic-batcher';
import { timeoutSignal } from './scheduler/timeout-signal';
import type { RequestScope } from './telemetry/request-scope';
import { Telemetry } from './telemetry/telemetry';
import { elementType } from './tensor/element-types';
import { checkShape, formatShape, type HostTensor, type TensorSpec, type WireTensor } from './tensor/tensor-types';

/**
 * A tensor a front end has not decoded yet, because decoding needs what the model declares for
 * it (a wire format may leave the element type to the model, and its messages name its own
 * fields). The core calls `decode` once the model version is known.
 */
export interface PendingTensor {
  /**
   * Checks the tensor against `spec` and converts it; `what` names it in messages (`input "x"`).
   * Throws INVALID_ARGUMENT naming the tensor, what was expected and what came. The result's
   * buffer is new and belongs to the core.
   */
  decode(what: string, spec: TensorSpec): HostTensor;
}

/**
 * One input as a front end hands it to the core: a host tensor, checked against the model's
 * declaration (its buffer passes to the core, which may transfer it to a worker thread), or one
 * still to decode.
 */
export type InferInput = HostTensor | PendingTensor;

/** How long a request may wait for the model before it is dropped, besides the caller's signal. */
export interface InferDeadline {
  /** Milliseconds from the call to infer(). */
  readonly timeoutMs: number;
  /** What set it, as the DEADLINE_EXCEEDED message names it, e.g. `the timeout parameter (50000 µs)`. */
  readonly source: string;
}

/** One inference as every front end hands it to the core. */
export interface InferRequest {
  readonly modelName: string;
  /** The version to run; "" or undefined: the newest ready one. */
  readonly modelVersion?: string;
  /** Every input the model declares, by name, and no other. */
  readonly inputs: Readonly<Record<string, InferInput>>;
  /** The outputs to return, in this order (a name given twice is returned once); undefined or []: all the model's, in its order. */
  readonly outputNames?: readonly string[];
  /** 'background' (jobs) waits behind every real-time request of the model; default 'realtime'. */
  readonly priority?: Priority;
  readonly deadline?: InferDeadline;
}

/** One output of a result. */
export interface InferOutput {
  readonly name: string;
  /** Its buffer belongs to the caller. */
  readonly tensor: HostTensor;
}

/** The answer to an InferRequest. */
export interface InferResult {
  /** The model version that ran it. */
  readonly modelName: string;
  readonly modelVersion: string;
  /** In the order the request asked for them. */
  readonly outputs: readonly InferOutput[];
}

/** One prediction in inferd.v1's shape (the job domain stores asynchronous predictions so). */
export interface PredictInput {
  readonly modelName: string;
  readonly modelVersion: string;
  readonly inputs: Readonly<Record<string, WireTensor>>;
  readonly outputNames: readonly string[];
  readonly id: string;
}

/** Its answer in inferd.v1's shape. */
export interface PredictOutput {
  modelName: string;
  modelVersion: string;
  outputs: Record<string, WireTensor>;
  id: string;
}

/** What a model version takes and returns, as every front end's metadata call describes it. */
export interface ModelMetadata {
  readonly name: string;
  /** The version described: the one asked for, or the newest ready one. */
  readonly version: string;
  /** Every version of the model that is ready, in the repository's order. */
  readonly readyVersions: readonly string[];
  readonly inputs: readonly TensorSpec[];
  readonly outputs: readonly TensorSpec[];
}

export interface InferenceOptions {
  /** Request metrics and spans of the front ends that have no call of their own (jobs); default: metrics only, kept here. */
  readonly telemetry?: Telemetry;
}

/**
 * The protocol-neutral core. Every front end (inferd.v1 and the Open Inference Protocol over
 * gRPC, jobs) decodes its wire format into an InferRequest, calls infer(), and encodes the
 * InferResult; metadata() describes a model the same way for all of them.
 */
export class Inference {
  private accepting = true;
  /** Where the front ends without a call of their own open their request scopes (Telemetry.startJob). */
  readonly telemetry: Telemetry;

  constructor(
    private readonly repository: ModelRepository,
    options: InferenceOptions = {},
  ) {
    this.telemetry = options.telemetry ?? new Telemetry();
  }

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

  /** Describes the model version that would serve (name, version); throws as ModelRepository.resolve does, draining or not. */
  metadata(modelName: string, modelVersion: string): ModelMetadata {
    const model = this.repository.resolve(modelName, modelVersion);
    return {
      name: model.name,
      version: model.version,
      readyVersions: this.readyVersions(model.name),
      inputs: model.inputs,
      outputs: model.outputs,
    };
  }

  /** The versions of a model that are ready ([] for an unknown model). */
  readyVersions(modelName: string): string[] {
    return (this.repository.versions(modelName) ?? []).filter((v) => v.state === 'READY').map((v) => v.version);
  }

  /**
   * The one pipeline every front end calls: resolves the model version, checks and decodes the
   * inputs against its declaration (step "decode"), selects the outputs, queues the feeds on the
   * version's scheduler and settles with the outputs asked for. `signal` carries the caller's
   * cancellation and deadline: while the request waits, its firing drops the work and rejects
   * with the signal's reason; `request.deadline` does the same with DEADLINE_EXCEEDED. `scope`
   * is told the model version and times each step; the caller finishes it with the outcome.
   * Rejects with an InferdError for every fault a caller can cause: UNAVAILABLE while the server
   * drains, what ModelRepository.resolve throws for unknown or unready models, INVALID_ARGUMENT
   * for inputs or outputs that do not fit the model, and what the scheduler rejects with.
   */
  infer(request: InferRequest, signal: CancelSignal, scope: RequestScope): Promise<InferResult> {
    // then() rather than async/await: no async frame to suspend and resume on the path every request takes.
    try {
      const model = this.resolve(request.modelName, request.modelVersion ?? '');
      scope.resolved(model.name, model.version);
      const { feeds, outputNames } = scope.step('decode', () => ({
        feeds: decodeInputs(model, request.inputs, hostTensor),
        outputNames: selectOutputs(model, request.outputNames ?? []),
      }));
      const options: SubmitOptions = { priority: request.priority ?? 'realtime', trace: scope.trace };
      const answer = (results: Record<string, HostTensor>): InferResult => ({
        modelName: model.name,
        modelVersion: model.version,
        outputs: outputNames.map((name) => ({ name, tensor: results[name]! })),
      });
      const { deadline } = request;
      if (deadline === undefined) return model.submit(feeds, outputNames, signal, options).then(answer);
      const expired = (): InferdError =>
        new InferdError(
          'DEADLINE_EXCEEDED',
          `Request timeout expired: ${deadline.source} passed while the request waited in the queue of model "${model.name}" version ${model.version}`,
        );
      const bounded = timeoutSignal(signal, deadline.timeoutMs, expired);
      let submitted: Promise<Record<string, HostTensor>>;
      try {
        submitted = model.submit(feeds, outputNames, bounded.signal, options);
      } catch (err) {
        bounded.dispose();
        throw err;
      }
      return submitted.then(
        (results) => {
          bounded.dispose();
          return answer(results);
        },
        (err: unknown) => {
          bounded.dispose();
          throw err;
        },
      );
    } catch (err) {
      return Promise.reject(err);
    }
  }
}

function names(specs: readonly TensorSpec[]): string {
  return specs.map((s) => `"${s.name}"`).join(', ');
}

/**
 * Checks that a request names every input the model declares and no other, and decodes each
 * with `decode` (one per wire format). Throws INVALID_ARGUMENT naming the input.
 */
export function decodeInputs<T>(
  model: ModelVersion,
  inputs: Readonly<Record<string, T>>,
  decode: (what: string, tensor: T, spec: TensorSpec) => HostTensor,
): Record<string, HostTensor> {
  const where = `model "${model.name}" version ${model.version}`;
  for (const name of Object.keys(inputs)) {
    if (!model.inputs.some((s) => s.name === name)) {
      throw new InferdError('INVALID_ARGUMENT', `unknown input "${name}": ${where} takes ${names(model.inputs)}`);
    }
  }
  const feeds: Record<string, HostTensor> = {};
  for (const spec of model.inputs) {
    const wire = inputs[spec.name];
    if (wire === undefined)
      throw new InferdError('INVALID_ARGUMENT', `missing input "${spec.name}": ${where} takes ${names(model.inputs)}`);
    feeds[spec.name] = decode(`input "${spec.name}"`, wire, spec);
  }
  return feeds;
}

/** The outputs to return: all of the model's when none are named; throws INVALID_ARGUMENT for an unknown name. */
export function selectOutputs(model: ModelVersion, wanted: readonly string[]): string[] {
  if (wanted.length === 0) return model.outputs.map((s) => s.name);
  for (const name of wanted) {
    if (!model.outputs.some((s) => s.name === name)) {
      throw new InferdError(
        'INVALID_ARGUMENT',
        `unknown output "${name}": model "${model.name}" version ${model.version} has ${names(model.outputs)}`,
      );
    }
  }
  return [...new Set(wanted)];
}

/**
 * An input as the runtime takes it: a pending tensor decoded against `spec`, or a host tensor
 * checked against it (element type, shape, element count). Throws INVALID_ARGUMENT naming it.
 */
function hostTensor(what: string, input: InferInput, spec: TensorSpec): HostTensor {
  if ('decode' in input) return input.decode(what, spec);
  const declared = elementType(spec.type);
  if (input.type !== spec.type) {
    throw new InferdError(
      'INVALID_ARGUMENT',
      `${what}: expected datatype ${declared.label}, got ${elementType(input.type).label}`,
    );
  }
  const dims = checkShape(what, input.dims, spec.dims);
  const count = dims.reduce((a, b) => a * b, 1);
  if (input.data.length !== count) {
    throw new InferdError(
      'INVALID_ARGUMENT',
      `${what}: shape ${formatShape(dims)} needs ${count} elements, got ${input.data.length}`,
    );
  }
  return input;
}
