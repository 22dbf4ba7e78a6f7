import { InferdError } from '../../inferd-error';
import type { FieldLayout, MessageLayout } from './request-layouts';

/** What one request may cost to decode. */
export interface RequestLimits {
  /**
   * Elements a request may carry outside raw bytes: tensor elements in typed fields (strings
   * included), shape dimensions, names and map entries; each costs a JavaScript value or more
   * once decoded, whatever its size on the wire.
   */
  readonly maxRequestElements: number;
  /** STRING (BYTES) tensor elements a request may carry, in whichever field, raw ones included. */
  readonly maxRequestStrings: number;
}

/** What the scan found. */
export interface RequestScan {
  /** The request's id ('' when it has none or comes after the fault), so that a refusal can be answered with it. */
  readonly id: string;
  /** Why the request is refused, or undefined when it may be decoded. */
  readonly refusal: InferdError | undefined;
}

/** Bytes of the length before each BYTES element of raw_input_contents. */
const LENGTH_PREFIX_BYTES = 4;
/** Deepest nesting of groups in unknown fields, as protobuf decoders allow. */
const MAX_DEPTH = 100;
const utf8 = new TextDecoder();

/** An input of the request while the scan reads it. */
interface InputFrame {
  /** 1-based position among the inputs, to name it before its name is read. */
  readonly position: number;
  name: string | undefined;
  datatype: string;
  readonly counts: Map<FieldLayout, number>;
}

class MalformedRequest extends Error {}

/**
 * Walks the protobuf wire bytes of a request that carries tensors and counts what decoding it
 * would make, without decoding it (nothing is allocated per element): elements of packed fields
 * by byte length (varints by their last bytes), entries of repeated string and bytes fields one
 * by one, BYTES elements of raw_input_contents by their length prefixes. Stops at the first limit
 * passed: it takes time in proportion to the limits and the bytes of packed varint fields (a
 * loop over bytes), not to the rest of the message.
 *
 * Refuses with RESOURCE_EXHAUSTED naming the limit (and its flag) and the field that passed it,
 * and with INVALID_ARGUMENT when the bytes are not a well-formed message (truncated, a wire type
 * that does not exist). What it lets through may still fail to decode for reasons it does not
 * look at.
 */
export function scanRequest(bytes: Uint8Array, layout: MessageLayout, limits: RequestLimits): RequestScan {
  const scan = new Scan(bytes, limits);
  try {
    scan.message(layout, 0, bytes.length, undefined, 0);
  } catch (err) {
    if (!(err instanceof MalformedRequest)) throw err;
    return {
      id: scan.id,
      refusal: new InferdError('INVALID_ARGUMENT', `the request is not a valid ${layout.name}: ${err.message}`),
    };
  }
  if (scan.over === undefined) scan.countRawStrings();
  return { id: scan.id, refusal: scan.over };
}

class Scan {
  pos = 0;
  elements = 0;
  strings = 0;
  id = '';
  /** The first limit passed; from then on the scan only looks for the id. */
  over: InferdError | undefined;
  readonly inputs: InputFrame[] = [];
  readonly raw: [number, number][] = [];
  private readonly topCounts = new Map<FieldLayout, number>();

  constructor(
    private readonly buf: Uint8Array,
    private readonly limits: RequestLimits,
  ) {}

  /** Walks the fields of a message in [start, end). */
  message(layout: MessageLayout, start: number, end: number, frame: InputFrame | undefined, depth: number): void {
    if (layout.input) {
      frame = { position: this.inputs.length + 1, name: undefined, datatype: '', counts: new Map() };
      this.inputs.push(frame);
    }
    this.pos = start;
    while (this.pos < end) {
      const tag = this.varint(end);
      const wireType = tag & 7;
      const field = layout.fields.get(tag >>> 3);
      if (field === undefined || this.over !== undefined) {
        if (this.over !== undefined && depth > 0) {
          // Past a limit only the top level's id is still of use.
          this.pos = end;
          return;
        }
        if (field?.kind === 'id' && wireType === 2) this.id = this.text(end);
        else this.skip(wireType, tag, end, depth);
        continue;
      }
      this.field(field, wireType, tag, end, frame, depth);
    }
  }

