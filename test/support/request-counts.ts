import { httpGet } from './telemetry';

/**
 * Requests a server has answered for `model` with status `code` (the sum over its versions),
 * read from inferd_requests_total on its /metrics.
 */
export async function requestsAnswered(httpPort: number, model: string, code: string): Promise<number> {
  const { body } = await httpGet(httpPort, '/metrics');
  let total = 0;
  for (const line of body.split('\n')) {
    const m = /^inferd_requests_total\{(.*)\} (\S+)$/.exec(line);
    if (m !== null && m[1]!.includes(`model="${model}"`) && m[1]!.includes(`code="${code}"`)) total += Number(m[2]);
  }
  return total;
}
