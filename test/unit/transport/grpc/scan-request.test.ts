import { expect } from 'chai';
import {
  InferTensorContents,
  ModelInferRequest,
  type ModelInferRequest_InferInputTensor,
} from '../../../../generated/inference/grpc_service';
import { SubmitPredictionRequest } from '../../../../generated/inferd/v1/job_service';
import { PredictRequest } from '../../../../generated/inferd/v1/prediction_service';
import { Tensor } from '../../../../generated/inferd/v1/tensor';
import {
  MODEL_INFER_REQUEST,
  PREDICT_REQUEST,
  SUBMIT_PREDICTION_REQUEST,
} from '../../../../src/transport/grpc/request-layouts';
import { scanRequest, type RequestLimits } from '../../../../src/transport/grpc/scan-request';
import { delimited, emptyStringsRequest, int32ZerosRequest } from '../../../support/wire-requests';

const OPEN: RequestLimits = { maxRequestElements: 1_000_000, maxRequestStrings: 1_000_000 };

function predictBytes(inputs: Record<string, Partial<Tensor>>, rest: Partial<PredictRequest> = {}): Uint8Array {
  const tensors = Object.fromEntries(Object.entries(inputs).map(([name, t]) => [name, Tensor.fromPartial(t)]));
  return PredictRequest.encode(PredictRequest.fromPartial({ modelName: 'm', ...rest, inputs: tensors })).finish();
}

function inferBytes(
  inputs: (Partial<Omit<ModelInferRequest_InferInputTensor, 'contents'>> & {
    contents?: Partial<InferTensorContents>;
  })[],
  rest: Partial<ModelInferRequest> = {},
): Uint8Array {
  const tensors = inputs.map((t) => ({
    ...t,
    contents: t.contents === undefined ? undefined : InferTensorContents.fromPartial(t.contents),
  }));
  return ModelInferRequest.encode(ModelInferRequest.fromPartial({ modelName: 'm', ...rest, inputs: tensors })).finish();
}

const elementsMessage = (limit: number, holds: string): string =>
  `the request carries more than ${limit} elements outside raw bytes, the limit per request (--max-request-elements): ${holds}; numeric tensors sent as raw bytes are not counted`;

