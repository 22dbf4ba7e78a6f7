import type { PredictResult } from './client-types';
import { readPredictResponse } from './decode-predict-response';
import { WireReader } from './wire-reader';

/** An inferd.v1.PredictStreamResponse: the answer to the message with `id`, a response or an error. */
export type StreamAnswer =
  | { readonly id: string; readonly response: PredictResult; readonly error: undefined }
  | {
      readonly id: string;
      readonly response: undefined;
      readonly error: { readonly code: number; readonly message: string };
    };

/** Decodes an inferd.v1.PredictStreamResponse (tensors as decodePredictResponse does). Throws a RangeError for a malformed message. */
export function decodePredictStreamResponse(buf: Buffer): StreamAnswer {
  const r = new WireReader(buf);
  let id = '';
  let response: PredictResult | undefined;
  let error: { code: number; message: string } | undefined;
  while (r.pos < buf.length) {
    const tag = r.uint53();
    if (tag === 0x0a)
      id = r.string(); // 1: id
    else if (tag === 0x12) {
      // 2: response
      const end = r.enter();
      response = readPredictResponse(r, end);
    } else if (tag === 0x1a) {
      // 3: error
      const end = r.enter();
      error = { code: 0, message: '' };
      while (r.pos < end) {
        const t = r.uint53();
        if (t === 0x08) error.code = r.int32();
        else if (t === 0x12) error.message = r.string();
        else r.skip(t % 8);
      }
    } else r.skip(tag % 8);
  }
  if (error !== undefined) return { id, response: undefined, error };
  return { id, response: response ?? { modelName: '', modelVersion: '', outputs: {}, id }, error: undefined };
}
