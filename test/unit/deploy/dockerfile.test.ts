import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { expect } from 'chai';
import { parseServeConfig, SERVE_OPTIONS } from '../../../src/config';
import { PACKAGE_ROOT } from '../../../src/package-root';
import { execForm, instructionsOf, readDockerfile, stageEnv, type DockerStage } from '../../support/deploy-files';

interface PackageJson {
  readonly scripts: Record<string, string>;
  readonly allowScripts: Record<string, boolean>;
}
interface PackageLock {
  readonly packages: Record<string, { readonly dev?: boolean; readonly hasInstallScript?: boolean }>;
}

const pkg = JSON.parse(readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as PackageJson;
const lock = JSON.parse(readFileSync(path.join(PACKAGE_ROOT, 'package-lock.json'), 'utf8')) as PackageLock;

const runs = (stage: DockerStage): string[] => instructionsOf(stage, 'RUN').map((i) => i.args);
/** The one stage with a RUN that matches. */
function stageRunning(stages: readonly DockerStage[], pattern: RegExp): DockerStage {
  const found = stages.filter((s) => runs(s).some((r) => pattern.test(r)));
  expect(found.map((s) => s.name), `stages running ${pattern}`).to.have.length(1);
  return found[0]!;
}
/** The stages a stage is built on, itself first. */
function lineage(stages: readonly DockerStage[], stage: DockerStage): DockerStage[] {
  const parent = stages.find((s) => s.name === stage.from);
  return parent === undefined ? [stage] : [stage, ...lineage(stages, parent)];
}

describe('deploy/Dockerfile', () => {
  const stages = readDockerfile();
  const final = stages[stages.length - 1]!;

  it('builds with the dev dependencies in one stage and runs from Node\'s image with the packed package and production-only node_modules, installing nothing itself', () => {
    const build = stageRunning(stages, /\bnpm pack\b/);
    expect(runs(build).some((r) => /\bnpm ci\b/.test(r) && !r.includes('--omit=dev')), 'the build stage installs the dev dependencies').to.equal(true);
    const production = stageRunning(stages, /\bnpm ci\b.*--omit=dev/);
    expect(production.name).to.not.equal(build.name);
    expect(stages.map((s) => s.name), 'the final stage starts from an image, not from a stage with compilers').to.not.include(final.from);
    expect(runs(final).filter((r) => /\bnpm\b|apt-get/.test(r))).to.deep.equal([]);
    const copies = instructionsOf(final, 'COPY').map((c) => c.args);
    expect(copies.filter((c) => c.startsWith(`--from=${production.name} `))).to.deep.equal([`--from=${production.name} /app/node_modules/ node_modules/`]);
    expect(copies.filter((c) => c.startsWith(`--from=${build.name} /package/`)), 'the package as npm pack makes it').to.have.length(1);
  });

  it('installs the production dependencies under package.json\'s allowScripts, with the npm that applies it: onnxruntime-node\'s download off, better-sqlite3 built from its source', () => {
    // Every production package with an install script has a decision, so none runs unreviewed.
    const scripted = Object.entries(lock.packages)
      .filter(([where, p]) => where !== '' && p.hasInstallScript === true && p.dev !== true)
      .map(([where]) => where.slice(where.lastIndexOf('node_modules/') + 'node_modules/'.length));
    expect(scripted.filter((name) => pkg.allowScripts[name] === undefined), 'production packages with install scripts that allowScripts does not decide').to.deep.equal([]);
    expect(pkg.allowScripts['onnxruntime-node']).to.equal(false);
    expect(pkg.allowScripts['better-sqlite3']).to.equal(true);

    const production = stageRunning(stages, /\bnpm ci\b.*--omit=dev/);
    const install = runs(production).find((r) => /\bnpm ci\b/.test(r))!;
    for (const bypass of ['--ignore-scripts', '--dangerously-allow-all-scripts', '--allow-scripts']) expect(install, 'the policy decides, not a flag').to.not.include(bypass);
    expect(install).to.include('npm_config_build_from_source=better-sqlite3');
    expect(instructionsOf(production, 'COPY').map((c) => c.args)).to.include('package.json package-lock.json ./');
    // npm 10, in node:20 images, runs every script whatever allowScripts says.
    expect(lineage(stages, production).some((s) => runs(s).some((r) => r.includes('"npm@${NPM_VERSION}"'))), 'an ancestor stage installs the pinned npm').to.equal(true);
  });

  it('runs as a non-root user given by number, and serves /models with its data in /data, both volumes', () => {
    const users = instructionsOf(final, 'USER').map((u) => u.args);
    expect(users).to.have.length(1);
    expect(users[0]).to.match(/^[1-9]\d*(:\d+)?$/);
    const env = stageEnv(final);
    const config = parseServeConfig({ argv: [], env });
    const volumes = instructionsOf(final, 'VOLUME').flatMap(execForm);
    expect([config.models, config.dataDir]).to.deep.equal(['/models', '/data']);
    expect(volumes).to.include.members([config.models, config.dataDir]);
    expect(config.host, 'reachable from outside the container').to.equal('0.0.0.0');
    const known = new Set(SERVE_OPTIONS.map((o) => o.env));
    expect(Object.keys(env).filter((name) => name.startsWith('INFERD_') && !known.has(name))).to.deep.equal([]);
    expect(instructionsOf(final, 'EXPOSE').flatMap((e) => e.args.split(/\s+/)).map(Number)).to.deep.equal([config.port, config.httpPort]);
  });

  it('starts with `npm start`\'s command, the one the README gives for the image', () => {
    const entrypoint = instructionsOf(final, 'ENTRYPOINT').map(execForm);
    const cmd = instructionsOf(final, 'CMD').map(execForm);
    expect([entrypoint.length, cmd.length]).to.deep.equal([1, 1]);
    const start = [...entrypoint[0]!, ...cmd[0]!].join(' ');
    expect(start).to.equal(pkg.scripts['start']);
    const readme = readFileSync(path.join(PACKAGE_ROOT, 'README.md'), 'utf8');
    const at = readme.indexOf('\n## Running many replicas\n');
    expect(at, 'the README section').to.be.greaterThan(0);
    const section = readme.slice(at, readme.indexOf('\n## ', at + 1));
    expect(section).to.include(`\`${start}\``);
    expect(instructionsOf(final, 'WORKDIR').map((w) => w.args), 'run where the package is, as npm start does').to.deep.equal(['/app']);
    expect(instructionsOf(final, 'COPY').map((c) => c.args)).to.include('--from=build /package/ ./');
  });
});
