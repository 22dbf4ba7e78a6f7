import { gunzipSync, gzipSync, deflateRawSync, deflateSync, inflateSync } from 'node:zlib';
import { expect } from 'chai';
import { simpleModel, tinyMlpModel, tinyMlpReference } from '../../../src/example-models/example-models';
import { ELEMENT_TYPES, identitiesModel } from '../../support/test-models';
import { errorOf, exactJson, json, rest, type RestResponse } from '../../support/rest-request';
import { removeFolder, startServer, writeRepository, type TestServer } from '../../support/test-server';

const SIMPLE = '/v2/models/simple/infer';
const RANGE16 = Array.from({ length: 16 }, (_, i) => i);
const ONES16 = new Array<number>(16).fill(1);

/** Triton's `simple` request in JSON: INPUT0 = 0..15, INPUT1 = ones, [1,16] INT32. */
function simpleJson(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    inputs: [
      { name: 'INPUT0', datatype: 'INT32', shape: [1, 16], data: RANGE16 },
      { name: 'INPUT1', datatype: 'INT32', shape: [1, 16], data: ONES16 },
    ],
    ...extra,
  };
}

interface Output {
  name: string;
  datatype: string;
  shape: number[];
  data?: unknown[];
  parameters?: { binary_data_size: number };
}
interface InferResponse {
  model_name: string;
  model_version: string;
  id?: string;
  outputs: Output[];
}

/** The binary tensor data extension: the JSON header, then each buffer, and the header's length. */
function binaryBody(header: object, ...buffers: Uint8Array[]): { body: Buffer; headers: Record<string, number> } {
  const json = Buffer.from(JSON.stringify(header));
  return { body: Buffer.concat([json, ...buffers]), headers: { 'Inference-Header-Content-Length': json.length } };
}

/** A binary response split into its JSON header and each binary output's bytes, by name. */
function splitBinary(r: RestResponse, body = r.body): { header: InferResponse; data: Record<string, Buffer> } {
  const length = Number(r.headers['inference-header-content-length']);
  const header = JSON.parse(body.subarray(0, length).toString('utf8')) as InferResponse;
  const data: Record<string, Buffer> = {};
  let at = length;
  for (const o of header.outputs) {
    if (o.parameters?.binary_data_size === undefined) continue;
    data[o.name] = body.subarray(at, at + o.parameters.binary_data_size);
    at += o.parameters.binary_data_size;
  }
  expect(at).to.equal(body.length);
  return { header, data };
}

function int32s(values: number[]): Buffer {
  return Buffer.from(Int32Array.from(values).buffer);
}

/** The Open Inference Protocol's name of each of ELEMENT_TYPES's ONNX types. */
const OIP_NAME: Record<string, string> = { FLOAT: 'FP32', DOUBLE: 'FP64', FLOAT16: 'FP16', STRING: 'BYTES' };

