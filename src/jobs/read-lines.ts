import { promises as fs } from 'node:fs';

/** One line of a text file, without its line ending. */
export interface Line {
  readonly text: string;
  /** 1-based line number in the file. */
  readonly number: number;
  /** Byte offset just past the line's ending: where the next line starts. */
  readonly end: number;
}

export interface ReadLinesOptions {
  /** Byte offset to start at (the `end` of a line read before); 0 for the start. */
  readonly fromOffset: number;
  /** Lines before `fromOffset` (the `number` of that line); 0 at the start. */
  readonly fromLine: number;
  /** Longest line taken, in bytes; a longer one throws. */
  readonly maxLineBytes: number;
  /** Bytes read at a time. */
  readonly chunkBytes?: number;
}

/** A file that is not text as the reader takes it: invalid UTF-8, or a line too long. */
export class MalformedLineError extends Error {
  override readonly name = 'MalformedLineError';

  constructor(
    readonly line: number,
    /** What is wrong with the line, e.g. "not valid UTF-8". */
    readonly reason: string,
  ) {
    super(`line ${line}: ${reason}`);
  }
}

/**
 * Reads a UTF-8 text file line by line from a byte offset, telling each line's number and where
 * it ends, so that a reader can stop after any line and start again exactly there. Lines end at
 * "\n" (a "\r" before it is dropped); a last line without one is read too. A byte-order mark at
 * the start of the file is skipped. Throws MalformedLineError for bytes that are not UTF-8 or a
 * line longer than `maxLineBytes`; rejects with the file-system error when the file cannot be read.
 */
export async function* readLines(file: string, options: ReadLinesOptions): AsyncGenerator<Line> {
  const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  const handle = await fs.open(file, 'r');
  try {
    const chunk = Buffer.alloc(options.chunkBytes ?? 64 * 1024);
    let position = options.fromOffset;
    let number = options.fromLine;
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    let lineStart = position;
    const decode = (bytes: Buffer, at: number): string => {
      let body = bytes.length > 0 && bytes[bytes.length - 1] === 0x0d ? bytes.subarray(0, bytes.length - 1) : bytes;
      if (at === 0 && body.length >= 3 && body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf) body = body.subarray(3);
      try {
        return decoder.decode(body);
      } catch {
        throw new MalformedLineError(number, 'not valid UTF-8');
      }
    };
    for (;;) {
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, position);
      if (bytesRead === 0) break;
      let from = 0;
      for (;;) {
        const nl = chunk.indexOf(0x0a, from);
        if (nl < 0 || nl >= bytesRead) break;
        number++;
        const piece = chunk.subarray(from, nl);
        const bytes = pendingBytes === 0 ? piece : Buffer.concat([...pending, piece]);
        if (bytes.length > options.maxLineBytes) throw new MalformedLineError(number, `longer than ${options.maxLineBytes} bytes`);
        const end = position + nl + 1;
        yield { text: decode(bytes, lineStart), number, end };
        lineStart = end;
        pending = [];
        pendingBytes = 0;
        from = nl + 1;
      }
      if (from < bytesRead) {
        pending.push(Buffer.from(chunk.subarray(from, bytesRead)));
        pendingBytes += bytesRead - from;
        if (pendingBytes > options.maxLineBytes) throw new MalformedLineError(number + 1, `longer than ${options.maxLineBytes} bytes`);
      }
      position += bytesRead;
    }
    if (pendingBytes > 0) {
      number++;
      yield { text: decode(Buffer.concat(pending), lineStart), number, end: position };
    }
  } finally {
    await handle.close();
  }
}
