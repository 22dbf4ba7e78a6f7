import { expect } from 'chai';
import { ConfigError } from '../../src/config';

/** The problems a ConfigError thrown by `f` lists; fails when `f` throws anything else or nothing. */
export function configProblems(f: () => unknown): readonly string[] {
  try {
    f();
  } catch (err) {
    expect(err).to.be.instanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}
