import { expect } from 'chai';
import { InferdError } from '../../../../src/inferd-error';
import { parseJson, type JsonValue } from '../../../../src/transport/http/parse-json';

const LIMITS = { maxValues: 1000, maxStrings: 100, valuesFlag: '--max-request-elements', stringsFlag: '--max-request-strings' };
const parse = (text: string | Uint8Array, limits = LIMITS): JsonValue => parseJson(typeof text === 'string' ? Buffer.from(text) : text, 'the body', limits);

function failure(text: string, limits = LIMITS): [string, string] {
  try {
    parse(text, limits);
  } catch (err) {
    if (err instanceof InferdError) return [err.code, err.message];
    throw err;
  }
  throw new Error('parsed');
}

describe('parseJson', () => {
  it('reads what JSON.parse reads, for every kind of value, escapes and whitespace included', () => {
    const text = ' {"a": [1, -2.5, 1e3, 0, -0.0, true, false, null, "x\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\ud83d\\ude00", {}, []], "b": {"c": "héllo ✓"}}\n';
    expect(parse(text)).to.deep.equal(JSON.parse(text));
    expect(parse('"just a string"')).to.equal('just a string');
    expect(parse('42')).to.equal(42);
  });

  it('keeps integers past 2^53 exact, as bigints, and those within it as numbers', () => {
    expect(parse('[9007199254740991, -9007199254740991, 9007199254740993, -9223372036854775808, 18446744073709551615, 123456789012345678901234567890]')).to.deep.equal([
      9007199254740991, -9007199254740991, 9007199254740993n, -9223372036854775808n, 18446744073709551615n, 123456789012345678901234567890n,
    ]);
    expect(parse('[0.1, 1.5e300, 9007199254740993.0]')).to.deep.equal([0.1, 1.5e300, 9007199254740992]);
  });

  it('makes objects without a prototype, so that "__proto__" is a key like any other', () => {
    const o = parse('{"__proto__": {"polluted": true}}') as Record<string, JsonValue>;
    expect(Object.getPrototypeOf(o)).to.equal(null);
    expect(Object.keys(o)).to.deep.equal(['__proto__']);
    expect(({} as Record<string, unknown>)['polluted']).to.equal(undefined);
  });

  it('takes nesting far deeper than the call stack allows', () => {
    const depth = 100_000;
    let v = parse(`${'['.repeat(depth)}${']'.repeat(depth)}`, { ...LIMITS, maxValues: depth });
    let levels = 1;
    while (Array.isArray(v) && v.length === 1) {
      v = v[0]!;
      levels++;
    }
    expect(levels).to.equal(depth);
  });

  it('refuses what is not JSON, naming the problem and the byte', () => {
    expect(failure('')).to.deep.equal(['INVALID_ARGUMENT', 'the body is not valid JSON: expected a value but found the end of the text']);
    expect(failure('[1,]')).to.deep.equal(['INVALID_ARGUMENT', 'the body is not valid JSON: expected a value but found "]" at byte 3']);
    expect(failure('[01]')).to.deep.equal(['INVALID_ARGUMENT', 'the body is not valid JSON: expected "," or "]" but found "1" at byte 2']);
    expect(failure('[NaN]')).to.deep.equal(['INVALID_ARGUMENT', 'the body is not valid JSON: expected a value but found "N" at byte 1']);
    expect(failure('{"a" 1}')).to.deep.equal(['INVALID_ARGUMENT', 'the body is not valid JSON: expected ":" but found "1" at byte 5']);
    expect(failure('{a: 1}')).to.deep.equal(['INVALID_ARGUMENT', 'the body is not valid JSON: expected a string key but found "a" at byte 1']);
    expect(failure('"abc')).to.deep.equal(['INVALID_ARGUMENT', 'the body is not valid JSON: unterminated string at byte 0']);
    expect(failure('"a\nb"')).to.deep.equal(['INVALID_ARGUMENT', 'the body is not valid JSON: a control character inside a string at byte 2']);
    expect(failure('"\\x"')).to.deep.equal(['INVALID_ARGUMENT', 'the body is not valid JSON: an unknown escape in a string at byte 1']);
    expect(failure('"\\u12g4"')).to.deep.equal(['INVALID_ARGUMENT', 'the body is not valid JSON: expected 4 hex digits after "\\u" at byte 5']);
    expect(failure('1.')).to.deep.equal(['INVALID_ARGUMENT', 'the body is not valid JSON: expected a digit after "."']);
    expect(failure('{} {}')).to.deep.equal(['INVALID_ARGUMENT', 'the body is not valid JSON: unexpected "{" after the JSON value at byte 3']);
    expect(failure('{"a": 1, "a": 2}')).to.deep.equal(['INVALID_ARGUMENT', 'the body is not valid JSON: the key "a" appears twice in one object at byte 9']);
  });

  it('refuses bytes that are not UTF-8 inside a string', () => {
    expect(() => parse(Uint8Array.of(0x22, 0xc3, 0x28, 0x22))).to.throw(InferdError, 'a string that is not valid UTF-8 at byte 0');
  });

  it('stops at the first value past maxValues and the first string past maxStrings, naming the flag', () => {
    expect(failure('[1,2,3]', { ...LIMITS, maxValues: 3 })).to.deep.equal(['RESOURCE_EXHAUSTED', 'the body holds more than 3 JSON values (--max-request-elements); send large tensors as binary data']);
    expect(parse('[1,2]', { ...LIMITS, maxValues: 3 })).to.deep.equal([1, 2]);
    expect(failure('["a","b",{"k":"c"}]', { ...LIMITS, maxStrings: 2 })).to.deep.equal(['RESOURCE_EXHAUSTED', 'the body holds more than 2 JSON strings (--max-request-strings)']);
  });
});
