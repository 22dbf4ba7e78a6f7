import { expect } from 'chai';
import { PredictRequest } from '../../../generated/inferd/v1/prediction_service';
import { decodeTensor, encodeTensor } from '../../../src/tensor/inferd-v1-codec';
import type { TensorSpec, WireTensor } from '../../../src/tensor/tensor-types';
import { failure } from '../../support/failure';
import { rawDataAt } from '../../support/raw-data-at';

function wire(fields: Partial<WireTensor>): WireTensor {
  return {
    datatype: 0,
    shape: [],
    rawData: new Uint8Array(0),
    floatData: [],
    doubleData: [],
    int32Data: [],
    int64Data: [],
    uint64Data: [],
    boolData: [],
    stringData: [],
    ...fields,
  };
}

/**
 * Input "x" of a PredictRequest as a server decodes it: the message is encoded, laid into a
 * larger buffer (as a transport frames it) so that its raw_data begins `at` bytes into that
 * buffer modulo 8, and decoded from there. Returns the wire tensor, whose raw_data is a view
 * over the frame, and the frame's buffer.
 */
function received(tensor: Partial<WireTensor>, at: number): { wire: WireTensor; frame: ArrayBuffer } {
  const request: PredictRequest = {
    modelName: 'm',
    modelVersion: '',
    inputs: { x: wire(tensor) },
    outputNames: [],
    id: '',
  };
  const bytes = PredictRequest.encode(request).finish();
  const rawAt = rawDataAt(request, 'x');
  const start = (((at - rawAt) % 8) + 8) % 8;
  const frame = new Uint8Array(start + bytes.length + 8);
  frame.set(bytes, start);
  const decoded = PredictRequest.decode(frame.subarray(start, start + bytes.length)).inputs['x']!;
  expect(decoded.rawData.byteOffset % 8).to.equal(at);
  return { wire: decoded, frame: frame.buffer };
}

const f32Bytes = (...values: number[]): Uint8Array => new Uint8Array(Float32Array.from(values).buffer);

