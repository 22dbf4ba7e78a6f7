import { expect } from 'chai';
import { PredictResponse, PredictStreamResponse } from '../../../../generated/inferd/v1/prediction_service';
import { Tensor } from '../../../../generated/inferd/v1/tensor';
import {
  predictResponseBytes,
  predictStreamResponseBytes,
} from '../../../../src/transport/grpc/predict-response-bytes';

const raw = (bytes: number, fill = 7): Uint8Array => new Uint8Array(bytes).fill(fill);

function response(outputs: Record<string, Partial<Tensor>>, rest: Partial<PredictResponse> = {}): PredictResponse {
  return PredictResponse.fromPartial({
    modelName: 'tiny_mlp',
    modelVersion: '1',
    id: 'r-1',
    ...rest,
    outputs: Object.fromEntries(Object.entries(outputs).map(([k, t]) => [k, Tensor.fromPartial(t)])),
  });
}

/** What the generated encoder writes, which the bytes must equal exactly. */
const generated = (r: PredictResponse): Buffer => Buffer.from(PredictResponse.encode(r).finish());
const generatedStream = (r: PredictStreamResponse): Buffer => Buffer.from(PredictStreamResponse.encode(r).finish());

describe('predictResponseBytes', () => {
  const cases: [string, PredictResponse][] = [
    ['one raw output', response({ y: { datatype: 1, shape: [1n, 4n], rawData: raw(16) } })],
    [
      'two raw outputs in insertion order',
      response({
        z: { datatype: 1, shape: [2n], rawData: raw(8) },
        a: { datatype: 7, shape: [2n], rawData: raw(16, 1) },
      }),
    ],
    [
      'empty strings and an empty output',
      response(
        { y: { datatype: 0, shape: [], rawData: new Uint8Array(0) } },
        { modelName: '', modelVersion: '', id: '' },
      ),
    ],
    [
      'names that are not ASCII',
      response({ 'sortie-é': { datatype: 1, shape: [1n], rawData: raw(4) } }, { id: 'ид-😀' }),
    ],
    [
      'a raw output of 110 KiB and dims of several varint bytes',
      response({ y: { datatype: 1, shape: [1n, 3n, 48n, 192n, 300000n, 2n ** 40n], rawData: raw(110_592) } }),
    ],
    ['a zero dim', response({ y: { datatype: 1, shape: [0n, 4n], rawData: new Uint8Array(0) } })],
    [
      'typed outputs (the generated encoder writes them)',
      response({
        y: { datatype: 1, shape: [2n], floatData: [1.5, -2] },
        s: { datatype: 13, shape: [1n], stringData: [Buffer.from('x')] },
      }),
    ],
    [
      'a negative dim (the generated encoder writes it)',
      response({ y: { datatype: 1, shape: [-1n], rawData: raw(4) } }),
    ],
  ];
  for (const [name, r] of cases) {
    it(`writes the generated encoder's bytes: ${name}`, () => {
      expect(predictResponseBytes(r).equals(generated(r))).to.equal(true);
    });
  }

  it('decodes back to the response it was given', () => {
    const r = cases[1]![1];
    expect(PredictResponse.decode(predictResponseBytes(r))).to.deep.equal(r);
  });
});

describe('predictStreamResponseBytes', () => {
  it("writes the generated encoder's bytes for an answer with raw outputs", () => {
    const m: PredictStreamResponse = {
      id: 'm-17',
      response: response({ y: { datatype: 1, shape: [1n, 4n], rawData: raw(16) } }, { id: 'm-17' }),
    };
    expect(predictStreamResponseBytes(m).equals(generatedStream(m))).to.equal(true);
  });

  it("writes the generated encoder's bytes for an answer without an id, with typed outputs, and for an error", () => {
    const noId: PredictStreamResponse = {
      id: '',
      response: response({ y: { datatype: 1, shape: [1n], rawData: raw(4) } }, { id: '' }),
    };
    const typed: PredictStreamResponse = {
      id: 'm-2',
      response: response({ y: { datatype: 1, shape: [1n], floatData: [3] } }),
    };
    const failed: PredictStreamResponse = {
      id: 'm-3',
      error: { code: 3, message: 'input "x": expected datatype FP32, got INT64' },
    };
    for (const m of [noId, typed, failed])
      expect(predictStreamResponseBytes(m).equals(generatedStream(m))).to.equal(true);
  });
});
