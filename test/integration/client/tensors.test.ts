import { expect } from 'chai';
import { PredictResponse } from '../../../generated/inferd/v1/prediction_service';
import { Tensor } from '../../../generated/inferd/v1/tensor';
import { InferdClient, float16ToFloat32, float32ToFloat16, type Inputs, type OutputTensor } from '../../../src/client';
import { decodePredictResponse } from '../../../src/client/decode-predict-response';
import { tinyMlpModel, tinyMlpReference } from '../../../src/example-models/example-models';
import { toFloat16Bits } from '../../../src/tensor/float16';
import { ELEMENT_TYPES, identitiesModel } from '../../support/test-models';
import { startServerAndClient, type ServerAndClient } from '../../support/server-and-client';
import { clientFailure } from '../../support/failure';

/** FLOAT16 bit patterns: 1, -2, the smallest subnormal, the largest finite, -0, +∞, NaN. */
const HALF_BITS = Uint16Array.of(0x3c00, 0xc000, 0x0001, 0x7bff, 0x8000, 0x7c00, 0x7e00);

/** One value list per datatype, at its edges: what every round trip must give back exactly. */
const VALUES = {
  FLOAT32: Float32Array.of(1.5, -0, 3.4028234663852886e38, 1.401298464324817e-45, -Infinity),
  FLOAT64: Float64Array.of(Math.PI, -1.7976931348623157e308, 5e-324),
  FLOAT16: HALF_BITS,
  INT8: Int8Array.of(-128, 127, 0),
  INT16: Int16Array.of(-32768, 32767, 1),
  INT32: Int32Array.of(-(2 ** 31), 2 ** 31 - 1, -1),
  INT64: BigInt64Array.of(-(2n ** 63n), 2n ** 63n - 1n, 2n ** 53n + 1n, -(2n ** 53n) - 3n),
  UINT8: Uint8Array.of(0, 255, 7),
  UINT16: Uint16Array.of(0, 65535),
  UINT32: Uint32Array.of(0, 2 ** 32 - 1, 2 ** 31),
  UINT64: BigUint64Array.of(0n, 2n ** 64n - 1n, 2n ** 53n + 1n),
  BOOL: [true, false, false, true],
  STRING: ['', 'héllo', '日本語', 'a\u{1F600}b', 'x'.repeat(300)],
} as const;

const NUMERIC = ELEMENT_TYPES.filter(([, name]) => name !== 'STRING');

function inputsOf(types: readonly (typeof ELEMENT_TYPES)[number][]): Inputs {
  return Object.fromEntries(
    types.map(([, name]) => [
      `x_${name.toLowerCase()}`,
      {
        data: VALUES[name],
        shape: [VALUES[name].length],
        ...(name === 'FLOAT16' ? { datatype: 'FLOAT16' as const } : {}),
      },
    ]),
  );
}

/** Every output as plain data, for one deep comparison: datatype, shape and elements. */
function plain(outputs: Record<string, OutputTensor>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(outputs).map(([name, t]) => [
      name,
      {
        datatype: t.datatype,
        shape: t.shape,
        data: Array.isArray(t.data) ? t.data : Array.from(t.data as ArrayLike<unknown>),
      },
    ]),
  );
}

function expected(types: readonly (typeof ELEMENT_TYPES)[number][]): Record<string, unknown> {
  return Object.fromEntries(
    types.map(([, name]) => [
      `y_${name.toLowerCase()}`,
      { datatype: name, shape: [VALUES[name].length], data: Array.from(VALUES[name] as ArrayLike<unknown>) },
    ]),
  );
}

