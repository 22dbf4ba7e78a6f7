import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { expect } from 'chai';
import { parseServeConfig } from '../../src/config';
import { configError, configProblems as problems } from '../support/config-problems';

describe('parseServeConfig', () => {
  it('has defaults that serve the bundled repository on 127.0.0.1:8001', () => {
    const c = parseServeConfig({ argv: [], env: {} });
    expect(c).to.deep.include({ models: 'models', host: '127.0.0.1', port: 8001, maxMessageBytes: 64 * 1024 * 1024, logLevel: 'info' });
    expect(Object.isFrozen(c)).to.equal(true);
  });

  it('bounds what one request may cost to decode: 1,048,576 elements outside raw bytes and 262,144 strings, by default', () => {
    expect(parseServeConfig({ argv: [], env: {} })).to.deep.include({ maxRequestElements: 1_048_576, maxRequestStrings: 262_144 });
    const c = parseServeConfig({ argv: ['--max-request-elements', '5000000'], env: { INFERD_MAX_REQUEST_STRINGS: '1000' } });
    expect(c).to.deep.include({ maxRequestElements: 5_000_000, maxRequestStrings: 1000 });
    expect(problems(() => parseServeConfig({ argv: ['--max-request-strings', '0'], env: {} }))).to.deep.equal(['--max-request-strings: expected a whole number from 1 to 2147483647, got "0"']);
  });

  it('lets a file, then the environment, then flags override', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'inferd-config-'));
    try {
      const file = path.join(dir, 'inferd.json');
      writeFileSync(file, JSON.stringify({ port: 7000, host: '0.0.0.0', instances: 2 }));
      const c = parseServeConfig({ argv: ['--config', file, '--port=9000'], env: { INFERD_PORT: '8000', INFERD_HOST: '::1' } });
      expect(c).to.deep.include({ port: 9000, host: '::1', instances: 2 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reports every problem at once', () => {
    expect(problems(() => parseServeConfig({ argv: ['--port', 'abc', '--bogus', '1', 'stray', '--models'], env: { INFERD_LOG_LEVEL: 'loud', INFERD_INSTANCES: '0' } }))).to.deep.equal([
      'command line: expected --name value or --name=value, got "stray"',
      '--models: expected a value, got none',
      'INFERD_INSTANCES: expected a whole number from 1 to 256, got "0"',
      'INFERD_LOG_LEVEL: expected one of fatal, error, warn, info, debug, trace, silent, got "loud"',
      '--port: expected a whole number from 0 to 65535, got "abc"',
      '--bogus: expected a flag of inferd serve (see inferd serve --help), got an unknown flag',
    ]);
  });

  it('takes the log format from --log-format or INFERD_LOG_FORMAT: auto unless given, json or pretty, nothing else', () => {
    expect(parseServeConfig({ argv: [], env: {} }).logFormat).to.equal('auto');
    expect(parseServeConfig({ argv: [], env: { INFERD_LOG_FORMAT: 'json' } }).logFormat).to.equal('json');
    expect(parseServeConfig({ argv: ['--log-format', 'pretty'], env: { INFERD_LOG_FORMAT: 'json' } }).logFormat).to.equal('pretty');
    expect(problems(() => parseServeConfig({ argv: ['--log-format', 'text'], env: {} }))).to.deep.equal(['--log-format: expected one of auto, json, pretty, got "text"']);
  });

  it('keeps security off by default: plaintext, no authentication, reflection open', () => {
    expect(parseServeConfig({ argv: [], env: {} })).to.deep.include({
      tlsCert: '',
      tlsKey: '',
      tlsClientCa: '',
      authTokens: '',
      authJwks: '',
      reflection: 'open',
      maxConcurrentStreams: 1000,
      keepaliveMinPingIntervalMs: 300_000,
      maxConnectionAgeMs: 0,
    });
  });

  it('names a security file that cannot be read, and options that only work together', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'inferd-config-'));
    try {
      const missing = path.join(dir, 'missing.pem');
      writeFileSync(path.join(dir, 'ca.pem'), 'x');
      expect(problems(() => parseServeConfig({ argv: ['--tls-cert', missing, '--auth-rate-per-second', '5', '--reflection', 'auth'], env: { INFERD_AUTH_JWT_ISSUER: 'https://issuer' } }))).to.deep.equal([
        `--tls-cert: expected a readable file, got ${JSON.stringify(missing)} (ENOENT)`,
        '--tls-key: expected the private key of --tls-cert (give both or neither), got none',
        '--auth-jwks: expected the key set that signs JWTs, since --auth-jwt-issuer is set, got none',
        '--auth-rate-per-second: expected 0 without authentication (--auth-tokens or --auth-jwks): the rate is per caller, got 5',
        '--reflection: expected open or off without authentication (auth needs --auth-tokens or --auth-jwks), got "auth"',
      ]);
      expect(problems(() => parseServeConfig({ argv: ['--tls-client-ca', path.join(dir, 'ca.pem'), '--auth-jwks', path.join(dir, 'ca.pem')], env: {} }))).to.deep.equal([
        '--tls-cert: expected a certificate and --tls-key, since --tls-client-ca is set: mutual TLS is TLS first, got none',
        '--auth-jwt-issuer: expected the "iss" a JWT must have, since --auth-jwks is set: a JWT is accepted only for this server, got none',
        '--auth-jwt-audience: expected the "aud" a JWT must have, since --auth-jwks is set: a JWT is accepted only for this server, got none',
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('names the file and the key of a bad config file', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'inferd-config-'));
    try {
      const file = path.join(dir, 'bad.json');
      writeFileSync(file, JSON.stringify({ port: 70000, colour: 'red' }));
      expect(problems(() => parseServeConfig({ argv: ['--config', file], env: {} }))).to.deep.equal([
        `${file}: port: expected a whole number from 0 to 65535, got 70000`,
        `${file}: colour: expected an option's key (a flag of inferd serve --help in camelCase, such as "maxQueueSize") or "schedules", got an unknown key`,
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reports every problem of the file, the environment and the flags at once, each naming where, what was expected and what came', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'inferd-config-'));
    try {
      const file = path.join(dir, 'inferd.json');
      writeFileSync(file, JSON.stringify({ instances: 0, placement: 'gpu', webhookSecret: 12345, schedules: [{ name: 'n', cron: '* * * * *', modelName: 'm', inputUri: 'in.csv', outputUri: 'o.jsonl', batchSize: 'big' }] }));
      const err = configError(() => parseServeConfig({ argv: ['--config', file, '--max-queue-size', '0', '--log-format'], env: { INFERD_PORT: '-1' } }));
      expect(err.problems).to.deep.equal([
        { file: undefined, field: '--log-format', expected: 'a value', got: 'none' },
        { file, field: 'instances', expected: 'a whole number from 1 to 256', got: '0' },
        { file, field: 'placement', expected: 'one of auto, worker', got: '"gpu"' },
        // A secret is never shown, not even a wrong one.
        { file, field: 'webhookSecret', expected: 'a string', got: 'a number' },
        { file, field: 'schedules[0].batchSize', expected: 'a whole number from 1 to 65536 (0 or none: 64)', got: '"big"' },
        { file: undefined, field: 'INFERD_PORT', expected: 'a whole number from 0 to 65535', got: '"-1"' },
        { file: undefined, field: '--max-queue-size', expected: 'a whole number from 1 to 10000000', got: '"0"' },
      ]);
      expect(err.message.split('\n')).to.deep.equal(err.lines);
      expect(err.lines[1]).to.equal(`${file}: instances: expected a whole number from 1 to 256, got 0`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
