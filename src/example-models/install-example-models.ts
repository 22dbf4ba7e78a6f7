/**
 * CLI: `node dist/src/example-models/install-example-models.js [DIR]` writes the bundled example
 * repository into DIR (default `models`) and prints one line per model version written.
 * Exits 1 with the error on stderr if a write fails.
 */
import { writeExampleRepository } from './example-models';

async function main(): Promise<void> {
  const dir = process.argv[2] ?? 'models';
  for (const m of await writeExampleRepository(dir)) {
    process.stdout.write(`wrote ${m.model}/${m.version}/model.onnx (${m.sizeBytes} bytes) to ${m.path}\n`);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`install-example-models: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
