import { expect } from 'chai';
import { InferdError } from '../../../../src/inferd-error';
import { responseEncoding } from '../../../../src/transport/http/rest-api';
import { matchRoute } from '../../../../src/transport/http/rest-routes';

describe('REST routes', () => {
  it("matches every path of Triton's HTTP API that inferd serves, with its method, scope and template", () => {
    const table = [
      '/v2', '/v2/health/live', '/v2/health/ready', '/v2/models/stats', '/v2/models/m', '/v2/models/m/versions/3', '/v2/models/m/ready', '/v2/models/m/versions/3/config',
      '/v2/models/m/stats', '/v2/models/m/infer', '/v2/repository/index', '/v2/repository/models/m/load', '/v2/repository/models/m/unload',
    ].map((p) => {
      const m = matchRoute(p)!;
      return [p, m.method, m.access, m.template, m.route.kind];
    });
    expect(table).to.deep.equal([
      ['/v2', 'GET', 'models:read', '/v2', 'server-metadata'],
      ['/v2/health/live', 'GET', 'open', '/v2/health/live', 'live'],
      ['/v2/health/ready', 'GET', 'open', '/v2/health/ready', 'ready'],
      ['/v2/models/stats', 'GET', 'models:read', '/v2/models/stats', 'all-stats'],
      ['/v2/models/m', 'GET', 'models:read', '/v2/models/{model}', 'model-metadata'],
      ['/v2/models/m/versions/3', 'GET', 'models:read', '/v2/models/{model}/versions/{version}', 'model-metadata'],
      ['/v2/models/m/ready', 'GET', 'open', '/v2/models/{model}/ready', 'model-ready'],
      ['/v2/models/m/versions/3/config', 'GET', 'models:read', '/v2/models/{model}/versions/{version}/config', 'model-config'],
      ['/v2/models/m/stats', 'GET', 'models:read', '/v2/models/{model}/stats', 'model-stats'],
      ['/v2/models/m/infer', 'POST', 'predict', '/v2/models/{model}/infer', 'infer'],
      ['/v2/repository/index', 'POST', 'models:read', '/v2/repository/index', 'repository-index'],
      ['/v2/repository/models/m/load', 'POST', 'models:admin', '/v2/repository/models/{model}/load', 'load'],
      ['/v2/repository/models/m/unload', 'POST', 'models:admin', '/v2/repository/models/{model}/unload', 'unload'],
    ]);
  });

  it('percent-decodes the model name and version', () => {
    expect(matchRoute('/v2/models/a%2Fb%20c/versions/0%31/infer')!.route).to.deep.equal({ kind: 'infer', model: 'a/b c', version: '01' });
  });

  it('matches nothing else under /v2', () => {
    for (const p of ['/v2/', '/v2/models', '/v2/models/', '/v2/models/m/infer/x', '/v2/models/m/versions', '/v2/models/m/versions//infer', '/v2/models/m/generate', '/v2/models/m/constructor', '/v2/health', '/v2/repository/models/m', '/v3']) {
      expect(matchRoute(p), p).to.equal(undefined);
    }
    // A model may be named like a property of every object.
    expect(matchRoute('/v2/models/constructor')!.route).to.deep.equal({ kind: 'model-metadata', model: 'constructor', version: '' });
  });

  it('refuses a path that is not valid percent-encoding', () => {
    expect(() => matchRoute('/v2/models/%E2%28')).to.throw(InferdError, 'the path is not valid percent-encoding');
  });
});

describe('responseEncoding', () => {
  it("picks gzip or deflate by weight as Triton does, the first of equals, and identity when it weighs most or nothing is asked", () => {
    expect(responseEncoding(undefined)).to.equal(undefined);
    expect(responseEncoding('gzip')).to.equal('gzip');
    expect(responseEncoding('deflate, gzip')).to.equal('deflate');
    expect(responseEncoding('gzip;q=0.5, deflate;q=0.8')).to.equal('deflate');
    expect(responseEncoding('identity, gzip;q=0.5')).to.equal(undefined);
    expect(responseEncoding('br, zstd')).to.equal(undefined);
    expect(responseEncoding('gzip;q=0')).to.equal(undefined);
  });
});
