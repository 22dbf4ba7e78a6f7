import {
  Metadata,
  ResponderBuilder,
  ServerInterceptingCall,
  ServerListenerBuilder,
  type ServerInterceptor,
} from '@grpc/grpc-js';
import { RefusedRequest } from './refused-request';
import { REQUEST_LAYOUTS } from './request-layouts';
import { STATUS_FOR } from './status-for';

/**
 * Ends a call whose request message was refused (RefusedRequest) with the refusal's status, for
 * every method but those that carry tensors (REQUEST_LAYOUTS), whose handlers answer refusals
 * themselves. Goes after the authentication interceptor, so that an unauthenticated caller hears
 * that first.
 */
export function refusedRequestInterceptor(): ServerInterceptor {
  return (method, call) => {
    if (REQUEST_LAYOUTS.has(method.path)) return new ServerInterceptingCall(call);
    const listener = new ServerListenerBuilder()
      .withOnReceiveMessage((message, next) => {
        if (!(message instanceof RefusedRequest)) return next(message);
        call.sendStatus({
          code: STATUS_FOR[message.error.code],
          details: message.error.message,
          metadata: new Metadata(),
        });
      })
      .build();
    return new ServerInterceptingCall(call, new ResponderBuilder().withStart((next) => next(listener)).build());
  };
}
