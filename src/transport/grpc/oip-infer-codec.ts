import type { InferParameter } from '../../../generated/inference/grpc_service';
import { InferdError } from '../../inferd-error';

/** What inferd reads from a ModelInferRequest's parameters; the others are accepted and left alone. */
export interface OipRequestParameters {
  /** `timeout`, in microseconds: how long the request may wait in the queue; undefined for no limit (absent or 0). */
  readonly timeoutUs: bigint | undefined;
  /** `priority`: accepted and checked, not used yet (one queue per model, first come first served). */
  readonly priority: bigint | undefined;
}

/** A whole number ≥ 0 from an int64 or uint64 parameter; throws INVALID_ARGUMENT for any other value. */
function wholeNumber(name: string, p: InferParameter, unit: string): bigint {
  const value = p.int64Param ?? p.uint64Param;
  if (value === undefined) throw new InferdError('INVALID_ARGUMENT', `parameter "${name}" must be an int64_param or uint64_param (${unit})`);
  if (value < 0n) throw new InferdError('INVALID_ARGUMENT', `parameter "${name}" must be 0 or more (${unit}), got ${value}`);
  return value;
}

/** Reads `timeout` and `priority`. Throws INVALID_ARGUMENT when either is not a whole number ≥ 0. */
export function oipParameters(parameters: Readonly<Record<string, InferParameter>>): OipRequestParameters {
  const timeout = parameters['timeout'];
  const priority = parameters['priority'];
  const timeoutUs = timeout === undefined ? undefined : wholeNumber('timeout', timeout, 'microseconds');
  return {
    timeoutUs: timeoutUs === 0n ? undefined : timeoutUs,
    priority: priority === undefined ? undefined : wholeNumber('priority', priority, '0 for the default level, 1 for the highest'),
  };
}
