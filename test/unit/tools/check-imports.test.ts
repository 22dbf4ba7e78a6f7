import { expect } from 'chai';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { checkImports } from '../../../src/tools/check-imports';

describe('check-imports', () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(path.join(tmpdir(), 'inferd-imports-'));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  function write(file: string, text: string): void {
    mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
    writeFileSync(path.join(root, file), text);
  }

  it('passes a tree that keeps the rules, type-only cycles included', () => {
    write(
      'src/transport/grpc/service.ts',
      "import { status } from '@grpc/grpc-js';\nimport { infer } from '../../inference';\n",
    );
    write(
      'src/inference.ts',
      "import type { Thing } from './transport/grpc/service';\nimport { run } from './runtime/session';\n",
    );
    write('src/runtime/session.ts', "import * as ort from 'onnxruntime-node';\n");
    expect(checkImports(root)).to.deep.equal([]);
  });

  it('names the file and the import that crosses a boundary', () => {
    write(
      'src/jobs/job.ts',
      "import { status } from '@grpc/grpc-js';\nimport { Job } from '../../generated/inferd/v1/job_service';\n",
    );
    write('src/scheduler/batcher.ts', "import * as ort from 'onnxruntime-node';\n");
    expect(checkImports(root)).to.deep.equal([
      "src/jobs/job.ts imports gRPC (@grpc/grpc-js or generated/) ('@grpc/grpc-js'); only src/transport/grpc/, src/client/, src/bench/ may",
      "src/jobs/job.ts imports gRPC (@grpc/grpc-js or generated/) ('../../generated/inferd/v1/job_service'); only src/transport/grpc/, src/client/, src/bench/ may",
      "src/scheduler/batcher.ts imports onnxruntime-node ('onnxruntime-node'); only src/runtime/, src/bench/runtime-baseline.ts may",
    ]);
  });

  it('reports a cycle of run-time imports with its path', () => {
    write('src/a.ts', "import { b } from './b';\n");
    write('src/b.ts', "export { c } from './c/index';\n");
    write('src/c/index.ts', "import { a } from '../a';\n");
    expect(checkImports(root)).to.deep.equal(['import cycle: src/a.ts → src/b.ts → src/c/index.ts → src/a.ts']);
  });
});
