import { InferdError } from '../inferd-error';
import { decodeTensor } from '../tensor/decode-tensor';
import { elementType } from '../tensor/element-types';
import type { HostTensor, TensorSpec, WireTensor } from '../tensor/tensor-types';
import type { WarmupInput, WarmupRequest } from './model-config';

/**
 * The feeds of one warm-up run, checked like any request (a bad warm-up input throws
 * INVALID_ARGUMENT naming the input; the caller names the warm-up). Without a request, every input is zeros with each dimension of
 * any size taken as 1.
 */
export function warmupFeeds(inputs: readonly TensorSpec[], request: WarmupRequest | undefined): Record<string, HostTensor> {
  const feeds: Record<string, HostTensor> = {};
  for (const name of Object.keys(request?.inputs ?? {})) {
    if (!inputs.some((s) => s.name === name)) throw new InferdError('INVALID_ARGUMENT', `the model has no input "${name}"`);
  }
  for (const spec of inputs) {
    const given: WarmupInput | undefined = request?.inputs[spec.name];
    if (request !== undefined && given === undefined) throw new InferdError('INVALID_ARGUMENT', `missing input "${spec.name}"`);
    const input: WarmupInput = given ?? { shape: spec.dims.map((d) => (d < 0 ? 1 : d)), fill: { zero: true } };
    feeds[spec.name] = decodeTensor(`input "${spec.name}"`, wireTensor(spec, input), spec);
  }
  return feeds;
}

function wireTensor(spec: TensorSpec, input: WarmupInput): WireTensor {
  const info = elementType(spec.type);
  const count = input.shape.reduce((a, b) => a * b, 1);
  const pick = (i: number): number | string | boolean => {
    if ('values' in input.fill) return input.fill.values[i]!;
    if ('zero' in input.fill) return 0;
    return Math.random();
  };
  const wire: WireTensor = {
    datatype: info.wire, shape: input.shape.map(BigInt), rawData: new Uint8Array(0),
    floatData: [], doubleData: [], int32Data: [], int64Data: [], uint64Data: [], boolData: [], stringData: [],
  };
  for (let i = 0; i < count; i++) {
    const v = pick(i);
    switch (info.typedField) {
      case 'stringData':
        wire.stringData.push(Buffer.from(String(v === 0 ? '' : v)));
        break;
      case 'boolData':
        wire.boolData.push(typeof v === 'boolean' ? v : Number(v) >= 0.5);
        break;
      case 'int64Data':
        wire.int64Data.push(BigInt(Math.round(scaled(info.range, v))));
        break;
      case 'uint64Data':
        wire.uint64Data.push(BigInt(Math.round(Math.abs(scaled(undefined, v)))));
        break;
      case 'int32Data':
        wire.int32Data.push(Math.round(scaled(info.range, v)));
        break;
      default:
        wire[info.typedField].push(Number(v));
    }
  }
  return wire;
}

/** A number for an integer field: random values in [0,1) are spread over a small range that fits the type. */
function scaled(range: readonly [number, number] | undefined, v: number | string | boolean): number {
  const n = Number(v);
  if (Number.isInteger(n)) return n;
  const hi = Math.min(range?.[1] ?? 100, 100);
  return n * hi;
}
