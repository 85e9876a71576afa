// `npm run transpile`: turns the user-phone component into an ES module with jco.
//
// The component is the file named by USER_PHONE_WASM (relative paths are taken from the
// directory npm was started in), by default the guest build of this repository:
// target/wasm32-wasip2/guest/user_phone_guest.wasm. It runs
//
//   jco transpile <wasm> --name user_phone_guest -o gen --no-wasi-shim --quiet \
//     --map 'user-phone:endpoint/storage@0.1.0=../storage.js'
//
// then checks that the generated module imports nothing but ../storage.js (the component
// must import no wasi:* interface, so no WASI shim may be needed), and records which
// component it came from in gen/source.json, so the tests can refuse a stale gen/.

import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const DEFAULT_WASM = resolve(here, '../../target/wasm32-wasip2/guest/user_phone_guest.wasm');
export const STORAGE_IMPORT = 'user-phone:endpoint/storage@0.1.0';

/** The component's path: USER_PHONE_WASM, or the default guest build. */
export function wasmPath() {
  const fromEnv = process.env.USER_PHONE_WASM;
  if (!fromEnv) return DEFAULT_WASM;
  return resolve(process.env.INIT_CWD ?? process.cwd(), fromEnv);
}

export const sha256File = (path) => createHash('sha256').update(readFileSync(path)).digest('hex');

function main() {
  const wasm = wasmPath();
  if (!existsSync(wasm)) {
    console.error(
      `transpile: no component at ${wasm}\n` +
        '  build it: cd /path/to/repo && cargo build -p user-phone-guest --target wasm32-wasip2 --profile guest\n' +
        '  or point USER_PHONE_WASM at a built user-phone component',
    );
    process.exit(1);
  }
  const out = join(here, 'gen');
  rmSync(out, { recursive: true, force: true });
  const args = [
    'transpile', wasm, '--name', 'user_phone_guest', '-o', out, '--no-wasi-shim', '--quiet',
    '--map', `${STORAGE_IMPORT}=../storage.js`,
  ];
  const jco = join(here, 'node_modules', '@bytecodealliance', 'jco', 'dist', 'jco.js');
  console.log(`transpile: jco ${args.map((a) => (/[\s'"]/.test(a) ? JSON.stringify(a) : a)).join(' ')}`);
  const run = spawnSync(process.execPath, [jco, ...args], { stdio: 'inherit', cwd: here });
  if (run.status !== 0) {
    console.error(`transpile: jco failed (${run.status ?? run.signal})`);
    process.exit(1);
  }

  // The component may import the storage interface only: anything else left as an
  // import of the generated module (a wasi:* interface, a shim) is an error here.
  const js = readFileSync(join(out, 'user_phone_guest.js'), 'utf8');
  const specifiers = [...js.matchAll(/^\s*import\s[^;]*?from\s+'([^']+)'/gm)].map((m) => m[1]);
  const dynamic = [...js.matchAll(/\bimport\(\s*'([^']+)'\s*\)/g)].map((m) => m[1]);
  const foreign = [...specifiers, ...dynamic].filter((s) => s !== '../storage.js' && !s.startsWith('node:'));
  if (foreign.length > 0 || !specifiers.includes('../storage.js')) {
    console.error(`transpile: the generated module imports ${JSON.stringify([...specifiers, ...dynamic])}; ` +
      `expected only ../storage.js (the component must import ${STORAGE_IMPORT} and nothing else)`);
    process.exit(1);
  }
  writeFileSync(join(out, 'source.json'), `${JSON.stringify({ wasm, sha256: sha256File(wasm) }, null, 2)}\n`);
  console.log(`transpile: gen/user_phone_guest.js from ${wasm}`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