describe('scanRequest', () => {
  it('lets through a request within the limits and reads its id', () => {
    const bytes = predictBytes({ x: { shape: [3n], floatData: [1, 2, 3] } }, { id: 'r1', outputNames: ['y'] });
    expect(scanRequest(bytes, PREDICT_REQUEST, OPEN)).to.deep.equal({ id: 'r1', refusal: undefined });
  });

  it('counts every typed field of an inferd.v1 Tensor, packed, by its own name', () => {
    // One shape dimension and one map entry besides the 3 elements: 5 in all, one over the limit of 4.
    const fields: [Partial<Tensor>, string][] = [
      [{ floatData: [1, 2, 3] }, 'float_data'],
      [{ doubleData: [1, 2, 3] }, 'double_data'],
      [{ int32Data: [0, -1, 300] }, 'int32_data'],
      [{ int64Data: [0n, -1n, 1n << 40n] }, 'int64_data'],
      [{ uint64Data: [0n, 1n, 1n << 63n] }, 'uint64_data'],
      [{ boolData: [true, false, true] }, 'bool_data'],
      [{ stringData: [Uint8Array.of(97), new Uint8Array(0), Uint8Array.of(98, 99)] }, 'string_data'],
    ];
    for (const [typed, name] of fields) {
      const bytes = predictBytes({ x: { shape: [3n], ...typed } });
      expect(scanRequest(bytes, PREDICT_REQUEST, { ...OPEN, maxRequestElements: 5 }).refusal, name).to.equal(undefined);
      const { refusal } = scanRequest(bytes, PREDICT_REQUEST, { ...OPEN, maxRequestElements: 4 });
      expect(refusal?.code, name).to.equal('RESOURCE_EXHAUSTED');
      const holds = name === 'string_data' ? 'at least 3' : '3';
      expect(refusal?.message).to.equal(elementsMessage(4, `${name} of input "x" holds ${holds}`));
    }
  });

  it('counts the exact number of packed varints, whatever their sizes, and refuses 16,000,000 int32 zeros naming the count', () => {
    expect(PredictRequest.decode(int32ZerosRequest('m', 3, 'r')).inputs['x']).to.deep.include({
      datatype: 6,
      shape: [3n],
      int32Data: [0, 0, 0],
    });
    const bytes = int32ZerosRequest('m', 16_000_000);
    const { refusal } = scanRequest(bytes, PREDICT_REQUEST, { ...OPEN, maxRequestElements: 1_048_576 });
    expect(refusal?.message).to.equal(elementsMessage(1_048_576, 'int32_data of input "x" holds 16000000'));
  });

  it('counts elements sent one tag each (not packed) like packed ones', () => {
    // Tensor { shape: 2 (one varint, not packed), float_data: three fixed32 elements each with its own tag }.
    const tensor = [0x10, 2, ...[1, 2, 3].flatMap(() => [0x25, 0, 0, 0x80, 0x3f])];
    const bytes = Uint8Array.from(delimited(3, [...delimited(1, [0x78]), ...delimited(2, tensor)]));
    expect(PredictRequest.decode(bytes).inputs['x']?.floatData).to.deep.equal([1, 1, 1]);
    expect(scanRequest(bytes, PREDICT_REQUEST, { ...OPEN, maxRequestElements: 4 }).refusal?.message).to.equal(
      elementsMessage(4, 'float_data of input "x" holds 3'),
    );
  });

  it('refuses more STRING elements than --max-request-strings, stopping its count there', () => {
    const bytes = emptyStringsRequest('m', 8, 'r');
    expect(PredictRequest.decode(bytes).inputs['x']?.stringData).to.deep.equal(new Array(8).fill(new Uint8Array(0)));
    const { refusal } = scanRequest(bytes, PREDICT_REQUEST, { ...OPEN, maxRequestStrings: 5 });
    expect(refusal?.code).to.equal('RESOURCE_EXHAUSTED');
    expect(refusal?.message).to.equal(
      'the request carries more than 5 STRING elements, the limit per request (--max-request-strings): string_data of input "x" holds at least 6',
    );
    expect(scanRequest(bytes, PREDICT_REQUEST, { ...OPEN, maxRequestStrings: 8 }).refusal).to.equal(undefined);
  });

  it('does not count raw_data, whatever its size', () => {
    const bytes = predictBytes({ x: { shape: [262_144n], rawData: new Uint8Array(1 << 20) } });
    expect(scanRequest(bytes, PREDICT_REQUEST, { maxRequestElements: 2, maxRequestStrings: 1 }).refusal).to.equal(
      undefined,
    );
  });

  it('sums elements over inputs and counts output names, naming the field that passed the limit', () => {
    const bytes = predictBytes(
      { a: { shape: [2n], floatData: [1, 2] }, b: { shape: [2n], floatData: [1, 2] } },
      { outputNames: ['y', 'z'] },
    );
    // a: entry + dimension + 2 elements; b likewise: 8; the output names make 10.
    expect(scanRequest(bytes, PREDICT_REQUEST, { ...OPEN, maxRequestElements: 10 }).refusal).to.equal(undefined);
    expect(scanRequest(bytes, PREDICT_REQUEST, { ...OPEN, maxRequestElements: 9 }).refusal?.message).to.equal(
      elementsMessage(9, 'output_names holds at least 2'),
    );
    expect(scanRequest(bytes, PREDICT_REQUEST, { ...OPEN, maxRequestElements: 7 }).refusal?.message).to.equal(
      elementsMessage(7, 'float_data of input "b" holds 2'),
    );
  });

  it('still reads the id that comes after the field that passed a limit, so that a stream can answer with it', () => {
    const bytes = predictBytes(
      { s: { shape: [4n], stringData: new Array<Uint8Array>(4).fill(Uint8Array.of(97)) } },
      { id: 'req-7' },
    );
    const scan = scanRequest(bytes, PREDICT_REQUEST, { ...OPEN, maxRequestStrings: 1 });
    expect(scan.id).to.equal('req-7');
    expect(scan.refusal?.code).to.equal('RESOURCE_EXHAUSTED');
  });

  it('names an input by its position while its name is still to come', () => {
    // A map entry with its value (Tensor { float_data: [1, 1] }) before its key.
    const tensor = delimited(4, [0, 0, 0x80, 0x3f, 0, 0, 0x80, 0x3f]);
    const bytes = Uint8Array.from([...delimited(3, [...delimited(2, tensor), ...delimited(1, [0x78])])]);
    expect(scanRequest(bytes, PREDICT_REQUEST, { ...OPEN, maxRequestElements: 2 }).refusal?.message).to.equal(
      elementsMessage(2, 'float_data of input #1 holds 2'),
    );
  });

  it('walks into the request of SubmitPredictionRequest', () => {
    const request = PredictRequest.fromPartial({
      inputs: { x: Tensor.fromPartial({ shape: [3n], int32Data: [1, 2, 3] }) },
    });
    const bytes = SubmitPredictionRequest.encode({ request, callbackUrl: 'http://cb' }).finish();
    expect(scanRequest(bytes, SUBMIT_PREDICTION_REQUEST, { ...OPEN, maxRequestElements: 4 }).refusal?.message).to.equal(
      elementsMessage(4, 'int32_data of input "x" holds 3'),
    );
  });

  it('counts every typed contents field of an Open Inference Protocol input by its own name, BYTES elements against --max-request-strings', () => {
    const fields: [Partial<InferTensorContents>, string][] = [
      [{ boolContents: [true, false, true] }, 'bool_contents'],
      [{ intContents: [1, -2, 3] }, 'int_contents'],
      [{ int64Contents: [1n, -2n, 3n] }, 'int64_contents'],
      [{ uintContents: [1, 2, 3] }, 'uint_contents'],
      [{ uint64Contents: [1n, 2n, 3n] }, 'uint64_contents'],
      [{ fp32Contents: [1, 2, 3] }, 'fp32_contents'],
      [{ fp64Contents: [1, 2, 3] }, 'fp64_contents'],
    ];
    for (const [contents, name] of fields) {
      // The input, its one shape dimension and its 3 elements: 5.
      const bytes = inferBytes([{ name: 'x', datatype: 'FP32', shape: [3n], contents }]);
      expect(scanRequest(bytes, MODEL_INFER_REQUEST, { ...OPEN, maxRequestElements: 5 }).refusal, name).to.equal(
        undefined,
      );
      expect(scanRequest(bytes, MODEL_INFER_REQUEST, { ...OPEN, maxRequestElements: 4 }).refusal?.message).to.equal(
        elementsMessage(4, `${name} of input "x" holds 3`),
      );
    }
    const bytes = inferBytes(
      [
        {
          name: 's',
          datatype: 'BYTES',
          shape: [3n],
          contents: { bytesContents: [Uint8Array.of(97), Uint8Array.of(98), Uint8Array.of(99)] },
        },
      ],
      { id: 'o-1' },
    );
    expect(scanRequest(bytes, MODEL_INFER_REQUEST, { ...OPEN, maxRequestStrings: 2 })).to.deep.include({ id: 'o-1' });
    expect(scanRequest(bytes, MODEL_INFER_REQUEST, { ...OPEN, maxRequestStrings: 2 }).refusal?.message).to.equal(
      'the request carries more than 2 BYTES elements, the limit per request (--max-request-strings): bytes_contents of input "s" holds at least 3',
    );
  });

  it('counts the BYTES elements of raw_input_contents by their length prefixes, and no other raw entry', () => {
    const raw = (elements: string[]): Uint8Array =>
      Buffer.concat(elements.flatMap((e) => [Buffer.from(Uint32Array.of(e.length).buffer), Buffer.from(e)]));
    const bytes = inferBytes(
      [
        { name: 'n', datatype: 'UINT8', shape: [4n] },
        { name: 's', datatype: 'BYTES', shape: [3n] },
      ],
      { rawInputContents: [Uint8Array.of(1, 2, 3, 4), raw(['a', '', 'bc'])] },
    );
    expect(scanRequest(bytes, MODEL_INFER_REQUEST, { ...OPEN, maxRequestStrings: 3 }).refusal).to.equal(undefined);
    expect(scanRequest(bytes, MODEL_INFER_REQUEST, { ...OPEN, maxRequestStrings: 2 }).refusal?.message).to.equal(
      'the request carries more than 2 BYTES elements, the limit per request (--max-request-strings): raw_input_contents of input "s" holds at least 3',
    );
  });

  it('counts parameters and requested outputs of an Open Inference Protocol request', () => {
    const bytes = inferBytes([], {
      parameters: { a: { boolParam: true }, b: { boolParam: false } },
      outputs: [{ name: 'y', parameters: { c: { int64Param: 1n } } }],
    });
    expect(scanRequest(bytes, MODEL_INFER_REQUEST, { ...OPEN, maxRequestElements: 4 }).refusal).to.equal(undefined);
    expect(scanRequest(bytes, MODEL_INFER_REQUEST, { ...OPEN, maxRequestElements: 3 }).refusal?.message).to.equal(
      elementsMessage(3, 'parameters holds 1'),
    );
  });

  it('skips unknown fields of every wire type, groups included', () => {
    // Field 9 varint, field 10 fixed64, field 11 a group holding a fixed32, field 12 fixed32, then the id.
    const bytes = Uint8Array.from([
      0x48,
      0x96,
      0x01,
      0x51,
      1,
      2,
      3,
      4,
      5,
      6,
      7,
      8,
      0x5b,
      0x0d,
      1,
      2,
      3,
      4,
      0x5c,
      0x65,
      1,
      2,
      3,
      4,
      ...delimited(5, [0x69, 0x64]),
    ]);
    expect(scanRequest(bytes, PREDICT_REQUEST, OPEN)).to.deep.equal({ id: 'id', refusal: undefined });
  });

  it('refuses bytes that are not a well-formed message with INVALID_ARGUMENT saying what is wrong', () => {
    const cases: [number[], string][] = [
      [[0x1a, 0x05, 0x0a], 'a field of 5 bytes runs past the end of its message (1 bytes left)'],
      [[0x1a, 0x02, 0x12, 0x09], 'a field of 9 bytes runs past the end of its message (0 bytes left)'],
      [[0x0f], 'field 1 has wire type 7, which protobuf does not have'],
      [[0x48, 0x96], 'a varint runs past the end of its message'],
      [[0x5c], 'field 11 ends a group that was not started'],
      [[0x5b, 0x6c], 'a group ends with the wrong field number'],
    ];
    for (const [bytes, reason] of cases) {
      const { refusal } = scanRequest(Uint8Array.from(bytes), PREDICT_REQUEST, OPEN);
      expect(refusal?.code, reason).to.equal('INVALID_ARGUMENT');
      expect(refusal?.message).to.equal(`the request is not a valid inferd.v1.PredictRequest: ${reason}`);
    }
  });
});
