import { expect } from 'chai';
import type { WarmupRequest } from '../../../src/repository/model-config';
import { warmupFeeds } from '../../../src/repository/warmup-feeds';
import type { TensorSpec } from '../../../src/tensor/tensor-types';
import { failure } from '../../support/failure';

const x: TensorSpec = { name: 'x', type: 'float32', dims: [-1, 4] };
const limits = { maxInputBytes: 1024 };

function request(inputs: WarmupRequest['inputs']): WarmupRequest {
  return { name: 'w', count: 1, inputs };
}

describe('warmupFeeds', () => {
  it('makes an input of exactly the bound, zeros', () => {
    const feeds = warmupFeeds([x], request({ x: { shape: [64, 4], fill: { zero: true } } }), limits);
    expect(feeds['x']!.dims).to.deep.equal([64, 4]);
    expect(feeds['x']!.data).to.deep.equal(new Float32Array(256));
  });

  it('refuses an input one row past the bound before making it, naming the input, its shape, its bytes and the bound', () => {
    const err = failure(() => warmupFeeds([x], request({ x: { shape: [65, 4], fill: { zero: true } } }), limits));
    expect(err.code).to.equal('INVALID_ARGUMENT');
    expect(err.message).to.equal(
      'input "x": shape [65,4] of FLOAT32 takes 1040 bytes, expected at most 1024 (--max-message-bytes)',
    );
  });

  it('refuses the shape of the report (1.6 GB of FLOAT32) under the default bound of 64 MiB', () => {
    const err = failure(() =>
      warmupFeeds([x], request({ x: { shape: [100_000_000, 4], fill: { zero: true } } }), {
        maxInputBytes: 64 * 1024 * 1024,
      }),
    );
    expect(err.message).to.equal(
      'input "x": shape [100000000,4] of FLOAT32 takes 1600000000 bytes, expected at most 67108864 (--max-message-bytes)',
    );
  });

  it('refuses a default warm-up for a model that declares a shape past the bound', () => {
    const huge: TensorSpec = { name: 'x', type: 'uint8', dims: [-1, 2048] };
    expect(failure(() => warmupFeeds([huge], undefined, limits)).message).to.equal(
      'input "x": shape [1,2048] of UINT8 takes 2048 bytes, expected at most 1024 (--max-message-bytes)',
    );
  });

  it('counts a STRING element as 32 bytes', () => {
    const s: TensorSpec = { name: 's', type: 'string', dims: [-1] };
    expect(warmupFeeds([s], request({ s: { shape: [32], fill: { zero: true } } }), limits)['s']!.data).to.deep.equal(
      new Array(32).fill(''),
    );
    expect(
      failure(() => warmupFeeds([s], request({ s: { shape: [33], fill: { random: true } } }), limits)).message,
    ).to.equal('input "s": shape [33] of STRING takes 1056 bytes, expected at most 1024 (--max-message-bytes)');
  });

  it('checks each dimension, so that a 0 next to a dimension ONNX Runtime refuses does not pass as 0 bytes', () => {
    const err = failure(() =>
      warmupFeeds(
        [{ name: 'x', type: 'float32', dims: [-1, -1] }],
        request({ x: { shape: [0, 2 ** 32], fill: { zero: true } } }),
        limits,
      ),
    );
    expect(err.message).to.equal(
      'input "x": dimension 1 of shape [0,4294967296] is 4294967296, expected 0 to 4294967295',
    );
  });

  it('fills random values within the range it uses for each type', () => {
    const types: TensorSpec[] = [
      { name: 'u8', type: 'uint8', dims: [-1] },
      { name: 'i64', type: 'int64', dims: [-1] },
      { name: 'b', type: 'bool', dims: [-1] },
      { name: 'f', type: 'float64', dims: [-1] },
    ];
    const feeds = warmupFeeds(
      types,
      request(Object.fromEntries(types.map((t) => [t.name, { shape: [100], fill: { random: true } }]))),
      limits,
    );
    expect([...(feeds['u8']!.data as Uint8Array)].every((v) => v >= 0 && v <= 100)).to.equal(true);
    expect([...(feeds['i64']!.data as BigInt64Array)].every((v) => v >= 0n && v <= 100n)).to.equal(true);
    expect([...(feeds['b']!.data as Uint8Array)].every((v) => v === 0 || v === 1)).to.equal(true);
    expect([...(feeds['f']!.data as Float64Array)].every((v) => v >= 0 && v < 1)).to.equal(true);
  });

  it('takes explicit values as a request would, and refuses one that is not a number for a number input', () => {
    const feeds = warmupFeeds([x], request({ x: { shape: [1, 4], fill: { values: [1, 2.5, -3, 4] } } }), limits);
    expect([...(feeds['x']!.data as Float32Array)]).to.deep.equal([1, 2.5, -3, 4]);
    const err = failure(() =>
      warmupFeeds([x], request({ x: { shape: [1, 4], fill: { values: [1, 'two', 3, 4] } } }), limits),
    );
    expect(err.message).to.equal('input "x": value 1 is "two", expected a number for FLOAT32');
  });
});
