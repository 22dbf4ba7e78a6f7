/** What the floor of one load level is made of: CPU per request, in ms. */
export interface FloorParts {
  /** The bare transport's client (the bench process) for one request of these bytes. */
  readonly transportClientMs: number;
  /** The bare transport's server for one request of these bytes and an answer of the answer's size. */
  readonly transportServerMs: number;
  /** One in-process run of the model on one request's inputs. */
  readonly runMs: number;
}

/** The floor of a request and what a machine of `cores` can do at it. */
export interface MachineLimit {
  /** CPU a request cannot cost less than, client and server together (ms): transport + run. */
  readonly floorMsPerRequest: number;
  /** cores / floor: requests per second with every core busy at the floor. */
  readonly limitPerSecond: number;
}

/**
 * The machine's limit for requests whose bytes cross a bare transport and whose inputs take one
 * run of the model: no server can answer more than `cores` seconds of CPU a second allow, at the
 * floor's CPU per request.
 */
export function machineLimit(parts: FloorParts, cores: number): MachineLimit {
  const floorMsPerRequest = parts.transportClientMs + parts.transportServerMs + parts.runMs;
  return { floorMsPerRequest, limitPerSecond: (cores * 1000) / floorMsPerRequest };
}