  private field(
    field: FieldLayout,
    wireType: number,
    tag: number,
    end: number,
    frame: InputFrame | undefined,
    depth: number,
  ): void {
    switch (field.kind) {
      case 'varint':
      case 'fixed32':
      case 'fixed64': {
        if (wireType !== 2) {
          // One element not packed.
          this.skip(wireType, tag, end, depth);
          this.count(field, frame, 1, undefined, true);
          return;
        }
        const [from, to] = this.delimited(end);
        let n: number;
        if (field.kind === 'fixed32') n = Math.ceil((to - from) / 4);
        else if (field.kind === 'fixed64') n = Math.ceil((to - from) / 8);
        else {
          // A varint ends at each byte below 0x80: a loop over bytes, counted whole so that a refusal says how many came.
          const buf = this.buf;
          n = 0;
          for (let i = from; i < to; i++) if (buf[i]! < 0x80) n++;
        }
        this.count(field, frame, n, undefined, true);
        return;
      }
      case 'entries': {
        if (wireType !== 2) return this.skip(wireType, tag, end, depth);
        // The entries of a repeated field come one after another: counted in one go, up to the room left.
        const strings = field.strings;
        const room = Math.min(
          this.limits.maxRequestElements - this.elements,
          strings !== undefined ? this.limits.maxRequestStrings - this.strings : Infinity,
        );
        let n = 0;
        let whole = true;
        for (;;) {
          this.skipDelimited(end);
          if (++n > room) {
            whole = false;
            break;
          }
          if (this.pos >= end) break;
          const next = this.pos;
          if (this.varint(end) !== tag) {
            this.pos = next;
            break;
          }
        }
        this.count(field, frame, n, strings, whole);
        return;
      }
      case 'message': {
        if (wireType !== 2) return this.skip(wireType, tag, end, depth);
        const [from, to] = this.delimited(end);
        if (field.repeated) this.count(field, frame, 1, undefined, true);
        if (this.over === undefined) this.message(field.layout, from, to, frame, depth + 1);
        this.pos = to;
        return;
      }
      case 'raw-entries': {
        if (wireType !== 2) return this.skip(wireType, tag, end, depth);
        this.raw.push(this.delimited(end));
        this.count(field, frame, 1, undefined, true);
        return;
      }
      case 'id':
      case 'input-name':
      case 'datatype': {
        if (wireType !== 2) return this.skip(wireType, tag, end, depth);
        const text = this.text(end);
        if (field.kind === 'id') this.id = text;
        else if (frame !== undefined && field.kind === 'input-name') frame.name = text;
        else if (frame !== undefined) frame.datatype = text;
        return;
      }
    }
  }

  /**
   * Adds `n` values of `field` (string elements too when `strings` labels them: STRING, BYTES);
   * past a limit, records the refusal. `whole`: n is every value of this run (else the count
   * named is a lower bound).
   */
  private count(
    field: FieldLayout,
    frame: InputFrame | undefined,
    n: number,
    strings: string | undefined,
    whole: boolean,
  ): void {
    const counts = frame?.counts ?? this.topCounts;
    const inField = (counts.get(field) ?? 0) + n;
    counts.set(field, inField);
    this.elements += n;
    if (strings !== undefined) this.strings += n;
    const overStrings = strings !== undefined && this.strings > this.limits.maxRequestStrings;
    if (!overStrings && this.elements <= this.limits.maxRequestElements) return;
    const holds = `${field.name}${frame === undefined ? '' : ` of ${inputName(frame)}`} holds ${whole ? '' : 'at least '}${inField}`;
    this.over = overStrings
      ? new InferdError(
          'RESOURCE_EXHAUSTED',
          `the request carries more than ${this.limits.maxRequestStrings} ${strings} elements, the limit per request (--max-request-strings): ${holds}`,
        )
      : new InferdError(
          'RESOURCE_EXHAUSTED',
          `the request carries more than ${this.limits.maxRequestElements} elements outside raw bytes, the limit per request (--max-request-elements): ${holds}; numeric tensors sent as raw bytes are not counted`,
        );
  }

