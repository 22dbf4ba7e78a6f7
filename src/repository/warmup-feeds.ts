import type { ConfigProblem } from '../config-problems';
import { InferdError } from '../inferd-error';
import { checkShape, formatShape, type HostTensor, type TensorSpec, type WireTensor } from '../tensor/tensor-types';
import { decodeTensor, emptyWireTensor } from '../tensor/inferd-v1-codec';
import { elementType, type ElementTypeInfo } from '../tensor/element-types';
import { toFloat16Bits } from '../tensor/float16';
import type { WarmupInput, WarmupRequest } from './model-config';

/**
 * What one STRING element counts for against a warm-up input's bound: the size of the
 * std::string ONNX Runtime keeps for each (a JavaScript string in an array costs about as much).
 */
export const WARMUP_STRING_ELEMENT_BYTES = 32;

/**
 * The feeds of one warm-up run, checked like any request: a bad input throws INVALID_ARGUMENT
 * naming the input (a configured request is checked by warmupProblems first, which names its
 * field in the config file). Without a request, every input is zeros with each dimension of any
 * size taken as 1.
 *
 * An input larger than `maxInputBytes` (the most a request may carry: --max-message-bytes) throws
 * INVALID_ARGUMENT before anything is allocated: a config file's shape, or a model's declared
 * one, may be of any size.
 */
export function warmupFeeds(
  inputs: readonly TensorSpec[],
  request: WarmupRequest | undefined,
  options: { readonly maxInputBytes: number },
): Record<string, HostTensor> {
  const feeds: Record<string, HostTensor> = {};
  for (const name of Object.keys(request?.inputs ?? {})) {
    if (!inputs.some((s) => s.name === name))
      throw new InferdError('INVALID_ARGUMENT', `the model has no input "${name}"`);
  }
  for (const spec of inputs) {
    const given: WarmupInput | undefined = request?.inputs[spec.name];
    if (request !== undefined && given === undefined)
      throw new InferdError('INVALID_ARGUMENT', `missing input "${spec.name}"`);
    const input: WarmupInput = given ?? { shape: spec.dims.map((d) => (d < 0 ? 1 : d)), fill: { zero: true } };
    feeds[spec.name] = warmupTensor(`input "${spec.name}"`, spec, input, options.maxInputBytes);
  }
  return feeds;
}

/** A problem of a config file's field, before the file is named (see ConfigProblem). */
export type FieldProblem = Omit<ConfigProblem, 'file'>;

/**
 * Every problem of a configured warm-up request for a model whose inputs are `inputs`, each
 * naming the field under `field` (the request's place in the config file, e.g. `warmup[0]`):
 * what warmupFeeds would refuse, found at once before any run.
 */
export function warmupProblems(
  inputs: readonly TensorSpec[],
  request: WarmupRequest,
  field: string,
  options: { readonly maxInputBytes: number },
): FieldProblem[] {
  const problems: FieldProblem[] = [];
  const names = inputs.map((s) => `"${s.name}"`).join(', ');
  for (const name of Object.keys(request.inputs)) {
    if (!inputs.some((s) => s.name === name))
      problems.push({
        field: `${field}.inputs.${name}`,
        expected: `an input of the model (${names})`,
        got: 'an input it does not have',
      });
  }
  for (const spec of inputs) {
    const input = request.inputs[spec.name];
    const at = `${field}.inputs.${spec.name}`;
    if (input === undefined) {
      problems.push({
        field: `${field}.inputs`,
        expected: `every input of the model (${names})`,
        got: `no "${spec.name}"`,
      });
      continue;
    }
    const fits = input.shape.length === spec.dims.length && spec.dims.every((d, i) => d < 0 || d === input.shape[i]);
    if (!fits) {
      problems.push({
        field: `${at}.shape`,
        expected: `a shape the model's ${formatShape(spec.dims)} takes`,
        got: formatShape(input.shape),
      });
      continue;
    }
    const info = elementType(spec.type);
    const bytes =
      input.shape.reduce((a, b) => a * b, 1) * (info.type === 'string' ? WARMUP_STRING_ELEMENT_BYTES : info.bytes);
    if (bytes > options.maxInputBytes) {
      problems.push({
        field: `${at}.shape`,
        expected: `at most ${options.maxInputBytes} bytes of input (--max-message-bytes)`,
        got: `${formatShape(input.shape)} of ${info.label}, ${bytes} bytes`,
      });
      continue;
    }
    if (!('values' in input.fill) || info.typedField === 'stringData' || info.typedField === 'boolData') continue;
    const range = info.range;
    input.fill.values.forEach((v, i) => {
      const n = Number(v);
      if (!Number.isFinite(n))
        problems.push({ field: `${at}.values[${i}]`, expected: `a number for ${info.label}`, got: JSON.stringify(v) });
      else if (range !== undefined && (Math.round(n) < range[0] || Math.round(n) > range[1])) {
        problems.push({
          field: `${at}.values[${i}]`,
          expected: `a number from ${range[0]} to ${range[1]} for ${info.label}`,
          got: JSON.stringify(v),
        });
      }
    });
  }
  return problems;
}

