import { expect } from 'chai';
import { decodeTensor, encodeTensor } from '../../../src/tensor/inferd-v1-codec';
import type { TensorSpec, WireTensor } from '../../../src/tensor/tensor-types';
import { failure } from '../../support/failure';

function wire(fields: Partial<WireTensor>): WireTensor {
  return { datatype: 0, shape: [], rawData: new Uint8Array(0), floatData: [], doubleData: [], int32Data: [], int64Data: [], uint64Data: [], boolData: [], stringData: [], ...fields };
}

describe('decodeTensor', () => {
  const f32: TensorSpec = { name: 'x', type: 'float32', dims: [-1, 2] };

  it('copies raw_data into a buffer of its own, so the message can be released and the tensor transferred', () => {
    const message = new Uint8Array(3 + 8);
    new DataView(message.buffer).setFloat32(3, 1.5, true);
    new DataView(message.buffer).setFloat32(7, -2, true);
    const t = decodeTensor('input "x"', wire({ shape: [1n, 2n], rawData: message.subarray(3) }), f32);
    expect(Array.from(t.data as Float32Array)).to.deep.equal([1.5, -2]);
    expect((t.data as Float32Array).buffer).to.not.equal(message.buffer);
    expect((t.data as Float32Array).byteOffset).to.equal(0);
  });

  it('treats an unspecified datatype as the declared one', () => {
    expect(decodeTensor('input "x"', wire({ shape: [1n, 2n], floatData: [1, 2] }), f32).type).to.equal('float32');
  });

  it('normalises raw BOOL bytes to 0 and 1', () => {
    const t = decodeTensor('input "b"', wire({ shape: [3n], rawData: Uint8Array.of(0, 7, 255) }), { name: 'b', type: 'bool', dims: [-1] });
    expect(Array.from(t.data as Uint8Array)).to.deep.equal([0, 1, 1]);
  });

  it('reads UINT32 from int64_data and refuses values beyond 32 bits', () => {
    const spec: TensorSpec = { name: 'u', type: 'uint32', dims: [-1] };
    expect(Array.from(decodeTensor('input "u"', wire({ shape: [2n], int64Data: [0n, 4294967295n] }), spec).data as Uint32Array)).to.deep.equal([0, 4294967295]);
    expect(failure(() => decodeTensor('input "u"', wire({ shape: [1n], int64Data: [4294967296n] }), spec)).message).to.equal('input "u": element 0 is 4294967296, out of range for UINT32 [0, 4294967295]');
  });

  it('refuses STRING values in raw_data', () => {
    const err = failure(() => decodeTensor('input "s"', wire({ shape: [1n], rawData: Uint8Array.of(65) }), { name: 's', type: 'string', dims: [-1] }));
    expect(err.code).to.equal('INVALID_ARGUMENT');
    expect(err.message).to.equal('input "s": STRING values go in string_data, got raw_data');
  });

  it('refuses a STRING element with a NUL byte, which ONNX Runtime would cut short', () => {
    const err = failure(() => decodeTensor('input "s"', wire({ shape: [2n], stringData: [Buffer.from('ok'), Buffer.from('a\u0000b')] }), { name: 's', type: 'string', dims: [-1] }));
    expect(err.message).to.equal('input "s": element 1 contains a NUL byte, which ONNX Runtime cannot carry in a STRING tensor');
  });

  it('refuses an unknown datatype number', () => {
    expect(failure(() => decodeTensor('input "x"', wire({ datatype: 99, shape: [1n, 2n], floatData: [1, 2] }), f32)).message).to.equal('input "x": unknown datatype 99');
  });

  it('refuses a negative dimension, naming it', () => {
    expect(failure(() => decodeTensor('input "x"', wire({ shape: [-1n, 2n] }), f32)).message).to.equal('input "x": dimension 0 of shape [-1,2] is -1, expected 0 to 4294967295');
  });

  it('refuses a dimension past what ONNX Runtime takes even in an empty tensor, whose element count is 0', () => {
    const err = failure(() => decodeTensor('input "x"', wire({ shape: [0n, 4294967296n] }), { name: 'x', type: 'float32', dims: [-1, -1] }));
    expect(err.code).to.equal('INVALID_ARGUMENT');
    expect(err.message).to.equal('input "x": dimension 1 of shape [0,4294967296] is 4294967296, expected 0 to 4294967295');
  });

  it('takes an empty tensor whose other dimension is the largest ONNX Runtime takes', () => {
    const t = decodeTensor('input "x"', wire({ shape: [0n, 4294967295n] }), { name: 'x', type: 'float32', dims: [-1, -1] });
    expect(t.dims).to.deep.equal([0, 4294967295]);
    expect(t.data).to.have.length(0);
  });

  it('names a shape of the wrong rank without spelling out every dimension of it', () => {
    const err = failure(() => decodeTensor('input "x"', wire({ shape: new Array<bigint>(100_000).fill(1n) }), f32));
    expect(err.message).to.equal(`input "x": expected shape [-1,2], got [1,1,1,1,1,1,1,1,...] (rank 100000)`);
  });

  it('refuses a tensor with elements in its shape but no content', () => {
    expect(failure(() => decodeTensor('input "x"', wire({ shape: [1n, 2n] }), f32)).message).to.equal('input "x": shape [1,2] needs 2 FLOAT32 elements, got none');
  });

  it('accepts a scalar for a scalar input', () => {
    const t = decodeTensor('input "s"', wire({ shape: [], doubleData: [2.5] }), { name: 's', type: 'float64', dims: [] });
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
