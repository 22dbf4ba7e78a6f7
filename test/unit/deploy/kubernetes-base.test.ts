import * as path from 'node:path';
import { expect } from 'chai';
import { parseServeConfig, SERVE_OPTIONS, type ServeConfig } from '../../../src/config';
import {
  instructionsOf,
  KUSTOMIZE_BASE,
  readDockerfile,
  readManifests,
  readYaml,
  stageEnv,
  yamlFiles,
  type Container,
  type DeploymentSpec,
  type HttpProbe,
  type KubeObject,
  type Manifest,
  type Volume,
} from '../../support/deploy-files';

interface Kustomization {
  readonly resources: string[];
  readonly images?: { readonly name: string; readonly newName?: string; readonly newTag?: string }[];
}

const manifests: Manifest[] = readManifests();
function only(kind: string, filter: (o: KubeObject) => boolean = () => true): KubeObject {
  const found = manifests.filter((m) => m.object.kind === kind && filter(m.object));
  expect(found.map((m) => m.file), `${kind} objects`).to.have.length(1);
  return found[0]!.object;
}
const deployment = only('Deployment');
const spec = deployment.spec as unknown as DeploymentSpec;
const pod = spec.template.spec;
const container: Container = pod.containers[0]!;
const volumes: Volume[] = pod.volumes ?? [];
const image = readDockerfile().at(-1)!;
const optionByEnv = new Map(SERVE_OPTIONS.map((o) => [o.env, o]));

/** The container's environment: the image's ENV, then the Deployment's literal values. */
function containerEnv(): Record<string, string> {
  const env = stageEnv(image);
  for (const e of container.env ?? []) if (e.value !== undefined) env[e.name] = e.value;
  return env;
}

/**
 * The configuration `inferd serve` gets in the pod, by the server's own parser. Files exist only
 * in the pod (they are checked against the Secret volumes apart), so their options are left out.
 */
function podConfig(): ServeConfig {
  const env = containerEnv();
  for (const name of Object.keys(env)) if (optionByEnv.get(name)?.kind === 'file') delete env[name];
  return parseServeConfig({ argv: [], env });
}

/** The container port a probe or Service port names (by name or number). */
function containerPort(port: string | number): number | undefined {
  return (container.ports ?? []).find((p) => p.name === port || p.containerPort === port)?.containerPort;
}

