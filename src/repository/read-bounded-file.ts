import { promises as fs } from 'node:fs';

/** The file is longer than the bound: nothing of it was parsed. */
export class FileTooLargeError extends Error {
  override readonly name = 'FileTooLargeError';

  constructor(readonly maxBytes: number) {
    super(`is larger than ${maxBytes} bytes (--max-model-config-bytes)`);
  }
}

/**
 * Reads a whole text file of at most `maxBytes` bytes (UTF-8). Rejects, without reading past
 * `maxBytes + 1` bytes, with a FileTooLargeError when the file is longer,
 * or with the file system's error. The bound keeps a hostile file from taking the parser's
 * memory and the event loop's time: parsing YAML takes hundreds of bytes of heap per byte of
 * it (README, "Per-model configuration"), so a file of a few megabytes would end the process.
 */
export async function readBoundedFile(file: string, maxBytes: number): Promise<string> {
  const handle = await fs.open(file, 'r');
  try {
    const buffer = Buffer.allocUnsafe(maxBytes + 1);
    let length = 0;
    while (length < buffer.length) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    if (length > maxBytes) throw new FileTooLargeError(maxBytes);
    return buffer.toString('utf8', 0, length);
  } finally {
    await handle.close();
  }
}
