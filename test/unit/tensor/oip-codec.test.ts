import { expect } from 'chai';
import { decodeOipTensor, encodeOipTensor, oipDatatype, oipDatatypeNamed, oipInputs, type OipInputTensor, type OipTensorContents } from '../../../src/tensor/oip-codec';
import type { ElementType } from '../../../src/tensor/element-types';
import type { TensorSpec } from '../../../src/tensor/tensor-types';
import { failure } from '../../support/failure';

function contents(fields: Partial<OipTensorContents>): OipTensorContents {
  return { boolContents: [], intContents: [], int64Contents: [], uintContents: [], uint64Contents: [], fp32Contents: [], fp64Contents: [], bytesContents: [], ...fields };
}

function tensor(name: string, datatype: string, shape: bigint[], typed?: Partial<OipTensorContents>): OipInputTensor {
  return { name, datatype, shape, contents: typed && contents(typed) };
}

describe('Open Inference Protocol tensors', () => {
  describe('datatypes', () => {
    it('names every element type inferd serves by its protocol datatype and Triton config type', () => {
      const types: [ElementType, string, string][] = [
        ['bool', 'BOOL', 'TYPE_BOOL'], ['uint8', 'UINT8', 'TYPE_UINT8'], ['uint16', 'UINT16', 'TYPE_UINT16'], ['uint32', 'UINT32', 'TYPE_UINT32'],
        ['uint64', 'UINT64', 'TYPE_UINT64'], ['int8', 'INT8', 'TYPE_INT8'], ['int16', 'INT16', 'TYPE_INT16'], ['int32', 'INT32', 'TYPE_INT32'],
        ['int64', 'INT64', 'TYPE_INT64'], ['float16', 'FP16', 'TYPE_FP16'], ['float32', 'FP32', 'TYPE_FP32'], ['float64', 'FP64', 'TYPE_FP64'],
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
      expect(Array.from(decodeOipTensor('input "a"', byName['a']!, { name: 'a', type: 'uint8', dims: [-1] }).data as Uint8Array)).to.deep.equal([7]);
    });

    it('refuses typed contents beside raw ones in Triton\'s words, naming the tensor and the model, before counting the raw entries', () => {
      const err = failure(() => oipInputs([tensor('a', 'UINT8', [1n]), tensor('b', 'UINT8', [1n], { uintContents: [1] })], [Uint8Array.of(7)], 'simple'));
      expect(err.code).to.equal('INVALID_ARGUMENT');
      expect(err.message).to.equal("contents field must not be specified when using raw_input_contents for 'b' for model 'simple'");
    });

    it('keeps an input named "__proto__" as an input, not a prototype', () => {
      const byName = oipInputs([tensor('__proto__', 'UINT8', [1n], { uintContents: [1] })], [], 'm');
      expect(Object.keys(byName)).to.deep.equal(['__proto__']);
    });
  });

  describe('decodeOipTensor', () => {
    const u16: TensorSpec = { name: 'u', type: 'uint16', dims: [-1] };

    it('copies raw contents into a buffer of its own, aligned, whatever the offset in the message', () => {
      const message = new Uint8Array(3 + 4);
      new DataView(message.buffer).setUint16(3, 513, true);
      new DataView(message.buffer).setUint16(5, 65535, true);
      const t = decodeOipTensor('input "u"', { tensor: tensor('u', 'UINT16', [2n]), raw: message.subarray(3) }, u16);
      expect(Array.from(t.data as Uint16Array)).to.deep.equal([513, 65535]);
      expect((t.data as Uint16Array).buffer).to.not.equal(message.buffer);
    });

    it('reads UINT16 from uint_contents and refuses a value beyond 16 bits', () => {
      expect(Array.from(decodeOipTensor('input "u"', { tensor: tensor('u', 'UINT16', [2n], { uintContents: [0, 65535] }), raw: undefined }, u16).data as Uint16Array)).to.deep.equal([0, 65535]);
      const err = failure(() => decodeOipTensor('input "u"', { tensor: tensor('u', 'UINT16', [1n], { uintContents: [65536] }), raw: undefined }, u16));
      expect(err.message).to.equal('input "u": element 0 is 65536, out of range for UINT16 [0, 65535]');
    });

    it('reads raw BOOL bytes other than 0 as 1', () => {
      const t = decodeOipTensor('input "b"', { tensor: tensor('b', 'BOOL', [3n]), raw: Uint8Array.of(0, 2, 255) }, { name: 'b', type: 'bool', dims: [-1] });
      expect(Array.from(t.data as Uint8Array)).to.deep.equal([0, 1, 1]);
    });

    it('takes a tensor of no elements with no contents at all', () => {
      const t = decodeOipTensor('input "s"', { tensor: tensor('s', 'BYTES', [0n]), raw: undefined }, { name: 's', type: 'string', dims: [-1] });
      expect(t).to.deep.equal({ type: 'string', dims: [0], data: [] });
    });

    it('refuses BF16, which no inferd model declares, as a datatype mismatch', () => {
      const err = failure(() => decodeOipTensor('input "h"', { tensor: tensor('h', 'BF16', [1n]), raw: Uint8Array.of(0xc0, 0x3f) }, { name: 'h', type: 'float16', dims: [-1] }));
      expect(err.message).to.equal('input "h": expected datatype FP16, got BF16');
    });

    it('refuses two contents fields at once, naming both', () => {
      const err = failure(() => decodeOipTensor('input "u"', { tensor: tensor('u', 'UINT16', [1n], { uintContents: [1], intContents: [1] }), raw: undefined }, u16));
      expect(err.message).to.equal('input "u": more than one contents field set (int_contents, uint_contents); use one');
    });
  });

  describe('encodeOipTensor', () => {
    it('gives numeric elements as a view over the tensor\'s own buffer', () => {
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
