import type { PredictResult } from './client-types';
import { readPredictResponse } from './decode-predict-response';
import { WireReader } from './wire-reader';

/** An inferd.v1.PredictStreamResponse: the answer to the message with `id`, a response or an error. */
export type StreamAnswer =
  | { readonly id: string; readonly response: PredictResult; readonly error: undefined }
  | { readonly id: string; readonly response: undefined; readonly error: { readonly code: number; readonly message: string } };

/** Decodes an inferd.v1.PredictStreamResponse (tensors as decodePredictResponse does). Throws a RangeError for a malformed message. */
export function decodePredictStreamResponse(buf: Buffer): StreamAnswer {
  const r = new WireReader(buf);
  let id = '';
  let response: PredictResult | undefined;
  let error: { code: number; message: string } | undefined;
  while (r.pos < buf.length) {
    const [field, wireType] = r.tag();
    if (field === 1 && wireType === 2) id = r.string();
    else if (field === 2 && wireType === 2) {
      const end = r.enter();
      response = readPredictResponse(r, end);
    } else if (field === 3 && wireType === 2) {
      const end = r.enter();
      error = { code: 0, message: '' };
      while (r.pos < end) {
        const [f, w] = r.tag();
        if (f === 1 && w === 0) error.code = r.int32();
        else if (f === 2 && w === 2) error.message = r.string();
        else r.skip(w);
      }
    } else r.skip(wireType);
  }
  if (error !== undefined) return { id, response: undefined, error };
  return { id, response: response ?? { modelName: '', modelVersion: '', outputs: {}, id }, error: undefined };
}
