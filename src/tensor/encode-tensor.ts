import { elementType, type NumericArray } from './element-types';
import { fromFloat16Bits } from './float16';
import type { HostTensor, WireTensor } from './tensor-types';

/**
 * Converts a runtime output to a wire tensor: its elements in raw_data (a view over the tensor's
 * own buffer, not a copy) when `raw` is true, in the typed field of its type otherwise. STRING
 * tensors always use string_data.
 */
export function encodeTensor(tensor: HostTensor, raw: boolean): WireTensor {
  const info = elementType(tensor.type);
  const wire = emptyWireTensor(info.wire, tensor.dims);
  const data = tensor.data;
  if (Array.isArray(data)) {
    wire.stringData = data.map((s) => Buffer.from(s, 'utf8'));
    return wire;
  }
  if (raw) {
    wire.rawData = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    return wire;
  }
  switch (info.typedField) {
    case 'floatData':
      wire.floatData = info.type === 'float16' ? Array.from(data as Uint16Array, fromFloat16Bits) : Array.from(data as Float32Array);
      break;
    case 'doubleData':
      wire.doubleData = Array.from(data as Float64Array);
      break;
    case 'int32Data':
      wire.int32Data = Array.from(data as Exclude<NumericArray, BigInt64Array | BigUint64Array>);
      break;
    case 'int64Data':
      wire.int64Data = info.type === 'uint32' ? Array.from(data as Uint32Array, BigInt) : Array.from(data as BigInt64Array);
      break;
    case 'uint64Data':
      wire.uint64Data = Array.from(data as BigUint64Array);
      break;
    case 'boolData':
      wire.boolData = Array.from(data as Uint8Array, (b) => b !== 0);
      break;
    case 'stringData':
      break;
  }
  return wire;
}

function emptyWireTensor(datatype: number, dims: readonly number[]): WireTensor {
  return {
    datatype,
    shape: dims.map(BigInt),
    rawData: new Uint8Array(0),
    floatData: [],
    doubleData: [],
    int32Data: [],
    int64Data: [],
    uint64Data: [],
    boolData: [],
    stringData: [],
  };
}
