import { expect } from 'chai';
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
