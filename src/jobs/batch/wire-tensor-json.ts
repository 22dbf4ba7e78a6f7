import type { WireTensor } from '../../tensor/tensor-types';

/** A WireTensor as plain JSON: bytes in base64, 64-bit integers as decimal strings, non-finite floats as strings. */
export type WireTensorJson = Record<string, unknown>;

const num = (v: number): number | string => (Number.isFinite(v) ? v : String(v));
const unnum = (v: unknown): number => (typeof v === 'string' ? Number(v) : (v as number));
const b64 = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64');
const unb64 = (s: unknown): Uint8Array => new Uint8Array(Buffer.from(s as string, 'base64'));

/**
 * Converts wire tensors to and from JSON for the job store, exactly: every element and byte
 * comes back as it was (NaN and infinities included, INT64 and UINT64 without a trip through a
 * JavaScript number). Empty fields are left out.
 */
export const wireTensorJson = {
  encode(t: WireTensor): WireTensorJson {
    const json: WireTensorJson = { datatype: t.datatype, shape: t.shape.map(String) };
    if (t.rawData.length > 0) json['rawData'] = b64(t.rawData);
    if (t.floatData.length > 0) json['floatData'] = t.floatData.map(num);
    if (t.doubleData.length > 0) json['doubleData'] = t.doubleData.map(num);
    if (t.int32Data.length > 0) json['int32Data'] = t.int32Data;
    if (t.int64Data.length > 0) json['int64Data'] = t.int64Data.map(String);
    if (t.uint64Data.length > 0) json['uint64Data'] = t.uint64Data.map(String);
    if (t.boolData.length > 0) json['boolData'] = t.boolData;
    if (t.stringData.length > 0) json['stringData'] = t.stringData.map(b64);
    return json;
  },

  decode(json: WireTensorJson): WireTensor {
    const list = (key: string): unknown[] => (json[key] as unknown[] | undefined) ?? [];
    return {
      datatype: json['datatype'] as number,
      shape: list('shape').map((d) => BigInt(d as string)),
      rawData: json['rawData'] === undefined ? new Uint8Array(0) : unb64(json['rawData']),
      floatData: list('floatData').map(unnum),
      doubleData: list('doubleData').map(unnum),
      int32Data: list('int32Data') as number[],
      int64Data: list('int64Data').map((v) => BigInt(v as string)),
      uint64Data: list('uint64Data').map((v) => BigInt(v as string)),
      boolData: list('boolData') as boolean[],
      stringData: list('stringData').map(unb64),
    };
  },

  encodeMap(tensors: Readonly<Record<string, WireTensor>>): Record<string, WireTensorJson> {
    return Object.fromEntries(Object.entries(tensors).map(([name, t]) => [name, wireTensorJson.encode(t)]));
  },

  decodeMap(json: Readonly<Record<string, WireTensorJson>>): Record<string, WireTensor> {
    return Object.fromEntries(Object.entries(json).map(([name, t]) => [name, wireTensorJson.decode(t)]));
  },
};
