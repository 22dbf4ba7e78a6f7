import { isUtf8 } from 'node:buffer';
import { InferdError } from '../../inferd-error';

/**
 * A JSON value as parseJson makes it. A number is a JavaScript number, except an integer
 * written outside ±(2^53 − 1), which is a bigint holding exactly what was written (INT64 and
 * UINT64 elements stay exact). Objects have no prototype, so a key such as "__proto__" is a key
 * like any other.
 */
export type JsonValue = null | boolean | number | bigint | string | JsonValue[] | JsonObject;
export interface JsonObject {
  [key: string]: JsonValue;
}

export interface JsonLimits {
  /** Values one document may hold (array elements, object members, the top value); past it, RESOURCE_EXHAUSTED. */
  readonly maxValues: number;
  /** String values one document may hold (keys not counted); past it, RESOURCE_EXHAUSTED. */
  readonly maxStrings: number;
  /** Named in the refusals: how a user raises each limit. */
  readonly valuesFlag: string;
  readonly stringsFlag: string;
}

/** Integers up to this many digits are exact as doubles (10^15 < 2^53). */
const SAFE_DIGITS = 15;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const MINUS = 0x2d;
const PLUS = 0x2b;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;

const ESCAPES: Readonly<Record<number, string>> = { 0x22: '"', 0x5c: '\\', 0x2f: '/', 0x62: '\b', 0x66: '\f', 0x6e: '\n', 0x72: '\r', 0x74: '\t' };

class Malformed extends Error {
  constructor(
    message: string,
    readonly at: number,
  ) {
    super(message);
  }
}

/** An array or object being filled, with the key of the member whose value comes next. */
interface Frame {
  readonly container: JsonValue[] | JsonObject;
  key: string | undefined;
}

/**
 * Parses the UTF-8 JSON text in `bytes` (RFC 8259, nothing more: no comments, no trailing
 * commas, no NaN). Works with a stack of its own, so nesting depth is bounded only by
 * `limits.maxValues`, never by the call stack. Takes time in proportion to the bytes.
 *
 * Throws INVALID_ARGUMENT naming `what`, the problem and its byte offset for text that is not
 * JSON (including invalid UTF-8 and a key given twice in one object), and RESOURCE_EXHAUSTED
 * naming the limit and its flag as soon as a count passes one.
 */
export function parseJson(bytes: Uint8Array, what: string, limits: JsonLimits): JsonValue {
  const parser = new Parser(bytes, what, limits);
  try {
    return parser.document();
  } catch (err) {
    if (err instanceof Malformed) {
      const where = err.at >= bytes.length ? '' : ` at byte ${err.at}`;
      throw new InferdError('INVALID_ARGUMENT', `${what} is not valid JSON: ${err.message}${where}`);
    }
    throw err;
  }
}

class Parser {
  private pos = 0;
  private values = 0;
  private strings = 0;
  private readonly buffer: Buffer;

