// Loads the transpiled component (gen/, made by `npm run transpile`) for the tests, and
// calls it so that a trap never poisons the calls that follow.

import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { sha256File, wasmPath } from './transpile.js';

const here = dirname(fileURLToPath(import.meta.url));
const generated = join(here, 'gen', 'user_phone_guest.js');

/** Throws unless gen/ was transpiled from the component USER_PHONE_WASM names now. */
export function checkFresh() {
  const wasm = wasmPath();
  const sourceFile = join(here, 'gen', 'source.json');
  if (!existsSync(generated) || !existsSync(sourceFile)) {
    throw new Error(`no transpiled component in ${join(here, 'gen')}: run \`npm run transpile\` (or \`npm test\`)`);
  }
  const source = JSON.parse(readFileSync(sourceFile, 'utf8'));
  if (!existsSync(wasm)) throw new Error(`no component at ${wasm} (USER_PHONE_WASM)`);
  if (source.wasm !== wasm || source.sha256 !== sha256File(wasm)) {
    throw new Error(`gen/ was transpiled from ${source.wasm} (sha256 ${source.sha256}), not from the current ` +
      `${wasm}: run \`npm run transpile\` (or \`npm test\`)`);
  }
}

// A trap leaves a component instance unusable ("cannot enter component instance");
// importing the generated module again under another URL gives a fresh instance, while
// storage.js, which it imports, stays the one module.
let instances = 0;
let component;

/** Replaces the component instance with a fresh one. */
export async function freshComponent() {
  const url = pathToFileURL(generated);
  url.search = `instance=${instances++}`;
  component = await import(url.href);
  return component;
}

/** jco's ComponentError: an export's `result` error, the WIT value in `.payload`. */
export const isComponentError = (e) =>
  e instanceof Error && e.constructor?.name === 'ComponentError' && Object.hasOwn(e, 'payload');

/**
 * Runs `fn(component)`: `{value}` on return, `{error}` for a ComponentError (an `err`
 * result of an export). Anything else thrown (a trap) replaces the instance and is
 * rethrown as a failure.
 */
export async function invoke(fn) {
  if (component === undefined) {
    checkFresh();
    await freshComponent();
  }
  try {
    return { value: fn(component) };
  } catch (e) {
    if (isComponentError(e)) return { error: e };
    await freshComponent();
    throw new Error(`the component trapped or the call threw (instance replaced): ${e?.stack ?? e}`, { cause: e });
  }
}
