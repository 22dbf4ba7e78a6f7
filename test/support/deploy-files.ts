import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { PACKAGE_ROOT } from '../../src/package-root';

export const DEPLOY_DIR = path.join(PACKAGE_ROOT, 'deploy');
export const KUSTOMIZE_BASE = path.join(DEPLOY_DIR, 'kubernetes', 'base');

/** One instruction of a Dockerfile, its continuation lines joined. */
export interface DockerInstruction {
  readonly keyword: string;
  readonly args: string;
  /** 1-based line where it starts, for messages. */
  readonly line: number;
}

export interface DockerStage {
  /** The `AS` name, or the stage's index for an unnamed one. */
  readonly name: string;
  readonly from: string;
  readonly instructions: readonly DockerInstruction[];
}

/**
 * deploy/Dockerfile read into its stages: comment lines dropped (as Docker does, within a
 * continued instruction too), `\` continuations joined with a space.
 */
export function readDockerfile(file = path.join(DEPLOY_DIR, 'Dockerfile')): DockerStage[] {
  const instructions: DockerInstruction[] = [];
  let pending: { text: string; line: number } | undefined;
  readFileSync(file, 'utf8')
    .split('\n')
    .forEach((raw, i) => {
      const trimmed = raw.trim();
      if (trimmed.startsWith('#') || (trimmed === '' && pending === undefined)) return;
      const continued = trimmed.endsWith('\\');
      const text = continued ? trimmed.slice(0, -1).trim() : trimmed;
      pending = pending === undefined ? { text, line: i + 1 } : { text: `${pending.text} ${text}`.trim(), line: pending.line };
      if (continued) return;
      const m = /^(\S+)\s*([\s\S]*)$/.exec(pending.text)!;
      instructions.push({ keyword: m[1]!.toUpperCase(), args: m[2]!, line: pending.line });
      pending = undefined;
    });
  const stages: { name: string; from: string; instructions: DockerInstruction[] }[] = [];
  for (const ins of instructions) {
    if (ins.keyword === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args);
      if (m === null) throw new Error(`Dockerfile line ${ins.line}: cannot read FROM ${ins.args}`);
      stages.push({ name: m[2] ?? String(stages.length), from: m[1]!, instructions: [] });
    } else if (stages.length > 0) stages[stages.length - 1]!.instructions.push(ins);
  }
  return stages;
}

/** The instructions of a stage with this keyword. */
export function instructionsOf(stage: DockerStage, keyword: string): DockerInstruction[] {
  return stage.instructions.filter((i) => i.keyword === keyword);
}

/** An instruction in exec form (a JSON array of strings), e.g. ENTRYPOINT ["node", "bin/inferd.js"]. */
export function execForm(ins: DockerInstruction): string[] {
  const parsed: unknown = JSON.parse(ins.args);
  if (!Array.isArray(parsed) || parsed.some((a) => typeof a !== 'string')) throw new Error(`Dockerfile line ${ins.line}: ${ins.keyword} is not in exec form: ${ins.args}`);
  return parsed as string[];
}

/** The variables a stage's ENV instructions set (`ENV NAME=value ...`, values without quotes or spaces). */
export function stageEnv(stage: DockerStage): Record<string, string> {
  const env: Record<string, string> = {};
  for (const ins of instructionsOf(stage, 'ENV')) {
    for (const pair of ins.args.split(/\s+/)) {
      const m = /^([A-Za-z_][A-Za-z0-9_]*)=([^"'\s]*)$/.exec(pair);
      if (m === null) throw new Error(`Dockerfile line ${ins.line}: cannot read "${pair}" of ENV (write NAME=value pairs)`);
      env[m[1]!] = m[2]!;
    }
  }
  return env;
}

/** A Kubernetes object as read from YAML; only what the tests look at is typed. */
export interface KubeObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly labels?: Record<string, string> };
  readonly spec: Record<string, unknown>;
}

export interface Manifest {
  /** The file's name in the kustomize base. */
  readonly file: string;
  readonly object: KubeObject;
}

/**
 * Every YAML document of every file in the kustomize base but kustomization.yaml, parsed.
 * Throws naming the file on a YAML error.
 */
export function readManifests(dir = KUSTOMIZE_BASE): Manifest[] {
  return yamlFiles(dir)
    .filter((f) => f !== 'kustomization.yaml')
    .flatMap((file) => readYaml(path.join(dir, file)).map((object) => ({ file, object: object as KubeObject })));
}

/** The .yaml and .yml files of a folder, in name order. */
export function yamlFiles(dir = KUSTOMIZE_BASE): string[] {
  return readdirSync(dir)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort();
}

/** Every document of a YAML file as plain values; throws naming the file and the first error. */
export function readYaml(file: string): unknown[] {
  return parseAllDocuments(readFileSync(file, 'utf8'), { prettyErrors: true }).map((doc) => {
    if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors[0]!.message}`);
    return doc.toJS() as unknown;
  });
}

// The parts of a Deployment's pod the tests read.
export interface EnvVar {
  readonly name: string;
  readonly value?: string;
  readonly valueFrom?: { readonly secretKeyRef?: { readonly name: string; readonly key: string } };
}
export interface HttpProbe {
  readonly httpGet?: { readonly path: string; readonly port: string | number; readonly scheme?: string };
  readonly grpc?: { readonly port: number; readonly service?: string };
}
export interface Container {
  readonly name: string;
  readonly image: string;
  readonly command?: string[];
  readonly args?: string[];
  readonly ports?: { readonly name?: string; readonly containerPort: number }[];
  readonly env?: EnvVar[];
  readonly livenessProbe?: HttpProbe;
  readonly readinessProbe?: HttpProbe;
  readonly lifecycle?: { readonly preStop?: { readonly exec?: { readonly command: string[] } } };
  readonly resources?: { readonly requests?: Record<string, string>; readonly limits?: Record<string, string> };
  readonly securityContext?: { readonly readOnlyRootFilesystem?: boolean; readonly allowPrivilegeEscalation?: boolean; readonly capabilities?: { readonly drop?: string[] } };
  readonly volumeMounts?: { readonly name: string; readonly mountPath: string; readonly readOnly?: boolean; readonly subPath?: string }[];
}
export interface Volume {
  readonly name: string;
  readonly persistentVolumeClaim?: { readonly claimName: string };
  readonly secret?: { readonly secretName: string; readonly items?: { readonly key: string; readonly path: string }[] };
  readonly emptyDir?: Record<string, unknown>;
}
export interface PodSpec {
  readonly terminationGracePeriodSeconds?: number;
  readonly securityContext?: { readonly runAsNonRoot?: boolean; readonly runAsUser?: number; readonly runAsGroup?: number };
  readonly containers: Container[];
  readonly volumes?: Volume[];
}
export interface DeploymentSpec {
  readonly replicas: number;
  readonly selector: { readonly matchLabels: Record<string, string> };
  readonly template: { readonly metadata: { readonly labels: Record<string, string> }; readonly spec: PodSpec };
}
