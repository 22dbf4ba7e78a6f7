/** A shape as messages show it: `[-1,16]`. */
export function formatShape(dims: readonly (number | bigint)[]): string {
  return `[${dims.join(',')}]`;
}