describe('deploy/kubernetes/base', () => {
  it('parses, and its kustomization lists every manifest beside it, once each', () => {
    const kustomization = readYaml(path.join(KUSTOMIZE_BASE, 'kustomization.yaml'))[0] as Kustomization;
    const files = yamlFiles().filter((f) => f !== 'kustomization.yaml');
    expect([...kustomization.resources].sort()).to.deep.equal(files);
    expect(new Set(manifests.map((m) => m.file)).size, 'a document in every file').to.equal(files.length);
    for (const { file, object } of manifests) {
      expect(object.apiVersion, file).to.be.a('string');
      expect(object.metadata.name, file).to.match(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    }
    expect(kustomization.images?.map((i) => i.name), 'the image the kustomization tags').to.deep.equal([container.image]);
  });

  it('runs 3 replicas of one container that starts as the image does, its ports the server\'s gRPC and HTTP ports as the pod configures them', () => {
    expect(spec.replicas).to.equal(3);
    expect(pod.containers).to.have.length(1);
    expect([container.command, container.args], 'the image\'s ENTRYPOINT and CMD').to.deep.equal([undefined, undefined]);
    const config = podConfig();
    expect(container.ports).to.deep.equal([
      { name: 'grpc', containerPort: config.port },
      { name: 'http', containerPort: config.httpPort },
    ]);
    expect(config.host).to.equal('0.0.0.0');
  });

  it('sets only variables of `inferd serve`, each with a value it accepts (INFERD_JOB_STORE: once the PostgreSQL job store is in)', () => {
    const unknown = (container.env ?? []).map((e) => e.name).filter((name) => !optionByEnv.has(name));
    expect(unknown, 'variables inferd serve does not read').to.deep.equal([]);
    expect(() => podConfig()).to.not.throw();
  });

  it('probes liveness at /healthz and readiness at /readyz on the HTTP port, over HTTPS since TLS is on', () => {
    const tlsOn = containerEnv()['INFERD_TLS_CERT'] !== undefined;
    expect(tlsOn).to.equal(true);
    const probe = (p: HttpProbe | undefined) => ({ path: p?.httpGet?.path, port: containerPort(p?.httpGet?.port ?? -1), scheme: p?.httpGet?.scheme ?? 'HTTP' });
    const httpPort = podConfig().httpPort;
    expect(probe(container.livenessProbe)).to.deep.equal({ path: '/healthz', port: httpPort, scheme: tlsOn ? 'HTTPS' : 'HTTP' });
    expect(probe(container.readinessProbe)).to.deep.equal({ path: '/readyz', port: httpPort, scheme: tlsOn ? 'HTTPS' : 'HTTP' });
  });

  it('gives a stopping replica more time than its preStop pause and its drain timeout before SIGKILL', () => {
    const preStop = container.lifecycle?.preStop?.exec?.command ?? [];
    const pauseMs = preStop[0] === 'sleep' ? Number(preStop[1]) * 1000 : 0;
    expect(pauseMs).to.equal(5000);
    const graceMs = (pod.terminationGracePeriodSeconds ?? 30) * 1000;
    expect(graceMs).to.be.greaterThan(pauseMs + podConfig().drainTimeoutMs);
  });

  it('runs as the image\'s non-root user on a read-only root file system, writing only to its data volume and an emptyDir on /tmp', () => {
    const [uid, gid] = instructionsOf(image, 'USER')[0]!.args.split(':').map(Number);
    expect(pod.securityContext).to.deep.include({ runAsNonRoot: true, runAsUser: uid, runAsGroup: gid });
    expect(container.securityContext).to.deep.include({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false });
    expect(container.securityContext?.capabilities?.drop).to.deep.equal(['ALL']);
    const volume = (name: string): Volume => volumes.find((v) => v.name === name)!;
    for (const m of container.volumeMounts ?? []) expect(volume(m.name), `volume of ${m.mountPath}`).to.not.equal(undefined);
    const writable = (container.volumeMounts ?? []).filter((m) => m.readOnly !== true).map((m) => ({ path: m.mountPath, claim: volume(m.name).persistentVolumeClaim?.claimName, emptyDir: volume(m.name).emptyDir !== undefined }));
    expect(writable).to.deep.equal([
      { path: podConfig().dataDir, claim: 'inferd-data', emptyDir: false },
      { path: '/tmp', claim: undefined, emptyDir: true },
    ]);
  });

  it('mounts the data directory from a ReadWriteMany claim of its own, which every replica shares', () => {
    const claim = only('PersistentVolumeClaim', (o) => o.metadata.name === 'inferd-data');
    expect(claim.spec['accessModes']).to.deep.equal(['ReadWriteMany']);
  });

  it('reads the TLS files and the access file from Secrets mounted whole, and the job store URL from a Secret', () => {
    const env = containerEnv();
    const files = SERVE_OPTIONS.filter((o) => o.kind === 'file' && env[o.env] !== undefined).map((o) => o.env);
    expect(files).to.deep.equal(['INFERD_TLS_CERT', 'INFERD_TLS_KEY', 'INFERD_AUTH_TOKENS']);
    for (const name of files) {
      const file = env[name]!;
      const mount = (container.volumeMounts ?? []).find((m) => path.posix.dirname(file) === m.mountPath);
      expect(mount, `the mount of ${name}=${file}`).to.not.equal(undefined);
      // A subPath mount would never see a renewed Secret: inferd reads these files again when they change.
      expect([mount!.readOnly, mount!.subPath]).to.deep.equal([true, undefined]);
      const secret = volumes.find((v) => v.name === mount!.name)?.secret;
      expect(secret?.items?.map((i) => i.path), `${name}: a file of Secret ${secret?.secretName}`).to.include(path.posix.basename(file));
    }
    const jobStore = (container.env ?? []).find((e) => e.name === 'INFERD_JOB_STORE');
    expect(jobStore).to.deep.equal({ name: 'INFERD_JOB_STORE', valueFrom: { secretKeyRef: { name: 'inferd-job-store', key: 'url' } } });
  });

  it('requests CPU and memory, and scales the Deployment on CPU from its 3 replicas up', () => {
    expect(container.resources?.requests).to.have.keys('cpu', 'memory');
    expect(container.resources?.limits).to.have.keys('cpu', 'memory');
    const hpa = only('HorizontalPodAutoscaler');
    expect(hpa.apiVersion).to.equal('autoscaling/v2');
    expect(hpa.spec['scaleTargetRef']).to.deep.equal({ apiVersion: 'apps/v1', kind: 'Deployment', name: deployment.metadata.name });
    expect(hpa.spec['minReplicas']).to.equal(spec.replicas);
    expect(hpa.spec['maxReplicas']).to.be.greaterThan(spec.replicas);
    const metrics = hpa.spec['metrics'] as { type: string; resource: { name: string; target: { type: string } } }[];
    expect(metrics.map((m) => [m.type, m.resource.name, m.resource.target.type])).to.deep.equal([['Resource', 'cpu', 'Utilization']]);
  });

  it('selects its pods with the Deployment\'s labels in both Services and the PodDisruptionBudget, and the Services reach the container\'s ports', () => {
    const labels = spec.template.metadata.labels;
    expect(labels).to.deep.include(spec.selector.matchLabels);
    const selects = (selector: Record<string, string>): boolean => Object.entries(selector).every(([k, v]) => labels[k] === v);
    const pdb = only('PodDisruptionBudget');
    expect(pdb.apiVersion).to.equal('policy/v1');
    expect(selects((pdb.spec['selector'] as { matchLabels: Record<string, string> }).matchLabels)).to.equal(true);
    expect(pdb.spec['maxUnavailable']).to.equal(1);

    type ServiceSpec = { clusterIP?: string; type?: string; selector: Record<string, string>; ports: { name: string; port: number; targetPort: string }[] };
    const clusterIp = only('Service', (o) => (o.spec as ServiceSpec).clusterIP !== 'None').spec as ServiceSpec;
    const headless = only('Service', (o) => (o.spec as ServiceSpec).clusterIP === 'None').spec as ServiceSpec;
    const config = podConfig();
    for (const s of [clusterIp, headless]) {
      expect(selects(s.selector)).to.equal(true);
      for (const p of s.ports) expect(containerPort(p.targetPort), `Service port ${p.name}`).to.equal(p.port);
    }
    expect(clusterIp.ports.map((p) => [p.name, containerPort(p.targetPort)])).to.deep.equal([['grpc', config.port], ['http', config.httpPort]]);
    expect(headless.ports.map((p) => [p.name, containerPort(p.targetPort)]), 'gRPC only: its clients balance calls themselves').to.deep.equal([['grpc', config.port]]);
  });
});
