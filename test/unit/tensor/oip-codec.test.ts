import { expect } from 'chai';
import { ModelInferRequest } from '../../../generated/inference/grpc_service';
import {
  decodeOipTensor,
  encodeOipTensor,
  oipDatatype,
  oipDatatypeNamed,
  oipInputs,
  type OipInput,
  type OipInputTensor,
  type OipTensorContents,
} from '../../../src/tensor/oip-codec';
import type { ElementType } from '../../../src/tensor/element-types';
import type { TensorSpec } from '../../../src/tensor/tensor-types';
import { failure } from '../../support/failure';

function contents(fields: Partial<OipTensorContents>): OipTensorContents {
  return {
    boolContents: [],
    intContents: [],
    int64Contents: [],
    uintContents: [],
    uint64Contents: [],
    fp32Contents: [],
    fp64Contents: [],
    bytesContents: [],
    ...fields,
  };
}

function tensor(name: string, datatype: string, shape: bigint[], typed?: Partial<OipTensorContents>): OipInputTensor {
  return { name, datatype, shape, contents: typed && contents(typed) };
}

/**
 * Input "x" of a ModelInferRequest with raw contents `raw`, as a server decodes it: the message
 * is encoded, laid into a larger buffer (as a transport frames it) so that its raw contents begin
 * `at` bytes into that buffer modulo 8, and decoded from there. Returns the input, whose raw
 * contents are a view over the frame, and the frame's buffer.
 */
function received(
  datatype: string,
  shape: bigint[],
  raw: Uint8Array,
  at: number,
): { input: OipInput; frame: ArrayBuffer } {
  const request = (bytes: Uint8Array): ModelInferRequest => ModelInferRequest.decode(bytes);
  const bytes = ModelInferRequest.encode({
    modelName: 'm',
    modelVersion: '',
    id: '',
    parameters: {},
    inputs: [{ name: 'x', datatype, shape, parameters: {}, contents: undefined }],
    outputs: [],
    rawInputContents: [raw],
  }).finish();
  const rawAt = request(bytes).rawInputContents[0]!.byteOffset - bytes.byteOffset;
  const start = (((at - rawAt) % 8) + 8) % 8;
  const frame = new Uint8Array(start + bytes.length + 8);
  frame.set(bytes, start);
  const decoded = request(frame.subarray(start, start + bytes.length));
  const input = oipInputs(decoded.inputs, decoded.rawInputContents, 'm')['x']!;
  expect(input.raw!.byteOffset % 8).to.equal(at);
  return { input, frame: frame.buffer };
}