function warmupTensor(what: string, spec: TensorSpec, input: WarmupInput, maxBytes: number): HostTensor {
  const info = elementType(spec.type);
  const dims = checkShape(what, input.shape.map(BigInt), spec.dims);
  const count = dims.reduce((a, b) => a * b, 1);
  const bytes = count * (info.type === 'string' ? WARMUP_STRING_ELEMENT_BYTES : info.bytes);
  if (bytes > maxBytes) {
    throw new InferdError(
      'INVALID_ARGUMENT',
      `${what}: shape ${formatShape(dims)} of ${info.label} takes ${bytes} bytes, expected at most ${maxBytes} (--max-message-bytes)`,
    );
  }
  // Values come from the config file (whose size is bounded): checked as a request's would be.
  if ('values' in input.fill) return decodeTensor(what, valuesTensor(what, info, input.shape, input.fill.values), spec);
  return filled(info, dims, count, 'random' in input.fill);
}

/** Zeros (empty strings), or random values in a small range that fits the type. */
function filled(info: ElementTypeInfo, dims: readonly number[], count: number, random: boolean): HostTensor {
  if (info.type === 'string')
    return { type: info.type, dims, data: Array.from({ length: count }, () => (random ? String(Math.random()) : '')) };
  const data = info.allocate(count);
  if (!random) return { type: info.type, dims, data };
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) {
    for (let i = 0; i < count; i++) data[i] = BigInt(Math.round(Math.random() * 100));
  } else {
    const value =
      info.type === 'float16'
        ? (): number => toFloat16Bits(Math.random())
        : info.type === 'float32' || info.type === 'float64'
          ? Math.random
          : info.type === 'bool'
            ? (): number => (Math.random() >= 0.5 ? 1 : 0)
            : (): number => Math.round(Math.random() * Math.min(info.range?.[1] ?? 100, 100));
    for (let i = 0; i < count; i++) data[i] = value();
  }
  return { type: info.type, dims, data };
}

/** The config's values in the type's typed field of a wire tensor. */
function valuesTensor(
  what: string,
  info: ElementTypeInfo,
  shape: readonly number[],
  values: readonly (number | string | boolean)[],
): WireTensor {
  const wire = emptyWireTensor(info.wire, shape);
  values.forEach((v, i) => {
    if (info.typedField !== 'stringData' && !Number.isFinite(Number(v))) {
      throw new InferdError(
        'INVALID_ARGUMENT',
        `${what}: value ${i} is ${JSON.stringify(v)}, expected a number for ${info.label}`,
      );
    }
    switch (info.typedField) {
      case 'stringData':
        wire.stringData.push(Buffer.from(String(v)));
        break;
      case 'boolData':
        wire.boolData.push(typeof v === 'boolean' ? v : Number(v) >= 0.5);
        break;
      case 'int64Data':
        wire.int64Data.push(BigInt(Math.round(Number(v))));
        break;
      case 'uint64Data':
        wire.uint64Data.push(BigInt(Math.round(Math.abs(Number(v)))));
        break;
      case 'int32Data':
        wire.int32Data.push(Math.round(Number(v)));
        break;
      default:
        wire[info.typedField].push(Number(v));
    }
  });
  return wire;
}