describe('inferd/client tensors', function () {
  this.timeout(60_000);
  let t: ServerAndClient<InferdClient>;

  before(
    async () =>
      (t = await startServerAndClient(
        { numeric: identitiesModel(NUMERIC), every_type: identitiesModel(ELEMENT_TYPES), tiny_mlp: tinyMlpModel() },
        (address) => new InferdClient(address),
      )),
  );
  after(() => t?.close());

  it('round-trips every numeric datatype as raw bytes, each output the typed array of its type with the exact values (INT64 and UINT64 beyond 2^53, FLOAT16 bit patterns)', async () => {
    const r = await t.client.predict('numeric', inputsOf(NUMERIC));
    expect(r.modelName).to.equal('numeric');
    expect(r.modelVersion).to.equal('1');
    expect(plain(r.outputs)).to.deep.equal(expected(NUMERIC));
    const classes = Object.fromEntries(
      Object.entries(r.outputs).map(([name, o]) => [name, Array.isArray(o.data) ? 'Array' : o.data.constructor.name]),
    );
    expect(classes).to.deep.equal({
      y_float32: 'Float32Array',
      y_float64: 'Float64Array',
      y_float16: 'Uint16Array',
      y_int8: 'Int8Array',
      y_int16: 'Int16Array',
      y_int32: 'Int32Array',
      y_int64: 'BigInt64Array',
      y_uint8: 'Uint8Array',
      y_uint16: 'Uint16Array',
      y_uint32: 'Uint32Array',
      y_uint64: 'BigUint64Array',
      y_bool: 'Array',
    });
  });

  it('round-trips STRING elements beside every other datatype; the server then answers in typed fields, decoded to the same typed arrays', async () => {
    const r = await t.client.predict('every_type', inputsOf(ELEMENT_TYPES));
    expect(plain(r.outputs)).to.deep.equal(expected(ELEMENT_TYPES));
    expect((r.outputs['y_int64']!.data as BigInt64Array)[2]).to.equal(2n ** 53n + 1n);
  });

  it('takes number[] with a datatype, bigint[] as INT64, boolean[] as BOOL, and a Float32Array rounded to FLOAT16 when asked', async () => {
    const r = await t.client.predict('numeric', {
      ...inputsOf(NUMERIC),
      x_int64: { data: [-3, 2 ** 53], shape: [2], datatype: 'INT64' },
      x_uint64: { data: [2n ** 64n - 2n], shape: [1], datatype: 'UINT64' },
      x_int32: { data: [7n, -7n], shape: [2], datatype: 'INT32' },
      x_float16: { data: Float32Array.of(1, 0.1, 65519, 1e-8), shape: [4], datatype: 'FLOAT16' },
      x_float32: { data: [0.1, 2], shape: [2], datatype: 'FLOAT32' },
      x_bool: { data: [false, true], shape: [2] },
    });
    expect(Array.from(r.outputs['y_int64']!.data as BigInt64Array)).to.deep.equal([-3n, 2n ** 53n]);
    expect(Array.from(r.outputs['y_uint64']!.data as BigUint64Array)).to.deep.equal([2n ** 64n - 2n]);
    expect(Array.from(r.outputs['y_int32']!.data as Int32Array)).to.deep.equal([7, -7]);
    const half = r.outputs['y_float16']!.data as Uint16Array;
    expect(Array.from(half)).to.deep.equal([1, 0.1, 65519, 1e-8].map(toFloat16Bits));
    expect(Array.from(float16ToFloat32(half))).to.deep.equal([1, 0.0999755859375, 65504, 0]);
    expect(Array.from(float32ToFloat16([1, -2]))).to.deep.equal([0x3c00, 0xc000]);
    expect(Array.from(r.outputs['y_float32']!.data as Float32Array)).to.deep.equal([Math.fround(0.1), 2]);
    expect(r.outputs['y_bool']!.data).to.deep.equal([false, true]);
  });

  it('computes tiny_mlp exactly: the README call', async () => {
    const res = await t.client.predict(
      'tiny_mlp',
      { x: { data: new Float32Array([1, 2, 3, 4]), shape: [1, 4] } },
      { version: '', outputs: ['y'], deadlineMs: 5_000, id: 'readme' },
    );
    expect(res.id).to.equal('readme');
    expect(res.outputs['y']!.datatype).to.equal('FLOAT32');
    expect(res.outputs['y']!.shape).to.deep.equal([1, 3]);
    expect(Array.from(res.outputs['y']!.data as Float32Array)).to.deep.equal(tinyMlpReference([1, 2, 3, 4]));
  });

  it('refuses, before sending anything, an input whose data and shape disagree or whose values do not fit its datatype, naming the input', async () => {
    const cases: [Inputs, string][] = [
      [{ x: { data: new Float32Array(3), shape: [1, 4] } }, 'input "x": shape [1,4] holds 4 elements, data has 3'],
      [
        { x: { data: new Float32Array(4), shape: [1, -4] } },
        'input "x": shape must be a list of whole numbers ≥ 0, got [1,-4]',
      ],
      [
        { x: { data: new Float32Array(2), shape: [2], datatype: 'INT32' } },
        'input "x": a Float32Array is sent as FLOAT32 or FLOAT16, not INT32',
      ],
      [{ x: { data: [1, 2], shape: [2] } }, 'input "x": an array of numbers needs a datatype'],
      [{ x: { data: [1, 2.5], shape: [2], datatype: 'INT32' } }, 'input "x": element 1 (2.5) does not fit INT32'],
      [{ x: { data: [300], shape: [1], datatype: 'UINT8' } }, 'input "x": element 0 (300) does not fit UINT8'],
      [{ x: { data: [2n ** 63n], shape: [1] } }, 'input "x": element 0 (9223372036854775808n) does not fit INT64'],
      [
        { x: { data: ['a', 2 as unknown as string], shape: [2] } },
        'input "x": STRING element 1 is a number, not a string',
      ],
    ];
    // No server listens here: anything sent would fail UNAVAILABLE instead.
    const nowhere = new InferdClient('127.0.0.1:1', { retries: 0 });
    try {
      for (const [inputs, message] of cases) {
        const err = await clientFailure(nowhere.predict('tiny_mlp', inputs));
        expect([err.code, err.message, err.retryable]).to.deep.equal(['INVALID_ARGUMENT', message, false]);
      }
    } finally {
      nowhere.close();
    }
  });

  it('decodes raw outputs as views over the received bytes where they are aligned, and as copies where they are not', () => {
    const y = Float32Array.of(1.5, -2, 3);
    const message = PredictResponse.encode({
      modelName: 'm',
      modelVersion: '1',
      id: '',
      outputs: { y: Tensor.fromPartial({ datatype: 1, shape: [1n, 3n], rawData: new Uint8Array(y.buffer) }) },
    }).finish();
    const views: boolean[] = [];
    for (let shift = 0; shift < 4; shift++) {
      const buf = Buffer.alloc(message.length + shift + 8);
      buf.set(message, shift);
      const out = decodePredictResponse(buf.subarray(shift, shift + message.length)).outputs['y']!;
      expect(Array.from(out.data as Float32Array)).to.deep.equal([1.5, -2, 3]);
      views.push((out.data as Float32Array).buffer === buf.buffer);
    }
    // Exactly one of four shifts puts the bytes on a multiple of 4.
    expect(views.filter((v) => v)).to.have.length(1);
  });
});
