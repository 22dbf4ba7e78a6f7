/** What jsonText writes: JSON's values, with bigints written as exact numbers. */
export type JsonWritable = null | boolean | number | bigint | string | readonly JsonWritable[] | { readonly [key: string]: JsonWritable | undefined };

/**
 * JSON text for a small document (metadata, statistics): as JSON.stringify, except that a
 * bigint is written as the exact integer it holds (uint64 counters stay exact) and members
 * whose value is undefined are left out. Recursive: for documents inferd builds, not for tensors.
 */
export function jsonText(value: JsonWritable): string {
  if (typeof value === 'bigint') return value.toString();
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map((v: JsonWritable) => jsonText(v)).join(',')}]`;
  const members: string[] = [];
  for (const [key, v] of Object.entries(value)) if (v !== undefined) members.push(`${JSON.stringify(key)}:${jsonText(v)}`);
  return `{${members.join(',')}}`;
}
