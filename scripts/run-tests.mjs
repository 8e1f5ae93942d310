#!/usr/bin/env node
// Runs the compiled test files with node:test. Node 20's --test neither expands globs nor finds .ts
// files in folders, so we list the compiled files ourselves and refuse to report success on zero tests.
// Usage: node scripts/run-tests.mjs [folder under test/ ...]   (default: all of them)
import { readdirSync, statSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';

const root = join(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '..', 'dist', 'test');
if (!existsSync(root)) {
  console.error(`run-tests: ${root} does not exist; run "npm run build" first`);
  process.exit(1);
}

function collect(dir, out) {
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) collect(path, out);
    else if (name.endsWith('.test.js')) out.push(path);
  }
  return out;
}

const folders = process.argv.slice(2);
const files = (folders.length ? folders.map((f) => join(root, f)) : [root]).flatMap((d) =>
  existsSync(d) ? collect(d, []) : [],
);
if (files.length === 0) {
  console.error('run-tests: found no compiled test files');
  process.exit(1);
}
console.log(`run-tests: ${files.length} test files`);

const child = spawn(process.execPath, ['--test', '--test-reporter=spec', '--test-concurrency=2', ...files], {
  stdio: 'inherit',
});
child.on('exit', (code, signal) => process.exit(signal ? 1 : (code ?? 1)));
