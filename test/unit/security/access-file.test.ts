import { expect } from 'chai';
import { parseAccessFile } from '../../../src/security/access-file';
import { configError } from '../../support/config-problems';

const DIGEST = 'a'.repeat(64);

describe('parseAccessFile', () => {
  it('reads tokens and client identities with their scopes and rates', () => {
    const list = parseAccessFile(`tokens:\n  - { name: web, sha256: ${DIGEST}, scopes: [predict, models:read], rate_per_second: 50 }\nclients:\n  - { name: batch, san: "URI:spiffe://acme/batch", scopes: [jobs] }\n`, 'access.yaml');
    expect(list.tokens).to.have.length(1);
    expect(list.tokens[0]).to.deep.include({ name: 'web', ratePerSecond: 50 });
    expect([...list.tokens[0]!.scopes]).to.deep.equal(['predict', 'models:read']);
    expect(list.tokens[0]!.sha256.toString('hex')).to.equal(DIGEST);
    expect(list.clients[0]).to.deep.include({ name: 'batch', commonName: undefined, subjectAltName: 'URI:spiffe://acme/batch', ratePerSecond: undefined });
  });

  it('reports every problem, naming the entry and field, and never echoes what looks like a clear token', () => {
    const text = [
      'tokens:',
      '  - { name: web, sha256: my-secret-token, scopes: [predict] }',
      `  - { name: web, sha256: ${DIGEST}, scopes: [predict, admin], rate_per_second: 0 }`,
      'clients:',
      '  - { name: batch, scopes: [jobs] }',
      'users: []',
    ].join('\n');
    const err = configError(() => parseAccessFile(text, 'access.yaml'));
    const message = err.message;
    expect(err.lines).to.deep.equal([
      'access.yaml: users: expected a known field (tokens, clients), got an unknown field',
      'access.yaml: tokens[0].sha256: expected the token\'s SHA-256 as 64 hex digits (printf %s "$TOKEN" | sha256sum), not the token itself, got a string of 15 characters (not shown: it may be the token itself)',
      'access.yaml: tokens[1].name: expected a name no earlier entry has, got "web"',
      'access.yaml: tokens[1].scopes[1]: expected one of predict, models:read, models:admin, jobs, metrics, got "admin"',
      'access.yaml: tokens[1].rate_per_second: expected a number above 0, got 0',
      'access.yaml: clients[0]: expected exactly one of common_name, san, got none',
    ]);
    expect(err.problems[4]).to.deep.equal({ file: 'access.yaml', field: 'tokens[1].rate_per_second', expected: 'a number above 0', got: '0' });
    expect(message).not.to.include('my-secret-token');
  });

  it('describes, never shows, a list or entry where a digest may be a clear token', () => {
    const err = configError(() => parseAccessFile('tokens: my-secret-token\nclients:\n  - my-other-secret\n', 'access.yaml'));
    expect(err.problems).to.deep.equal([
      { file: 'access.yaml', field: 'tokens', expected: 'a list', got: 'a string of 15 characters' },
      { file: 'access.yaml', field: 'clients[0]', expected: 'a mapping', got: 'a string of 15 characters' },
    ]);
  });

  it('names the file of text that is neither YAML nor JSON', () => {
    const [problem] = configError(() => parseAccessFile('tokens: [', 'access.yaml')).problems;
    expect(problem).to.deep.include({ file: 'access.yaml', field: '', expected: 'YAML or JSON' });
    expect(problem!.got).to.match(/^text that does not parse \(/);
  });
});
