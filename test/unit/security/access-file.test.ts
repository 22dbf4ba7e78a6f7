import { expect } from 'chai';
import { parseAccessFile } from '../../../src/security/access-file';

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
    let message = '';
    try {
      parseAccessFile(text, 'access.yaml');
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message.split('\n')).to.deep.equal([
      'access.yaml: unknown key "users" (expected "tokens", "clients")',
      'access.yaml: tokens[0].sha256: expected the token\'s SHA-256 as 64 hex digits (printf %s "$TOKEN" | sha256sum), not the token itself',
      'access.yaml: tokens[1].name: "web" is taken by an earlier entry',
      'access.yaml: tokens[1].scopes: unknown scope "admin" (expected predict, models:read, models:admin, jobs, metrics)',
      'access.yaml: tokens[1].rate_per_second: expected a number above 0, got 0',
      'access.yaml: clients[0]: give exactly one of "common_name" or "san"',
    ]);
    expect(message).not.to.include('my-secret-token');
  });
});
