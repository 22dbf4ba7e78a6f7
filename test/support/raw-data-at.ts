import { PredictRequest } from '../../generated/inferd/v1/prediction_service';

/**
 * Bytes of the header grpc-js reads before each message (compressed flag, length). The server
 * decodes a message from a buffer of its own, 8-byte aligned, that starts with this header.
 */
export const GRPC_FRAME_HEADER_BYTES = 5;

/** Where input `name`'s raw_data begins in `request` as PredictRequest.encode writes it. */
export function rawDataAt(request: PredictRequest, name: string): number {
  const bytes = PredictRequest.encode(request).finish();
  return PredictRequest.decode(bytes).inputs[name]!.rawData.byteOffset - bytes.byteOffset;
}
