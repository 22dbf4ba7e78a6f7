import { expect } from 'chai';
import { ConfigError, type ConfigProblem } from '../../src/config-problems';

/** The ConfigError `f` throws; fails when `f` throws anything else or nothing. */
export function configError(f: () => unknown): ConfigError {
  try {
    f();
  } catch (err) {
    expect(err).to.be.instanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

/** The problems a ConfigError thrown by `f` lists, one line each; fails when `f` throws anything else or nothing. */
export function configProblems(f: () => unknown): readonly string[] {
  return configError(f).lines;
}

/** The problems, as data, of the ConfigError `promise` rejects with; fails when it rejects with anything else or resolves. */
export async function configRejection(promise: Promise<unknown>): Promise<readonly ConfigProblem[]> {
  const err = await promise.then(() => undefined, (e: unknown) => e);
  expect(err).to.be.instanceOf(ConfigError);
  return (err as ConfigError).problems;
}
