// The embedding example of the repository's README, run as written: `example/` holds its
// storage.js and main.js, which must be the README's code blocks byte for byte. The
// component is transpiled with the README's command into example/gen/, then main.js runs
// in its own Node.js process and must print the phone and the REST answer.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { wasmPath } from './transpile.js';

const here = dirname(fileURLToPath(import.meta.url));
const example = join(here, 'example');
const jco = join(here, 'node_modules', '@bytecodealliance', 'jco', 'dist', 'jco.js');

test('the README shows the example files as they are', () => {
  const readme = readFileSync(resolve(here, '../../README.md'), 'utf8');
  const blocks = [...readme.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]);
  assert.deepEqual(blocks, [
    readFileSync(join(example, 'storage.js'), 'utf8'),
    readFileSync(join(example, 'main.js'), 'utf8'),
  ]);
});

test('the README example embeds the component and calls both exports', () => {
  rmSync(join(example, 'gen'), { recursive: true, force: true });
  const transpile = spawnSync(process.execPath, [
    jco, 'transpile', wasmPath(), '--name', 'user_phone', '-o', 'gen', '--no-wasi-shim',
    '--quiet', '--map', 'user-phone:endpoint/storage@0.1.0=../storage.js',
  ], { cwd: example, encoding: 'utf8' });
  assert.equal(transpile.status, 0, transpile.stderr);

  const run = spawnSync(process.execPath, ['main.js'], { cwd: example, encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  const [phone, rest] = run.stdout.trimEnd().split('\n');
  assert.equal(phone, "{ phone: '+41 71 000 00 00', isPhoneVerified: true }");
  assert.equal(rest, '200 {"details":{"sequence":"2","creationDate":"2025-03-25T10:28:47.419Z",' +
    '"resourceOwner":"acme"},"phone":{"phone":"+41 71 000 00 00","isPhoneVerified":true}}');
});
