import { Client } from '@grpc/grpc-js';
import { PredictRequest } from '../../generated/inferd/v1/prediction_service';
import { Tensor } from '../../generated/inferd/v1/tensor';
import { callMetadata, channelSettings } from '../client/client-channel';
import type { ClientTls } from '../client/client-types';
import { elementType } from '../tensor/element-types';
import type { HostTensor } from '../tensor/tensor-types';
import type { RawTarget } from './load-generator';

/**
 * The bench's raw grpc-js path: inferd.v1 requests encoded once by the generated code and sent
 * as bytes, answers not decoded, so that what is measured is the server and the transport.
 */

/** Encodes request `id` of the model with these inputs (their elements in raw_data). */
export function predictRequestEncoder(
  model: string,
  inputs: readonly { readonly name: string; readonly host: HostTensor }[],
): (id: number) => Buffer {
  const wire = Object.fromEntries(inputs.map((i) => [i.name, rawTensor(i.host)]));
  return (id) =>
    Buffer.from(
      PredictRequest.encode({
        modelName: model,
        modelVersion: '',
        id: String(id),
        outputNames: [],
        inputs: wire,
      }).finish(),
    );
}

function rawTensor(host: HostTensor): Tensor {
  const data = host.data;
  if (Array.isArray(data)) throw new Error('inferd bench sends numeric inputs only');
  return Tensor.fromPartial({
    datatype: elementType(host.type).wire,
    shape: host.dims.map(BigInt),
    rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
  });
}

/** A grpc-js client of PredictionService at `address`, with the bearer token on every call when there is one. */
export function rawPredictTarget(address: string, tls: ClientTls | undefined, token: string | undefined): RawTarget {
  const channel = channelSettings(address, { tls });
  return {
    client: new Client(channel.target, channel.credentials, channel.options),
    unaryPath: '/inferd.v1.PredictionService/Predict',
    streamPath: '/inferd.v1.PredictionService/PredictStream',
    metadata: () => callMetadata(token),
  };
}
