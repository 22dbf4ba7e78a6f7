/**
 * Settles once `condition` holds, checking it every `everyMs`; rejects naming `what` when it does
 * not hold within `withinMs`. For state that changes in the background (a reload, a log line).
 */
export async function until(
  condition: () => boolean | Promise<boolean>,
  what: string,
  withinMs = 10_000,
  everyMs = 20,
): Promise<void> {
  const end = Date.now() + withinMs;
  while (!(await condition())) {
    if (Date.now() > end) throw new Error(`${what}: not within ${withinMs} ms`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
