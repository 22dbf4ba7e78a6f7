import { InferdError } from '../inferd-error';
import { OIP_CONTENTS_FIELDS } from './oip-datatypes';
import type { OipInput, OipInputTensor, OipTensorContents } from './oip-tensor-types';

/** True when a contents message holds at least one element (an empty message carries nothing). */
function hasContents(contents: OipTensorContents | undefined): boolean {
  return contents !== undefined && OIP_CONTENTS_FIELDS.some((f) => contents[f].length > 0);
}

/**
 * A request's inputs by name, each with its entry of `raw` (raw_input_contents) when the
 * request sent raw contents: entry i belongs to input i. Throws INVALID_ARGUMENT when `raw` is
 * not empty and does not hold one entry per input, when an input is named twice, and when an
 * input carries typed contents in a request that sent raw ones.
 */
export function oipInputs(inputs: readonly OipInputTensor[], raw: readonly Uint8Array[]): Record<string, OipInput> {
  if (raw.length > 0 && raw.length !== inputs.length) {
    throw new InferdError('INVALID_ARGUMENT', `raw_input_contents has ${raw.length} entries for ${inputs.length} inputs: send one per input, in the order of inputs`);
  }
  const seen = new Set<string>();
  const entries: [string, OipInput][] = [];
  inputs.forEach((tensor, i) => {
    if (seen.has(tensor.name)) throw new InferdError('INVALID_ARGUMENT', `input "${tensor.name}" appears more than once`);
    seen.add(tensor.name);
    if (raw.length > 0 && hasContents(tensor.contents)) {
      throw new InferdError('INVALID_ARGUMENT', `input "${tensor.name}": contents must not be specified when using raw_input_contents`);
    }
    entries.push([tensor.name, { tensor, raw: raw.length > 0 ? raw[i]! : undefined }]);
  });
  // fromEntries makes every name an own property, "__proto__" included.
  return Object.fromEntries(entries);
}