describe('decodeTensor', () => {
  const f32: TensorSpec = { name: 'x', type: 'float32', dims: [-1, 2] };

  it("reads raw_data aligned for its type in place: a view over the message's own bytes, not a copy", () => {
    const { wire: sent, frame } = received({ shape: [1n, 2n], rawData: f32Bytes(1.5, -2) }, 4);
    const data = decodeTensor('input "x"', sent, f32).data as Float32Array;
    expect(data).to.be.instanceOf(Float32Array);
    expect(data.buffer).to.equal(frame);
    expect(data.byteOffset).to.equal(sent.rawData.byteOffset);
    expect(Array.from(data)).to.deep.equal([1.5, -2]);
  });

  it('copies raw_data that is not aligned for its type into a buffer of its own, exactly', () => {
    const values = [1.5, -2, 3.4028234663852886e38, -1.401298464324817e-45];
    for (const at of [1, 2, 3]) {
      const { wire: sent, frame } = received({ shape: [2n, 2n], rawData: f32Bytes(...values) }, at);
      const data = decodeTensor('input "x"', sent, f32).data as Float32Array;
      expect(data.buffer).to.not.equal(frame);
      expect([data.byteOffset, data.buffer.byteLength]).to.deep.equal([0, 16]);
      expect(Array.from(data)).to.deep.equal(values);
    }
  });

  it('copies raw_data that is all of its buffer, which a hand-over to a worker would take from whoever holds it', () => {
    const rawData = f32Bytes(1.5, -2);
    const data = decodeTensor('input "x"', wire({ shape: [1n, 2n], rawData }), f32).data as Float32Array;
    expect(data.buffer).to.not.equal(rawData.buffer);
    expect(Array.from(data)).to.deep.equal([1.5, -2]);
  });

  it('reads FLOAT16 bits in place at an even offset, and 64-bit integers only at a multiple of 8', () => {
    const half = received({ shape: [2n], rawData: new Uint8Array(Uint16Array.of(0x3c00, 0xfbff).buffer) }, 2);
    const bits = decodeTensor('input "h"', half.wire, { name: 'h', type: 'float16', dims: [-1] }).data as Uint16Array;
    expect(bits).to.be.instanceOf(Uint16Array);
    expect(bits.buffer).to.equal(half.frame);
    expect(Array.from(bits)).to.deep.equal([0x3c00, 0xfbff]);

    const values = [-(2n ** 63n), 2n ** 53n + 1n];
    const i64: TensorSpec = { name: 'i', type: 'int64', dims: [-1] };
    const rawData = new Uint8Array(BigInt64Array.from(values).buffer);
    for (const [at, inPlace] of [
      [0, true],
      [4, false],
    ] as const) {
      const sent = received({ shape: [2n], rawData }, at);
      const data = decodeTensor('input "i"', sent.wire, i64).data as BigInt64Array;
      expect(data.buffer === sent.frame).to.equal(inPlace);
      expect(Array.from(data)).to.deep.equal(values);
    }
  });

  it('treats an unspecified datatype as the declared one', () => {
    expect(decodeTensor('input "x"', wire({ shape: [1n, 2n], floatData: [1, 2] }), f32).type).to.equal('float32');
  });

  it("normalises raw BOOL bytes to 0 and 1 in a copy, leaving the message's bytes as they came", () => {
    const { wire: sent, frame } = received({ shape: [3n], rawData: Uint8Array.of(0, 7, 255) }, 0);
    const t = decodeTensor('input "b"', sent, { name: 'b', type: 'bool', dims: [-1] });
    expect(Array.from(t.data as Uint8Array)).to.deep.equal([0, 1, 1]);
    expect((t.data as Uint8Array).buffer).to.not.equal(frame);
    expect(Array.from(sent.rawData)).to.deep.equal([0, 7, 255]);
  });

  it('reads UINT32 from int64_data and refuses values beyond 32 bits', () => {
    const spec: TensorSpec = { name: 'u', type: 'uint32', dims: [-1] };
    expect(
      Array.from(
        decodeTensor('input "u"', wire({ shape: [2n], int64Data: [0n, 4294967295n] }), spec).data as Uint32Array,
      ),
    ).to.deep.equal([0, 4294967295]);
    expect(
      failure(() => decodeTensor('input "u"', wire({ shape: [1n], int64Data: [4294967296n] }), spec)).message,
    ).to.equal('input "u": element 0 is 4294967296, out of range for UINT32 [0, 4294967295]');
  });

  it('refuses STRING values in raw_data', () => {
    const err = failure(() =>
      decodeTensor('input "s"', wire({ shape: [1n], rawData: Uint8Array.of(65) }), {
        name: 's',
        type: 'string',
        dims: [-1],
      }),
    );
    expect(err.code).to.equal('INVALID_ARGUMENT');
    expect(err.message).to.equal('input "s": STRING values go in string_data, got raw_data');
  });

  it('refuses a STRING element with a NUL byte, which ONNX Runtime would cut short', () => {
    const err = failure(() =>
      decodeTensor('input "s"', wire({ shape: [2n], stringData: [Buffer.from('ok'), Buffer.from('a\u0000b')] }), {
        name: 's',
        type: 'string',
        dims: [-1],
      }),
    );
    expect(err.message).to.equal(
      'input "s": element 1 contains a NUL byte, which ONNX Runtime cannot carry in a STRING tensor',
    );
  });

  it('refuses an unknown datatype number', () => {
    expect(
      failure(() => decodeTensor('input "x"', wire({ datatype: 99, shape: [1n, 2n], floatData: [1, 2] }), f32)).message,
    ).to.equal('input "x": unknown datatype 99');
  });

  it('refuses a negative dimension, naming it', () => {
    expect(failure(() => decodeTensor('input "x"', wire({ shape: [-1n, 2n] }), f32)).message).to.equal(
      'input "x": dimension 0 of shape [-1,2] is -1, expected 0 to 4294967295',
    );
  });

  it('refuses a dimension past what ONNX Runtime takes even in an empty tensor, whose element count is 0', () => {
    const err = failure(() =>
      decodeTensor('input "x"', wire({ shape: [0n, 4294967296n] }), { name: 'x', type: 'float32', dims: [-1, -1] }),
    );
    expect(err.code).to.equal('INVALID_ARGUMENT');
    expect(err.message).to.equal(
      'input "x": dimension 1 of shape [0,4294967296] is 4294967296, expected 0 to 4294967295',
    );
  });

  it('takes an empty tensor whose other dimension is the largest ONNX Runtime takes', () => {
    const t = decodeTensor('input "x"', wire({ shape: [0n, 4294967295n] }), {
      name: 'x',
      type: 'float32',
      dims: [-1, -1],
    });
    expect(t.dims).to.deep.equal([0, 4294967295]);
    expect(t.data).to.have.length(0);
  });

  it('names a shape of the wrong rank without spelling out every dimension of it', () => {
    const err = failure(() => decodeTensor('input "x"', wire({ shape: new Array<bigint>(100_000).fill(1n) }), f32));
    expect(err.message).to.equal(`input "x": expected shape [-1,2], got [1,1,1,1,1,1,1,1,...] (rank 100000)`);
  });

  it('refuses a tensor with elements in its shape but no content', () => {
    expect(failure(() => decodeTensor('input "x"', wire({ shape: [1n, 2n] }), f32)).message).to.equal(
      'input "x": shape [1,2] needs 2 FLOAT32 elements, got none',
    );
  });

  it('accepts a scalar for a scalar input', () => {
    const t = decodeTensor('input "s"', wire({ shape: [], doubleData: [2.5] }), {
      name: 's',
      type: 'float64',
      dims: [],
    });
    expect(t.dims).to.deep.equal([]);
    expect(Array.from(t.data as Float64Array)).to.deep.equal([2.5]);
  });
});

describe('encodeTensor', () => {
  it('answers raw_data as a view over the output, not a copy', () => {
    const data = Float32Array.of(1, 2);
    const w = encodeTensor({ type: 'float32', dims: [2], data }, true);
    expect(w.rawData.buffer).to.equal(data.buffer);
    expect(w.shape).to.deep.equal([2n]);
    expect(w.datatype).to.equal(1);
  });

  it('answers INT64 typed values exactly beyond 2^53', () => {
    const w = encodeTensor({ type: 'int64', dims: [1], data: BigInt64Array.of(2n ** 62n + 1n) }, false);
    expect(w.int64Data).to.deep.equal([2n ** 62n + 1n]);
  });

  it('answers STRING tensors in string_data even when raw was asked for', () => {
    const w = encodeTensor({ type: 'string', dims: [1], data: ['ok'] }, true);
    expect(w.rawData.length).to.equal(0);
    expect(w.stringData.map((b) => Buffer.from(b).toString())).to.deep.equal(['ok']);
  });
});
