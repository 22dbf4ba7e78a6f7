/**
 * `node dist/src/tools/check-imports.js`: fails (exit 1) when src/ breaks the architecture's import
 * rules: an import cycle between src/ files, gRPC (@grpc/grpc-js, generated/) outside the transport,
 * the client and the benchmark, or onnxruntime-node outside the runtime and the benchmark's
 * in-process baseline. Run by `npm test`.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { PACKAGE_ROOT } from '../package-root';

interface Rule {
  readonly what: string;
  readonly imports: (specifier: string, resolved: string | undefined) => boolean;
  readonly allowedIn: readonly string[];
}

const RULES: readonly Rule[] = [
  {
    what: 'gRPC (@grpc/grpc-js or generated/)',
    imports: (specifier, resolved) => specifier.startsWith('@grpc/') || (resolved ?? '').startsWith('generated/'),
    allowedIn: ['src/transport/grpc/', 'src/client/', 'src/bench/'],
  },
  {
    what: 'onnxruntime-node',
    imports: (specifier) => specifier === 'onnxruntime-node',
    allowedIn: ['src/runtime/', 'src/bench/runtime-baseline.ts'],
  },
];

const IMPORT =
  /(?:^|\n)\s*(?:import|export)\s+(type\s+)?(?:[^'";]*?\sfrom\s+)?['"]([^'"]+)['"]|\brequire\(\s*['"]([^'"]+)['"]\s*\)|\bimport\(\s*['"]([^'"]+)['"]\s*\)/g;

interface Edge {
  readonly specifier: string;
  readonly resolved: string | undefined;
  readonly typeOnly: boolean;
}

export function checkImports(root: string): string[] {
  const files = listTs(path.join(root, 'src')).map((f) => path.relative(root, f).split(path.sep).join('/'));
  const edges = new Map<string, Edge[]>();
  for (const file of files) edges.set(file, importsOf(root, file));
  const problems: string[] = [];
  for (const [file, list] of edges) {
    for (const rule of RULES) {
      if (rule.allowedIn.some((prefix) => file.startsWith(prefix))) continue;
      for (const edge of list) {
        if (rule.imports(edge.specifier, edge.resolved))
          problems.push(`${file} imports ${rule.what} ('${edge.specifier}'); only ${rule.allowedIn.join(', ')} may`);
      }
    }
  }
  for (const cycle of cycles(edges)) problems.push(`import cycle: ${cycle.join(' → ')}`);
  return problems;
}

function listTs(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((name) => {
      const full = path.join(dir, name);
      if (statSync(full).isDirectory()) return listTs(full);
      return name.endsWith('.ts') && !name.endsWith('.d.ts') ? [full] : [];
    });
}

function importsOf(root: string, file: string): Edge[] {
  const text = readFileSync(path.join(root, file), 'utf8');
  const found: Edge[] = [];
  for (const match of text.matchAll(IMPORT)) {
    const specifier = match[2] ?? match[3] ?? match[4];
    if (specifier === undefined) continue;
    found.push({ specifier, resolved: resolve(root, file, specifier), typeOnly: match[1] !== undefined });
  }
  return found;
}

/** The repository-relative .ts file (or generated/ path) a relative specifier names; undefined for packages. */
function resolve(root: string, file: string, specifier: string): string | undefined {
  if (!specifier.startsWith('.')) return undefined;
  const base = path.posix.normalize(path.posix.join(path.posix.dirname(file), specifier));
  for (const candidate of [`${base}.ts`, `${base}/index.ts`])
    if (existsSync(path.join(root, candidate))) return candidate;
  return base;
}

/** Every cycle among src/ files through imports that exist at run time (type-only imports are erased). */
function cycles(edges: ReadonlyMap<string, readonly Edge[]>): string[][] {
  const found: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (file: string): void => {
    state.set(file, 'open');
    stack.push(file);
    for (const edge of edges.get(file) ?? []) {
      if (edge.typeOnly || edge.resolved === undefined || !edges.has(edge.resolved)) continue;
      const seen = state.get(edge.resolved);
      if (seen === 'open') found.push([...stack.slice(stack.indexOf(edge.resolved)), edge.resolved]);
      else if (seen === undefined) visit(edge.resolved);
    }
    stack.pop();
    state.set(file, 'done');
  };
  for (const file of edges.keys()) if (!state.has(file)) visit(file);
  return found;
}

if (require.main === module) {
  const problems = checkImports(PACKAGE_ROOT);
  for (const problem of problems) process.stderr.write(`check-imports: ${problem}\n`);
  process.exit(problems.length === 0 ? 0 : 1);
}
