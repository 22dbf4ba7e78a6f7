import { InferdError } from '../inferd-error';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * One string element as ONNX Runtime takes it. onnxruntime-node cuts a string at its first NUL
 * byte, and string tensors hold text: both are refused (INVALID_ARGUMENT naming the element)
 * rather than handing the model something other than what was sent. `label` names the type as
 * the client's protocol does (STRING, BYTES).
 */
export function stringElement(what: string, bytes: Uint8Array, index: number, label: string): string {
  if (bytes.includes(0)) throw new InferdError('INVALID_ARGUMENT', `${what}: element ${index} contains a NUL byte, which ONNX Runtime cannot carry in a ${label} tensor`);
  try {
    return utf8.decode(bytes);
  } catch {
    throw new InferdError('INVALID_ARGUMENT', `${what}: element ${index} is not valid UTF-8, which ONNX Runtime needs in a ${label} tensor`);
  }
}
