/** Records as JSON Lines: one JSON.stringify a line, each ended by "\n". */
export function jsonl(records: readonly unknown[]): string {
  return records.map((r) => `${JSON.stringify(r)}\n`).join('');
}

/** What JSON.parse says of `text` on this Node (its wording changes between versions); throws when `text` parses. */
export function jsonError(text: string): string {
  try {
    JSON.parse(text);
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error(`${text} parsed`);
}
