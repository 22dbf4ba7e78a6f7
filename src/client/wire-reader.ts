/**
 * A protobuf wire-format reader over one Buffer, for the messages the client decodes by hand
 * (the prediction answers, whose tensor bytes it hands out as views). Throws a RangeError on a
 * truncated or malformed message.
 */
export class WireReader {
  pos: number;

  constructor(
    readonly buf: Buffer,
    start = 0,
    readonly end = buf.length,
  ) {
    this.pos = start;
  }

  /** A varint as a number (exact below 2^53: lengths, tags, dimensions, enum values). */
  uint53(): number {
    let n = 0;
    let scale = 1;
    for (;;) {
      if (this.pos >= this.end) throw new RangeError('truncated varint');
      const b = this.buf[this.pos++]!;
      n += (b & 0x7f) * scale;
      if (b < 0x80) return n;
      scale *= 128;
      if (scale > 2 ** 70) throw new RangeError('varint too long');
    }
  }

  /** A varint as an unsigned 64-bit bigint. */
  uint64(): bigint {
    let n = 0n;
    let shift = 0n;
    for (;;) {
      if (this.pos >= this.end) throw new RangeError('truncated varint');
      const b = this.buf[this.pos++]!;
      n |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) return BigInt.asUintN(64, n);
      shift += 7n;
      if (shift > 63n) throw new RangeError('varint too long');
    }
  }

  int64(): bigint {
    return BigInt.asIntN(64, this.uint64());
  }

  /** An int32 varint (negative values come as 10-byte varints: their low 32 bits are the value). */
  int32(): number {
    return Number(BigInt.asIntN(32, this.uint64()));
  }

  /** Reads a length-delimited field's length and returns where its body ends; the body is read next. */
  enter(): number {
    const length = this.uint53();
    if (this.pos + length > this.end) throw new RangeError('truncated length-delimited field');
    return this.pos + length;
  }

  /** The bounds of a length-delimited field's body, moving past it. */
  delimited(): [start: number, end: number] {
    const length = this.uint53();
    const start = this.pos;
    if (start + length > this.end) throw new RangeError('truncated length-delimited field');
    this.pos += length;
    return [start, this.pos];
  }

  string(): string {
    const [start, end] = this.delimited();
    return this.buf.toString('utf8', start, end);
  }

  float(): number {
    if (this.pos + 4 > this.end) throw new RangeError('truncated fixed32');
    const v = this.buf.readFloatLE(this.pos);
    this.pos += 4;
    return v;
  }

  double(): number {
    if (this.pos + 8 > this.end) throw new RangeError('truncated fixed64');
    const v = this.buf.readDoubleLE(this.pos);
    this.pos += 8;
    return v;
  }

  /** Moves past a field of `wireType` whose tag was just read. */
  skip(wireType: number): void {
    switch (wireType) {
      case 0:
        this.uint53();
        break;
      case 1:
        this.pos += 8;
        break;
      case 2:
        this.delimited();
        break;
      case 5:
        this.pos += 4;
        break;
      default:
        throw new RangeError(`wire type ${wireType} cannot be skipped`);
    }
    if (this.pos > this.end) throw new RangeError('truncated field');
  }
}
