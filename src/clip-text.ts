/** Most characters of a client's text (a name, a shape) that an error message quotes. */
export const MAX_QUOTED_CHARS = 1024;

/**
 * Client-supplied text as an error message quotes it: whole when it has at most `maxChars`
 * characters, else its first `maxChars` followed by "…". A client may send a name of a
 * hundred thousand characters; the message naming it stays small (a gRPC status travels in a
 * trailer that clients refuse past a few KiB). Never splits a surrogate pair.
 */
export function clipText(text: string, maxChars = MAX_QUOTED_CHARS): string {
  if (text.length <= maxChars) return text;
  const high = text.charCodeAt(maxChars - 1);
  const end = high >= 0xd800 && high <= 0xdbff ? maxChars - 1 : maxChars;
  return `${text.slice(0, end)}…`;
}