describe('Open Inference Protocol tensors', () => {
  describe('datatypes', () => {
    it('names every element type inferd serves by its protocol datatype and Triton config type', () => {
      const types: [ElementType, string, string][] = [
        ['bool', 'BOOL', 'TYPE_BOOL'],
        ['uint8', 'UINT8', 'TYPE_UINT8'],
        ['uint16', 'UINT16', 'TYPE_UINT16'],
        ['uint32', 'UINT32', 'TYPE_UINT32'],
        ['uint64', 'UINT64', 'TYPE_UINT64'],
        ['int8', 'INT8', 'TYPE_INT8'],
        ['int16', 'INT16', 'TYPE_INT16'],
        ['int32', 'INT32', 'TYPE_INT32'],
        ['int64', 'INT64', 'TYPE_INT64'],
        ['float16', 'FP16', 'TYPE_FP16'],
        ['float32', 'FP32', 'TYPE_FP32'],
        ['float64', 'FP64', 'TYPE_FP64'],
        ['string', 'BYTES', 'TYPE_STRING'],
      ];
      for (const [type, name, configName] of types) {
        expect(oipDatatype(type)).to.include({ name, configName });
        expect(oipDatatypeNamed(name)).to.equal(oipDatatype(type));
      }
      expect(oipDatatypeNamed('BF16')).to.equal('unserved');
      expect(oipDatatypeNamed('fp32')).to.equal(undefined);
    });
  });

  describe('oipInputs', () => {
    it('pairs raw_input_contents with inputs by position', () => {
      const raw = [Uint8Array.of(1), Uint8Array.of(2)];
      const byName = oipInputs([tensor('b', 'UINT8', [1n]), tensor('a', 'UINT8', [1n])], raw, 'm');
      expect(byName['b']!.raw).to.equal(raw[0]);
      expect(byName['a']!.raw).to.equal(raw[1]);
    });

    it('takes an empty contents message beside raw contents: it carries nothing', () => {
      const byName = oipInputs([tensor('a', 'UINT8', [1n], {})], [Uint8Array.of(7)], 'm');
      expect(
        Array.from(
          decodeOipTensor('input "a"', byName['a']!, { name: 'a', type: 'uint8', dims: [-1] }).data as Uint8Array,
        ),
      ).to.deep.equal([7]);
    });

    it("refuses typed contents beside raw ones in Triton's words, naming the tensor and the model, before counting the raw entries", () => {
      const err = failure(() =>
        oipInputs(
          [tensor('a', 'UINT8', [1n]), tensor('b', 'UINT8', [1n], { uintContents: [1] })],
          [Uint8Array.of(7)],
          'simple',
        ),
      );
      expect(err.code).to.equal('INVALID_ARGUMENT');
      expect(err.message).to.equal(
        "contents field must not be specified when using raw_input_contents for 'b' for model 'simple'",
      );
    });

    it('keeps an input named "__proto__" as an input, not a prototype', () => {
      const byName = oipInputs([tensor('__proto__', 'UINT8', [1n], { uintContents: [1] })], [], 'm');
      expect(Object.keys(byName)).to.deep.equal(['__proto__']);
    });
  });

  describe('decodeOipTensor', () => {
    const u16: TensorSpec = { name: 'u', type: 'uint16', dims: [-1] };

    it("reads raw contents aligned for their type in place: a view over the message's own bytes, not a copy", () => {
      const { input, frame } = received('FP64', [2n], new Uint8Array(Float64Array.of(0.1, -1e308).buffer), 0);
      const data = decodeOipTensor('input "x"', input, { name: 'x', type: 'float64', dims: [-1] }).data;
      expect(data).to.be.instanceOf(Float64Array);
      expect((data as Float64Array).buffer).to.equal(frame);
      expect((data as Float64Array).byteOffset).to.equal(input.raw!.byteOffset);
      expect(Array.from(data as Float64Array)).to.deep.equal([0.1, -1e308]);
    });

    it('copies raw contents that are not aligned for their type into a buffer of their own, exactly', () => {
      const { input, frame } = received('UINT16', [2n], new Uint8Array(Uint16Array.of(513, 65535).buffer), 3);
      const data = decodeOipTensor('input "x"', input, { ...u16, name: 'x' }).data as Uint16Array;
      expect(data.buffer).to.not.equal(frame);
      expect([data.byteOffset, data.buffer.byteLength]).to.deep.equal([0, 4]);
      expect(Array.from(data)).to.deep.equal([513, 65535]);
    });

    it('reads UINT16 from uint_contents and refuses a value beyond 16 bits', () => {
      expect(
        Array.from(
          decodeOipTensor(
            'input "u"',
            { tensor: tensor('u', 'UINT16', [2n], { uintContents: [0, 65535] }), raw: undefined },
            u16,
          ).data as Uint16Array,
        ),
      ).to.deep.equal([0, 65535]);
      const err = failure(() =>
        decodeOipTensor(
          'input "u"',
          { tensor: tensor('u', 'UINT16', [1n], { uintContents: [65536] }), raw: undefined },
          u16,
        ),
      );
      expect(err.message).to.equal('input "u": element 0 is 65536, out of range for UINT16 [0, 65535]');
    });

    it("reads raw BOOL bytes other than 0 as 1, in a copy that leaves the message's bytes as they came", () => {
      const { input, frame } = received('BOOL', [3n], Uint8Array.of(0, 2, 255), 0);
      const t = decodeOipTensor('input "x"', input, { name: 'x', type: 'bool', dims: [-1] });
      expect(Array.from(t.data as Uint8Array)).to.deep.equal([0, 1, 1]);
      expect((t.data as Uint8Array).buffer).to.not.equal(frame);
      expect(Array.from(input.raw!)).to.deep.equal([0, 2, 255]);
    });

    it('takes a tensor of no elements with no contents at all', () => {
      const t = decodeOipTensor(
        'input "s"',
        { tensor: tensor('s', 'BYTES', [0n]), raw: undefined },
        { name: 's', type: 'string', dims: [-1] },
      );
      expect(t).to.deep.equal({ type: 'string', dims: [0], data: [] });
    });

    it('refuses BF16, which no inferd model declares, as a datatype mismatch', () => {
      const err = failure(() =>
        decodeOipTensor(
          'input "h"',
          { tensor: tensor('h', 'BF16', [1n]), raw: Uint8Array.of(0xc0, 0x3f) },
          { name: 'h', type: 'float16', dims: [-1] },
        ),
      );
      expect(err.message).to.equal('input "h": expected datatype FP16, got BF16');
    });

    it('refuses two contents fields at once, naming both', () => {
      const err = failure(() =>
        decodeOipTensor(
          'input "u"',
          { tensor: tensor('u', 'UINT16', [1n], { uintContents: [1], intContents: [1] }), raw: undefined },
          u16,
        ),
      );
      expect(err.message).to.equal(
        'input "u": more than one contents field set (int_contents, uint_contents); use one',
      );
    });
  });

  describe('encodeOipTensor', () => {
    it("gives numeric elements as a view over the tensor's own buffer", () => {
      const data = Int32Array.of(1, -2);
      const out = encodeOipTensor({ type: 'int32', dims: [2], data });
      expect(out.datatype).to.equal('INT32');
      expect(out.shape).to.deep.equal([2n]);
      expect(out.raw.buffer).to.equal(data.buffer);
      expect(Array.from(out.raw)).to.deep.equal([1, 0, 0, 0, 0xfe, 0xff, 0xff, 0xff]);
    });

    it('gives BYTES elements each as a 4-byte little-endian length then its UTF-8 bytes', () => {
      const out = encodeOipTensor({ type: 'string', dims: [3], data: ['hi', '', 'é'] });
      expect(out.datatype).to.equal('BYTES');
      expect(Array.from(out.raw)).to.deep.equal([2, 0, 0, 0, 0x68, 0x69, 0, 0, 0, 0, 2, 0, 0, 0, 0xc3, 0xa9]);
    });
  });
});
