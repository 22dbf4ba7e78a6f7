import { promises as fs } from 'node:fs';

/** One line of a text file, without its line ending. */
export interface Line {
  /** The line's text; "" when it is malformed. */
  readonly text: string;
  /** 1-based line number in the file. */
  readonly number: number;
  /** Byte offset just past the line's ending: where the next line starts. */
  readonly end: number;
  /** Why the line cannot be read as text ("not valid UTF-8", "longer than N bytes"); undefined for a good line. */
  readonly malformed?: string | undefined;
}

export interface ReadLinesOptions {
  /** Byte offset to start at (the `end` of a line read before); 0 for the start. */
  readonly fromOffset: number;
  /** Lines before `fromOffset` (the `number` of that line); 0 at the start. */
  readonly fromLine: number;
  /** Longest line taken, in bytes; a longer one is skipped to its end and yielded as malformed. */
  readonly maxLineBytes: number;
  /** Bytes read at a time. */
  readonly chunkBytes?: number;
}

/**
 * Reads a UTF-8 text file line by line from a byte offset, telling each line's number and where
 * it ends, so that a reader can stop after any line and start again exactly there. Lines end at
 * "\n" (a "\r" before it is dropped); a last line without one is read too. A byte-order mark at
 * the start of the file is skipped. A line that is not text (bytes that are not UTF-8, or longer
 * than `maxLineBytes`, which is then skipped without being held in memory) is yielded with
 * `malformed` saying why, and reading goes on with the next line. Rejects with the file-system
 * error when the file cannot be read.
 */
export async function* readLines(file: string, options: ReadLinesOptions): AsyncGenerator<Line> {
  const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  const tooLong = `longer than ${options.maxLineBytes} bytes`;
  const handle = await fs.open(file, 'r');
  try {
    const chunk = Buffer.alloc(options.chunkBytes ?? 64 * 1024);
    let position = options.fromOffset;
    let number = options.fromLine;
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    /** The line being read is past maxLineBytes: its bytes are dropped until its end. */
    let skipping = false;
    let lineStart = position;
    const line = (bytes: Buffer, end: number): Line => {
      number++;
      const at = lineStart;
      lineStart = end;
      if (skipping || bytes.length > options.maxLineBytes) return { text: '', number, end, malformed: tooLong };
      let body = bytes.length > 0 && bytes[bytes.length - 1] === 0x0d ? bytes.subarray(0, bytes.length - 1) : bytes;
      if (at === 0 && body.length >= 3 && body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf)
        body = body.subarray(3);
      try {
        return { text: decoder.decode(body), number, end };
      } catch {
        return { text: '', number, end, malformed: 'not valid UTF-8' };
      }
    };
    for (;;) {
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, position);
      if (bytesRead === 0) break;
      let from = 0;
      for (;;) {
        const nl = chunk.indexOf(0x0a, from);
        if (nl < 0 || nl >= bytesRead) break;
        const piece = chunk.subarray(from, nl);
        yield line(pendingBytes === 0 || skipping ? piece : Buffer.concat([...pending, piece]), position + nl + 1);
        pending = [];
        pendingBytes = 0;
        skipping = false;
        from = nl + 1;
      }
      if (from < bytesRead && !skipping) {
        pending.push(Buffer.from(chunk.subarray(from, bytesRead)));
        pendingBytes += bytesRead - from;
        if (pendingBytes > options.maxLineBytes) {
          skipping = true;
          pending = [];
          pendingBytes = 0;
        }
      }
      position += bytesRead;
    }
    if (pendingBytes > 0 || skipping) yield line(Buffer.concat(pending), position);
  } finally {
    await handle.close();
  }
}