describe('REST binding: inference', function () {
  this.timeout(120_000);
  let repo: string;
  let t: TestServer;
  let port: number;

  before(async () => {
    repo = writeRepository({ simple: simpleModel(), tiny_mlp: tinyMlpModel(), identities: identitiesModel(ELEMENT_TYPES) });
    t = await startServer(repo, { maxMessageBytes: 64 * 1024, maxRequestElements: 5000, maxRequestStrings: 100 });
    port = t.server.httpPort;
  });

  after(async () => {
    await t.close();
    removeFolder(repo);
  });

  describe('JSON tensors', () => {
    it("answers Triton's simple request with the exact sums and differences, the model version and the id", async () => {
      const r = await rest(port, 'POST', SIMPLE, { body: simpleJson({ id: 'first' }) });
      expect(r.status).to.equal(200);
      expect(r.headers['content-type']).to.equal('application/json');
      expect(json<InferResponse>(r)).to.deep.equal({
        model_name: 'simple',
        model_version: '1',
        id: 'first',
        outputs: [
          { name: 'OUTPUT0', datatype: 'INT32', shape: [1, 16], data: RANGE16.map((i) => i + 1) },
          { name: 'OUTPUT1', datatype: 'INT32', shape: [1, 16], data: RANGE16.map((i) => i - 1) },
        ],
      });
    });

    it('takes data nested to the shape, flat or in between, and a named version, and returns only the outputs asked for, in their order', async () => {
      const nested = [RANGE16.slice(0, 8), RANGE16.slice(8)];
      const body = {
        inputs: [
          { name: 'INPUT0', datatype: 'INT32', shape: [2, 16], data: [nested, [RANGE16]] },
          { name: 'INPUT1', datatype: 'INT32', shape: [2, 16], data: [ONES16, ONES16] },
        ],
        outputs: [{ name: 'OUTPUT1' }],
      };
      const r = await rest(port, 'POST', '/v2/models/simple/versions/1/infer', { body });
      expect(r.status).to.equal(200);
      const outputs = json<InferResponse>(r).outputs;
      expect(outputs).to.deep.equal([{ name: 'OUTPUT1', datatype: 'INT32', shape: [2, 16], data: [...RANGE16, ...RANGE16].map((i) => i - 1) }]);
    });

    it('reads FP32 to the nearest float and writes each output in the fewest digits that read back the same', async () => {
      const x = [0.1, -2.5, 3, 1e-3];
      const r = await rest(port, 'POST', '/v2/models/tiny_mlp/infer', { body: { inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4], data: x }] } });
      expect(r.status).to.equal(200);
      const y = json<InferResponse>(r).outputs[0]!.data as number[];
      const expected = tinyMlpReference(x.map(Math.fround));
      expected.forEach((e, i) => expect(y[i]).to.be.closeTo(e, 1e-5));
      // Each written in the fewest digits that read back as that float32: none longer than it needs.
      for (const v of y) expect(Math.fround(Number(Math.fround(v).toPrecision(9)))).to.equal(Math.fround(v));
    });

    it('carries every datatype in JSON, INT64 and UINT64 exactly past 2^53, BYTES as strings, NaN and infinities as strings', async () => {
      const values: Record<string, unknown[]> = {
        FP32: [0.1, -2.5, 'NaN', 'Infinity'],
        FP64: [0.1, 1e300, '-Infinity'],
        FP16: [0.1, 65504, -2],
        INT8: [-128, 127],
        INT16: [-32768, 32767],
        INT32: [-2147483648, 2147483647],
        UINT8: [0, 255],
        UINT16: [0, 65535],
        UINT32: [0, 4294967295],
        BOOL: [true, false, true],
        BYTES: ['héllo', '', 'a,"b"'],
      };
      const text: Record<string, string> = { INT64: '[-9223372036854775808,9223372036854775807,9007199254740993]', UINT64: '[18446744073709551615,9007199254740993,0]' };
      const inputs = ELEMENT_TYPES.map(([onnx, label]) => {
        const datatype = OIP_NAME[onnx] ?? onnx;
        const data = text[datatype] ?? JSON.stringify(values[datatype]);
        const count = text[datatype] !== undefined ? 3 : values[datatype]!.length;
        return `{"name":"x_${label.toLowerCase()}","datatype":"${datatype}","shape":[${count}],"data":${data}}`;
      });
      const r = await rest(port, 'POST', '/v2/models/identities/infer', { body: `{"inputs":[${inputs.join(',')}]}` });
      expect(r.status, r.body.toString()).to.equal(200);
      const outputs = (exactJson(r.body) as unknown as { outputs: Output[] }).outputs;
      const byType = Object.fromEntries(outputs.map((o) => [o.datatype, o.data]));
      expect(byType).to.deep.equal({
        FP32: [0.1, -2.5, 'NaN', 'Infinity'],
        FP64: [0.1, 1e300, '-Infinity'],
        FP16: [0.1, 65504, -2],
        INT8: [-128, 127],
        INT16: [-32768, 32767],
        INT32: [-2147483648, 2147483647],
        INT64: [-9223372036854775808n, 9223372036854775807n, 9007199254740993n],
        UINT8: [0, 255],
        UINT16: [0, 65535],
        UINT32: [0, 4294967295],
        UINT64: [18446744073709551615n, 9007199254740993n, 0],
        BOOL: [true, false, true],
        BYTES: ['héllo', '', 'a,"b"'],
      });
    });
  });

  describe('binary tensor data', () => {
    it('takes binary inputs after the JSON header and answers binary outputs the same way when binary_data_output is set', async () => {
      const { body, headers } = binaryBody(
        {
          inputs: [
            { name: 'INPUT0', datatype: 'INT32', shape: [1, 16], parameters: { binary_data_size: 64 } },
            { name: 'INPUT1', datatype: 'INT32', shape: [1, 16], parameters: { binary_data_size: 64 } },
          ],
          parameters: { binary_data_output: true },
        },
        int32s(RANGE16),
        int32s(ONES16),
      );
      const r = await rest(port, 'POST', SIMPLE, { body, headers });
      expect(r.status).to.equal(200);
      expect(r.headers['content-type']).to.equal('application/octet-stream');
      const { header, data } = splitBinary(r);
      expect(header.outputs.map((o) => [o.name, o.parameters, o.data])).to.deep.equal([
        ['OUTPUT0', { binary_data_size: 64 }, undefined],
        ['OUTPUT1', { binary_data_size: 64 }, undefined],
      ]);
      expect(data['OUTPUT0']).to.deep.equal(int32s(RANGE16.map((i) => i + 1)));
      expect(data['OUTPUT1']).to.deep.equal(int32s(RANGE16.map((i) => i - 1)));
    });

    it('mixes a JSON input with a binary one, and a binary output (its own binary_data) with a JSON one', async () => {
      const { body, headers } = binaryBody(
        {
          inputs: [
            { name: 'INPUT0', datatype: 'INT32', shape: [1, 16], data: RANGE16 },
            { name: 'INPUT1', datatype: 'INT32', shape: [1, 16], parameters: { binary_data_size: 64 } },
          ],
          outputs: [{ name: 'OUTPUT0', parameters: { binary_data: true } }, { name: 'OUTPUT1' }],
        },
        int32s(ONES16),
      );
      const r = await rest(port, 'POST', SIMPLE, { body, headers });
      expect(r.status).to.equal(200);
      const { header, data } = splitBinary(r);
      expect(header.outputs[1]).to.deep.equal({ name: 'OUTPUT1', datatype: 'INT32', shape: [1, 16], data: RANGE16.map((i) => i - 1) });
      expect(data['OUTPUT0']).to.deep.equal(int32s(RANGE16.map((i) => i + 1)));
    });

    it('round-trips every datatype in binary, byte for byte (BOOL one byte, FP16 half bits, BYTES length-prefixed)', async () => {
      const bytesElements = ['héllo', '', 'x'].map((s) => Buffer.from(s));
      const raw: Record<string, Buffer> = {
        FP32: Buffer.from(Float32Array.of(0.1, -2.5, NaN).buffer),
        FP64: Buffer.from(Float64Array.of(0.1, 1e300).buffer),
        FP16: Buffer.from(Uint16Array.of(0x2e66, 0x7bff, 0x8000).buffer),
        INT8: Buffer.from(Int8Array.of(-128, 127).buffer),
        INT16: Buffer.from(Int16Array.of(-32768, 32767).buffer),
        INT32: Buffer.from(Int32Array.of(-2147483648, 2147483647).buffer),
        INT64: Buffer.from(BigInt64Array.of(-(2n ** 63n), 2n ** 53n + 1n).buffer),
        UINT8: Buffer.from(Uint8Array.of(0, 255).buffer),
        UINT16: Buffer.from(Uint16Array.of(65535).buffer),
        UINT32: Buffer.from(Uint32Array.of(4294967295).buffer),
        UINT64: Buffer.from(BigUint64Array.of(2n ** 64n - 1n).buffer),
        BOOL: Buffer.from([1, 0, 1]),
        BYTES: Buffer.concat(bytesElements.flatMap((e) => [Buffer.from(Uint32Array.of(e.length).buffer), e])),
      };
      const elementBytes: Record<string, number> = { FP32: 4, FP64: 8, FP16: 2, INT8: 1, INT16: 2, INT32: 4, INT64: 8, UINT8: 1, UINT16: 2, UINT32: 4, UINT64: 8, BOOL: 1 };
      const types = ELEMENT_TYPES.map(([onnx, label]) => ({ datatype: OIP_NAME[onnx] ?? onnx, label: label.toLowerCase() }));
      const count = (d: string): number => (d === 'BYTES' ? 3 : raw[d]!.length / elementBytes[d]!);
      const { body, headers } = binaryBody(
        { inputs: types.map(({ datatype, label }) => ({ name: `x_${label}`, datatype, shape: [count(datatype)], parameters: { binary_data_size: raw[datatype]!.length } })), parameters: { binary_data_output: true } },
        ...types.map(({ datatype }) => raw[datatype]!),
      );
      const r = await rest(port, 'POST', '/v2/models/identities/infer', { body, headers });
      expect(r.status, r.body.toString()).to.equal(200);
      const { header, data } = splitBinary(r);
      for (const { datatype, label } of types) {
        const output = header.outputs.find((o) => o.name === `y_${label}`)!;
        expect([output.datatype, output.shape], label).to.deep.equal([datatype, [count(datatype)]]);
        expect(data[`y_${label}`], datatype).to.deep.equal(raw[datatype]);
      }
    });
  });

  describe('compression', () => {
    it('takes a gzip request and answers gzip when Accept-Encoding asks for it', async () => {
      const body = gzipSync(JSON.stringify(simpleJson()));
      const r = await rest(port, 'POST', SIMPLE, { body, headers: { 'content-encoding': 'gzip', 'accept-encoding': 'gzip' } });
      expect(r.status).to.equal(200);
      expect(r.headers['content-encoding']).to.equal('gzip');
      expect((JSON.parse(gunzipSync(r.body).toString()) as InferResponse).outputs[0]!.data).to.deep.equal(RANGE16.map((i) => i + 1));
    });

    it("takes deflate (zlib's format, as Triton's client sends it, or raw) and answers deflate by the highest weight", async () => {
      for (const body of [deflateSync(JSON.stringify(simpleJson())), deflateRawSync(JSON.stringify(simpleJson()))]) {
        const r = await rest(port, 'POST', SIMPLE, { body, headers: { 'content-encoding': 'deflate', 'accept-encoding': 'gzip;q=0.5, deflate;q=0.9, identity;q=0.1' } });
        expect(r.status).to.equal(200);
        expect(r.headers['content-encoding']).to.equal('deflate');
        expect((JSON.parse(inflateSync(r.body).toString()) as InferResponse).outputs[1]!.data).to.deep.equal(RANGE16.map((i) => i - 1));
      }
    });

    it('compresses a binary response whole, its Inference-Header-Content-Length counting the JSON before compression', async () => {
      const { body, headers } = binaryBody({ inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4], parameters: { binary_data_size: 16 } }], parameters: { binary_data_output: true } }, Buffer.from(Float32Array.of(1, 2, 3, 4).buffer));
      const r = await rest(port, 'POST', '/v2/models/tiny_mlp/infer', { body: gzipSync(body), headers: { ...headers, 'content-encoding': 'gzip', 'accept-encoding': 'gzip' } });
      expect(r.status).to.equal(200);
      const { data } = splitBinary(r, gunzipSync(r.body));
      const y = Array.from(new Float32Array(new Uint8Array(data['y']!).buffer));
      tinyMlpReference([1, 2, 3, 4]).forEach((e, i) => expect(y[i]).to.be.closeTo(e, 1e-5));
    });

    it('answers 415 with the encodings it takes for any other Content-Encoding', async () => {
      const r = await rest(port, 'POST', SIMPLE, { body: JSON.stringify(simpleJson()), headers: { 'content-encoding': 'br' } });
      expect([r.status, r.headers['accept-encoding'], errorOf(r)]).to.deep.equal([415, 'gzip, deflate', 'unsupported Content-Encoding "br": send gzip, deflate or identity']);
    });
  });

  describe('errors', () => {
    /** POSTs `body` to the simple model; resolves with the status and the error message. */
    async function refusal(body: string | Buffer | object, headers: Record<string, string | number> = {}, path = SIMPLE): Promise<[number, string]> {
      const r = await rest(port, 'POST', path, { body, headers });
      return [r.status, errorOf(r)];
    }

    it("answers an unknown model 404 in Triton's words, and an unknown version likewise", async () => {
      expect(await refusal(simpleJson(), {}, '/v2/models/nope/infer')).to.deep.equal([404, "Request for unknown model: 'nope' is not found"]);
      expect(await refusal(simpleJson(), {}, '/v2/models/simple/versions/7/infer')).to.deep.equal([404, "Request for unknown model: 'simple' version 7 is not found"]);
    });

    it('answers 400 naming the byte where a body stops being JSON, and the JSON field that is wrong', async () => {
      expect(await refusal('{"inputs": [1,')).to.deep.equal([400, 'the request body is not valid JSON: expected a value but found the end of the text']);
      expect(await refusal('{"inputs": [] x')).to.deep.equal([400, 'the request body is not valid JSON: expected "," or "}" but found "x" at byte 14']);
      expect(await refusal('{"id": 1, "id": 2}')).to.deep.equal([400, 'the request body is not valid JSON: the key "id" appears twice in one object at byte 10']);
      expect(await refusal(Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]))).to.deep.equal([400, 'the request body is not valid JSON: a string that is not valid UTF-8 at byte 1']);
      expect(await refusal('[]')).to.deep.equal([400, 'the inference request must be a JSON object, got an array']);
      expect(await refusal({})).to.deep.equal([400, '"inputs" must be an array of input tensors, got nothing']);
      expect(await refusal({ inputs: [{ name: 'INPUT0', shape: [1, 16], data: RANGE16 }] })).to.deep.equal([400, 'input "INPUT0": "datatype" must be a string, got nothing']);
      expect(await refusal({ inputs: [{ name: 'INPUT0', datatype: 'INT32', shape: [1, 16.5], data: RANGE16 }] })).to.deep.equal([400, 'input "INPUT0": "shape" must be an array of whole numbers, element 1 is 16.5']);
      expect(await refusal(simpleJson({ id: 7 }))).to.deep.equal([400, '"id" must be a string, got 7']);
      expect(await refusal(simpleJson({ parameters: { binary_data_output: 'yes' } }))).to.deep.equal([400, 'parameter "binary_data_output" must be true or false, got the string "yes"']);
    });

    it('answers 400 naming the input, what the model takes and what came', async () => {
      const with0 = (input: object): object => ({ inputs: [input, { name: 'INPUT1', datatype: 'INT32', shape: [1, 16], data: ONES16 }] });
      expect(await refusal(with0({ name: 'INPUT0', datatype: 'FP32', shape: [1, 16], data: RANGE16 }))).to.deep.equal([400, 'input "INPUT0": expected datatype INT32, got FP32']);
      expect(await refusal(with0({ name: 'INPUT0', datatype: 'INT32', shape: [1, 15], data: RANGE16 }))).to.deep.equal([400, 'input "INPUT0": expected shape [-1,16], got [1,15]']);
      expect(await refusal(with0({ name: 'INPUT0', datatype: 'INT32', shape: [1, 16], data: RANGE16.slice(1) }))).to.deep.equal([400, 'input "INPUT0": shape [1,16] needs 16 elements, "data" has 15']);
      expect(await refusal(with0({ name: 'INPUT0', datatype: 'INT32', shape: [1, 16], data: [...RANGE16.slice(1), 2 ** 31] }))).to.deep.equal([400, 'input "INPUT0": element 15 of "data" is 2147483648, but INT32 takes whole numbers in [-2147483648, 2147483647]']);
      expect(await refusal(with0({ name: 'INPUT0', datatype: 'INT32', shape: [1, 16], data: [...RANGE16.slice(1), 'x'] }))).to.deep.equal([400, 'input "INPUT0": element 15 of "data" is "x", but INT32 takes whole numbers in [-2147483648, 2147483647]']);
      expect(await refusal({ inputs: [{ name: 'INPUT0', datatype: 'INT32', shape: [1, 16], data: RANGE16 }] })).to.deep.equal([400, 'missing input "INPUT1": model "simple" version 1 takes "INPUT0", "INPUT1"']);
      expect(await refusal(simpleJson({ outputs: [{ name: 'OUTPUT9' }] }))).to.deep.equal([400, 'unknown output "OUTPUT9": model "simple" version 1 has "OUTPUT0", "OUTPUT1"']);
    });

    it('answers 400 when the binary data does not match the header: no header length, sizes, or bytes left over', async () => {
      const input = (size: number): object => ({ name: 'INPUT0', datatype: 'INT32', shape: [1, 16], parameters: { binary_data_size: size } });
      const one = { name: 'INPUT1', datatype: 'INT32', shape: [1, 16], data: ONES16 };
      expect(await refusal({ inputs: [input(64), one] })).to.deep.equal([400, 'input "INPUT0" has parameters.binary_data_size, but the request has no Inference-Header-Content-Length header to say where its JSON ends']);
      let b = binaryBody({ inputs: [input(64), one] }, int32s(RANGE16).subarray(4));
      expect(await refusal(b.body, b.headers)).to.deep.equal([400, 'input "INPUT0": binary_data_size is 64, but only 60 bytes of binary data are left']);
      b = binaryBody({ inputs: [input(60), one] }, int32s(RANGE16).subarray(4));
      expect(await refusal(b.body, b.headers)).to.deep.equal([400, 'input "INPUT0": shape [1,16] of INT32 needs 64 bytes of binary data, binary_data_size is 60']);
      b = binaryBody({ inputs: [input(64), one] }, int32s(RANGE16), Buffer.from([1, 2]));
      expect(await refusal(b.body, b.headers)).to.deep.equal([400, "the request has 2 bytes of binary data after the last input's; the inputs' binary_data_size add up to 64"]);
      expect(await refusal(b.body, { 'Inference-Header-Content-Length': 'ten' })).to.deep.equal([400, `Inference-Header-Content-Length must be a whole number of bytes from 1 to the body's ${b.body.length}, got "ten"`]);
      expect(await refusal(b.body, { 'Inference-Header-Content-Length': b.body.length + 1 })).to.deep.equal([400, `Inference-Header-Content-Length must be a whole number of bytes from 1 to the body's ${b.body.length}, got "${b.body.length + 1}"`]);
    });

    it('answers 400 for a compressed body that is not what its Content-Encoding says', async () => {
      const [status, message] = await refusal('not gzip', { 'content-encoding': 'gzip' });
      expect(status).to.equal(400);
      expect(message).to.match(/^the request body is not valid gzip data: /);
    });

    it('answers 413 for a body over --max-message-bytes, as sent, streamed without a length, or once decompressed', async () => {
      const big = JSON.stringify(simpleJson({ id: 'x'.repeat(70 * 1024) }));
      expect(await refusal(big)).to.deep.equal([413, `the request body (${big.length} bytes) is over the limit of 65536 bytes (--max-message-bytes)`]);
      const streamed = await rest(port, 'POST', SIMPLE, { body: big, chunked: true });
      expect([streamed.status, errorOf(streamed)]).to.deep.equal([413, 'the request body is over the limit of 65536 bytes (--max-message-bytes)']);
      const bomb = gzipSync(Buffer.alloc(1024 * 1024, 0x20));
      expect(bomb.length).to.be.below(65536);
      expect(await refusal(bomb, { 'content-encoding': 'gzip' })).to.deep.equal([413, 'the request body once decompressed is over the limit of 65536 bytes (--max-message-bytes)']);
      // The server is fine afterwards.
      expect((await rest(port, 'POST', SIMPLE, { body: simpleJson() })).status).to.equal(200);
    });

    it('answers 413 for more JSON values than --max-request-elements or strings than --max-request-strings, and more binary BYTES elements than the latter', async () => {
      const many = { inputs: [{ name: 'INPUT0', datatype: 'INT32', shape: [1, 6000], data: new Array(6000).fill(0) }] };
      expect(await refusal(many)).to.deep.equal([413, 'the request body holds more than 5000 JSON values (--max-request-elements); send large tensors as binary data']);
      const strings = { inputs: [{ name: 'x_string', datatype: 'BYTES', shape: [101], data: new Array(101).fill('') }] };
      expect(await refusal(strings, {}, '/v2/models/identities/infer')).to.deep.equal([413, 'the request body holds more than 100 JSON strings (--max-request-strings)']);
    });

    it('answers 404 for a path it does not serve and 405 for a method the path does not take', async () => {
      const notFound = await rest(port, 'GET', '/v2/models/simple/infer/more');
      expect([notFound.status, errorOf(notFound)]).to.deep.equal([404, 'Not Found']);
      const wrongMethod = await rest(port, 'GET', SIMPLE);
      expect([wrongMethod.status, wrongMethod.headers['allow'], errorOf(wrongMethod)]).to.deep.equal([405, 'POST', 'Method Not Allowed']);
    });
  });
});