  /** Counts the BYTES elements of raw_input_contents by their length prefixes (entry i belongs to input i). */
  countRawStrings(): void {
    this.raw.forEach(([from, to], i) => {
      const input = this.inputs[i];
      if (input?.datatype !== 'BYTES' || this.over !== undefined) return;
      const view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
      let n = 0;
      // A malformed entry is left for the decoder, which says where it goes wrong.
      for (let at = from; at + LENGTH_PREFIX_BYTES <= to && this.strings + n <= this.limits.maxRequestStrings; n++) {
        at += LENGTH_PREFIX_BYTES + view.getUint32(at, true);
      }
      this.strings += n;
      if (this.strings > this.limits.maxRequestStrings) {
        this.over = new InferdError(
          'RESOURCE_EXHAUSTED',
          `the request carries more than ${this.limits.maxRequestStrings} BYTES elements, the limit per request (--max-request-strings): raw_input_contents of ${inputName(input)} holds at least ${n}`,
        );
      }
    });
  }

  /** Reads a varint that fits a number exactly (tags and lengths do). */
  private varint(end: number): number {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      if (this.pos >= end) throw new MalformedRequest('a varint runs past the end of its message');
      const b = this.buf[this.pos++]!;
      value += (b & 0x7f) * scale;
      if (b < 0x80) return value;
      scale *= 128;
    }
    throw new MalformedRequest('a tag or length is longer than protobuf allows');
  }

  /** A length-delimited field's bounds, with the position moved past it. */
  private delimited(end: number): [number, number] {
    const from = this.skipDelimited(end);
    return [from, this.pos];
  }

  /** Moves past a length-delimited field; returns where its bytes start. */
  private skipDelimited(end: number): number {
    const length = this.varint(end);
    const from = this.pos;
    if (length > end - from)
      throw new MalformedRequest(
        `a field of ${length} bytes runs past the end of its message (${end - from} bytes left)`,
      );
    this.pos = from + length;
    return from;
  }

  private text(end: number): string {
    const [from, to] = this.delimited(end);
    return utf8.decode(this.buf.subarray(from, to));
  }

  /** Moves past one field's value. */
  private skip(wireType: number, tag: number, end: number, depth: number): void {
    switch (wireType) {
      case 0:
        for (;;) {
          if (this.pos >= end) throw new MalformedRequest('a varint runs past the end of its message');
          if (this.buf[this.pos++]! < 0x80) return;
        }
      case 1:
      case 5: {
        const size = wireType === 1 ? 8 : 4;
        if (end - this.pos < size) throw new MalformedRequest(`a ${size}-byte value runs past the end of its message`);
        this.pos += size;
        return;
      }
      case 2:
        this.skipDelimited(end);
        return;
      case 3: {
        if (depth >= MAX_DEPTH) throw new MalformedRequest('groups nest too deep');
        for (;;) {
          const inner = this.varint(end);
          if ((inner & 7) === 4) {
            if (inner >>> 3 !== tag >>> 3) throw new MalformedRequest('a group ends with the wrong field number');
            return;
          }
          this.skip(inner & 7, inner, end, depth + 1);
        }
      }
      case 4:
        throw new MalformedRequest(`field ${tag >>> 3} ends a group that was not started`);
      default:
        throw new MalformedRequest(`field ${tag >>> 3} has wire type ${wireType}, which protobuf does not have`);
    }
  }
}

/** An input as messages name it: by name once read, else by position. */
function inputName(frame: InputFrame): string {
  return frame.name === undefined ? `input #${frame.position}` : `input "${frame.name}"`;
}
