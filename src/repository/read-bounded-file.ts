import { promises as fs } from 'node:fs';

/**
 * Reads a whole text file of at most `maxBytes` bytes (UTF-8). Rejects, without reading past
 * `maxBytes + 1` bytes, with an Error saying "is larger than N bytes" when the file is longer,
 * or with the file system's error. The bound keeps a hostile file from taking the parser's
 * memory and the event loop's time: parsing a YAML list of numbers takes ~500 bytes of heap and
 * ~5 µs per byte of it (yaml 2.9, measured here), so a 10 MB file would end the process.
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
    if (length > maxBytes) throw new Error(`is larger than ${maxBytes} bytes (--max-model-config-bytes)`);
    return buffer.toString('utf8', 0, length);
  } finally {
    await handle.close();
  }
}