  constructor(
    private readonly bytes: Uint8Array,
    private readonly what: string,
    private readonly limits: JsonLimits,
  ) {
    this.buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  document(): JsonValue {
    const stack: Frame[] = [];
    this.space();
    for (;;) {
      // A value starts here: a container is opened (and, when not empty, its first value read next), or a scalar read.
      const top = stack[stack.length - 1];
      this.count();
      const c = this.bytes[this.pos];
      if (c === OPEN_ARRAY || c === OPEN_OBJECT) {
        this.pos++;
        const container: JsonValue[] | JsonObject = c === OPEN_ARRAY ? [] : (Object.create(null) as JsonObject);
        this.add(top, container);
        this.space();
        if (this.bytes[this.pos] === (c === OPEN_ARRAY ? CLOSE_ARRAY : CLOSE_OBJECT)) this.pos++;
        else {
          stack.push({ container, key: c === OPEN_OBJECT ? this.key(container as JsonObject) : undefined });
          continue;
        }
      } else this.add(top, this.scalar());
      // After a value: the end of the document, or a comma, or the ends of the containers it completes.
      for (;;) {
        this.space();
        const frame = stack[stack.length - 1];
        if (frame === undefined) {
          if (this.pos !== this.bytes.length) throw new Malformed(`unexpected ${this.describe()} after the JSON value`, this.pos);
          return this.root as JsonValue;
        }
        const isArray = Array.isArray(frame.container);
        const b = this.bytes[this.pos];
        if (b === COMMA) {
          this.pos++;
          this.space();
          if (!isArray) frame.key = this.key(frame.container as JsonObject);
          break;
        }
        if (b !== (isArray ? CLOSE_ARRAY : CLOSE_OBJECT)) throw new Malformed(`expected "," or "${isArray ? ']' : '}'}" but found ${this.describe()}`, this.pos);
        this.pos++;
        stack.pop();
      }
    }
  }

  /** The top value, once read. */
  private root: JsonValue | undefined;

  private add(frame: Frame | undefined, value: JsonValue): void {
    if (frame === undefined) {
      this.root = value;
      return;
    }
    if (Array.isArray(frame.container)) frame.container.push(value);
    else frame.container[frame.key!] = value;
  }

  /** Reads `"key" :` and returns the key; refuses a key the object already has. */
  private key(object: JsonObject): string {
    if (this.bytes[this.pos] !== QUOTE) throw new Malformed(`expected a string key but found ${this.describe()}`, this.pos);
    const at = this.pos;
    const key = this.string();
    if (Object.prototype.hasOwnProperty.call(object, key)) throw new Malformed(`the key "${key.length > 64 ? `${key.slice(0, 64)}…` : key}" appears twice in one object`, at);
    this.space();
    if (this.bytes[this.pos] !== COLON) throw new Malformed(`expected ":" but found ${this.describe()}`, this.pos);
    this.pos++;
    this.space();
    return key;
  }

  private count(): void {
    if (++this.values > this.limits.maxValues) {
      throw new InferdError('RESOURCE_EXHAUSTED', `${this.what} holds more than ${this.limits.maxValues} JSON values (${this.limits.valuesFlag}); send large tensors as binary data`);
    }
  }

  private scalar(): JsonValue {
    const c = this.bytes[this.pos];
    if (c === QUOTE) {
      if (++this.strings > this.limits.maxStrings) {
        throw new InferdError('RESOURCE_EXHAUSTED', `${this.what} holds more than ${this.limits.maxStrings} JSON strings (${this.limits.stringsFlag})`);
      }
      return this.string();
    }
    if (c === MINUS || (c !== undefined && c >= ZERO && c <= NINE)) return this.number();
    if (this.word('true')) return true;
    if (this.word('false')) return false;
    if (this.word('null')) return null;
    throw new Malformed(`expected a value but found ${this.describe()}`, this.pos);
  }

  private word(w: string): boolean {
    for (let i = 0; i < w.length; i++) if (this.bytes[this.pos + i] !== w.charCodeAt(i)) return false;
    this.pos += w.length;
    return true;
  }

  private number(): number | bigint {
    const bytes = this.bytes;
    const start = this.pos;
    let p = start;
    const negative = bytes[p] === MINUS;
    if (negative) p++;
    const digitsFrom = p;
    if (bytes[p] === ZERO) p++;
    else if (bytes[p] !== undefined && bytes[p]! > ZERO && bytes[p]! <= NINE) while (isDigit(bytes[p])) p++;
    else throw new Malformed('expected a digit', p);
    const digits = p - digitsFrom;
    let integer = true;
    if (bytes[p] === DOT) {
      integer = false;
      p++;
      if (!isDigit(bytes[p])) throw new Malformed('expected a digit after "."', p);
      while (isDigit(bytes[p])) p++;
    }
    if (bytes[p] === 0x65 || bytes[p] === 0x45) {
      integer = false;
      p++;
      if (bytes[p] === PLUS || bytes[p] === MINUS) p++;
      if (!isDigit(bytes[p])) throw new Malformed('expected a digit in the exponent', p);
      while (isDigit(bytes[p])) p++;
    }
    this.pos = p;
    if (integer && digits <= SAFE_DIGITS) {
      let n = 0;
      for (let i = digitsFrom; i < p; i++) n = n * 10 + (bytes[i]! - ZERO);
      return negative ? -n : n;
    }
    const text = this.buffer.toString('latin1', start, p);
    if (!integer) return Number(text);
    const big = BigInt(text);
    return big > MAX_SAFE || big < -MAX_SAFE ? big : Number(big);
  }

  private string(): string {
    const bytes = this.bytes;
    const start = ++this.pos;
    let p = start;
    let wide = false;
    for (;;) {
      const b = bytes[p];
      if (b === undefined) throw new Malformed('unterminated string', start - 1);
      if (b === QUOTE) break;
      if (b === BACKSLASH) return this.escapedString(start);
      if (b < 0x20) throw new Malformed('a control character inside a string', p);
      if (b >= 0x80) wide = true;
      p++;
    }
    this.pos = p + 1;
    if (wide && !isUtf8(bytes.subarray(start, p))) throw new Malformed('a string that is not valid UTF-8', start - 1);
    return wide ? this.buffer.toString('utf8', start, p) : this.buffer.toString('latin1', start, p);
  }

  /** The slow path, for a string with escapes: pieces between escapes, decoded and joined. */
  private escapedString(start: number): string {
    const bytes = this.bytes;
    let out = '';
    let from = start;
    let p = start;
    for (;;) {
      const b = bytes[p];
      if (b === undefined) throw new Malformed('unterminated string', start - 1);
      if (b === QUOTE || b === BACKSLASH) {
        const piece = bytes.subarray(from, p);
        if (!isUtf8(piece)) throw new Malformed('a string that is not valid UTF-8', start - 1);
        out += this.buffer.toString('utf8', from, p);
        if (b === QUOTE) {
          this.pos = p + 1;
          return out;
        }
        const e = bytes[p + 1];
        if (e === 0x75) {
          let code = 0;
          for (let i = p + 2; i < p + 6; i++) {
            const h = hexValue(bytes[i]);
            if (h < 0) throw new Malformed('expected 4 hex digits after "\\u"', i);
            code = code * 16 + h;
          }
          out += String.fromCharCode(code);
          p += 6;
        } else {
          const s = e === undefined ? undefined : ESCAPES[e];
          if (s === undefined) throw new Malformed('an unknown escape in a string', p);
          out += s;
          p += 2;
        }
        from = p;
        continue;
      }
      if (b < 0x20) throw new Malformed('a control character inside a string', p);
      p++;
    }
  }

  private space(): void {
    const bytes = this.bytes;
    let p = this.pos;
    for (;;) {
      const b = bytes[p];
      if (b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09) p++;
      else break;
    }
    this.pos = p;
  }

  /** What stands at the current position, for messages. */
  private describe(): string {
    const b = this.bytes[this.pos];
    if (b === undefined) return 'the end of the text';
    return b >= 0x20 && b < 0x7f ? `"${String.fromCharCode(b)}"` : `byte 0x${b.toString(16).padStart(2, '0')}`;
  }
}

function isDigit(b: number | undefined): boolean {
  return b !== undefined && b >= ZERO && b <= NINE;
}

function hexValue(b: number | undefined): number {
  if (b === undefined) return -1;
  if (b >= ZERO && b <= NINE) return b - ZERO;
  if (b >= 0x61 && b <= 0x66) return b - 0x61 + 10;
  if (b >= 0x41 && b <= 0x46) return b - 0x41 + 10;
  return -1;
}
