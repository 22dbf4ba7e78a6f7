import { expect } from 'chai';
import { ConfigError, ConfigReader, described, formatProblem, shown } from '../../src/config-problems';
import { configError } from '../support/config-problems';

describe('config problems', () => {
  it('formats a problem as file: field: expected …, got …, leaving out a file or field there is none of', () => {
    expect(formatProblem({ file: 'm/config.yaml', field: 'instances', expected: 'a whole number from 1 to 256', got: '0' })).to.equal('m/config.yaml: instances: expected a whole number from 1 to 256, got 0');
    expect(formatProblem({ file: undefined, field: '--port', expected: 'a whole number from 0 to 65535', got: '"abc"' })).to.equal('--port: expected a whole number from 0 to 65535, got "abc"');
    expect(formatProblem({ file: 'm/config.yaml', field: '', expected: 'a mapping', got: '[1]' })).to.equal('m/config.yaml: expected a mapping, got [1]');
  });

  it('shows a value as JSON, "none" when left out, cut short past 100 characters, with the checker\'s words after it', () => {
    expect([shown('x'), shown(3), shown(undefined), shown(null), shown('61 * * * *', 'bad minute')]).to.deep.equal(['"x"', '3', 'none', 'null', '"61 * * * *" (bad minute)']);
    expect(shown('a'.repeat(200))).to.equal(`"${'a'.repeat(99)}…`);
  });

  it('describes a value that may be a secret without showing it', () => {
    expect([described('hunter2'), described(['a', 'b']), described({ a: 1 }), described(7), described(undefined)]).to.deep.equal([
      'a string of 7 characters', 'a list of 2 items', 'a mapping', 'a number', 'none',
    ]);
  });

  it('collects every problem a reader finds and throws them together, one line each in the message', () => {
    const r = new ConfigReader('f.yaml');
    const doc = r.mapping({ a: 'x', b: [1, 'two'], c: 'd', extra: true }, '', ['a', 'b', 'c'])!;
    expect(r.int(doc['a'], 'a', 1, 9)).to.equal(undefined);
    expect(r.items(doc['b'], 'b', (item, field) => r.int(item, field, 0, 5))).to.equal(undefined);
    expect(r.oneOf(doc['c'], 'c', ['d', 'e'] as const)).to.equal('d');
    const err = configError(() => r.problems.throwIfAny());
    expect(err).to.be.instanceOf(ConfigError);
    expect(err.problems).to.deep.equal([
      { file: 'f.yaml', field: 'extra', expected: 'a known field (a, b, c)', got: 'an unknown field' },
      { file: 'f.yaml', field: 'a', expected: 'a whole number from 1 to 9', got: '"x"' },
      { file: 'f.yaml', field: 'b[1]', expected: 'a whole number from 0 to 5', got: '"two"' },
    ]);
    expect(err.message).to.equal(err.lines.join('\n'));
    expect(() => new ConfigReader('g.yaml').problems.throwIfAny()).not.to.throw();
  });
});
