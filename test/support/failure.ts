import { expect } from 'chai';
import { InferdClientError } from '../../src/client';
import { InferdError } from '../../src/inferd-error';

/** The InferdError `f` throws; fails the test when it throws anything else or nothing. */
export function failure(f: () => unknown): InferdError {
  try {
    f();
  } catch (err) {
    expect(err).to.be.instanceOf(InferdError);
    return err as InferdError;
  }
  throw new Error('expected an InferdError');
}

/** The InferdClientError `p` rejects with; fails the test when it rejects with anything else or resolves. */
export async function clientFailure(p: Promise<unknown>): Promise<InferdClientError> {
  try {
    await p;
  } catch (err) {
    expect(err).to.be.instanceOf(InferdClientError);
    return err as InferdClientError;
  }
  throw new Error('expected the call to fail, but it succeeded');
}
