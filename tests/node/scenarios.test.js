// The scenario table (tests/scenarios/*.json) run against the user-phone component in
// Node.js, through both of its exports:
//
// - `<file> › <case> (wire)`: the request goes to `wire.handle` as it is written; status,
//   the expected headers and the body bytes must match.
// - `<file> › <case> (typed)`: for a GET on /management/v1/users/{id}/phone, the same
//   request as `lookup.getUserPhone(caller, userId)`; its result, printed the way the
//   wire prints it, must match the expected body. Other cases have no typed form and
//   run through the wire export alone.
//
// Run with `npm test` (transpiles first) or, after `npm run transpile`,
// `node --test scenarios.test.js`.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { checkFresh, invoke } from './component.js';
import * as storage from './storage.js';

const here = dirname(fileURLToPath(import.meta.url));
const scenarioDir = resolve(here, '../scenarios');

// ------------------------------------------------------------------ the component

// gen/ must come from the component USER_PHONE_WASM names now, not an older build.
checkFresh();

// ------------------------------------------------------------------ helpers

const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const lossyUtf8 = new TextDecoder('utf-8', { ignoreBOM: true });

const GRPC_CODES = {
  0: 'ok',
  3: 'invalid-argument',
  4: 'deadline-exceeded',
  5: 'not-found',
  7: 'permission-denied',
  8: 'resource-exhausted',
  9: 'failed-precondition',
  12: 'unimplemented',
  13: 'internal',
  14: 'unavailable',
  16: 'unauthenticated',
};

function civilFromDays(z) {
  z += 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor(
    (doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365,
  );
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  return [yoe + era * 400 + (m <= 2 ? 1 : 0), m, d];
}

/** A WIT timestamp as protojson prints it: UTC, `Z`, 0/3/6/9 fraction digits, fewest exact. */
function formatTimestamp({ seconds, nanos }) {
  if (typeof seconds !== 'bigint' || !Number.isInteger(nanos) || nanos < 0 || nanos > 999_999_999) {
    throw new Error(`invalid timestamp {seconds: ${seconds}, nanos: ${nanos}}`);
  }
  const days = seconds >= 0n ? seconds / 86400n : -((-seconds + 86399n) / 86400n);
  const rem = Number(seconds - days * 86400n);
  const [y, m, d] = civilFromDays(Number(days));
  const p = (n, w = 2) => String(n).padStart(w, '0');
  const time = `${p(Math.floor(rem / 3600))}:${p(Math.floor((rem % 3600) / 60))}:${p(rem % 60)}`;
  let out = `${p(y, 4)}-${p(m)}-${p(d)}T${time}`;
  if (nanos !== 0) {
    if (nanos % 1_000_000 === 0) out += `.${p(nanos / 1_000_000, 3)}`;
    else if (nanos % 1000 === 0) out += `.${p(nanos / 1000, 6)}`;
    else out += `.${p(nanos, 9)}`;
  }
  return `${out}Z`;
}

/** `lookup.user-phone` as the JSON body the wire sends for it (defaults left out). */
function userPhoneJson({ details, phone }) {
  const d = {};
  if (details.sequence !== 0n) d.sequence = details.sequence.toString();
  if (details.creationDate !== undefined && details.creationDate !== null) {
    d.creationDate = formatTimestamp(details.creationDate);
  }
  if (details.changeDate !== undefined && details.changeDate !== null) {
    d.changeDate = formatTimestamp(details.changeDate);
  }
  if (details.resourceOwner !== '') d.resourceOwner = details.resourceOwner;
  const p = {};
  if (phone.phone !== '') p.phone = phone.phone;
  if (phone.isPhoneVerified) p.isPhoneVerified = true;
  return JSON.stringify({ details: d, phone: p });
}

/** The request's headers as wire `list<tuple<string, list<u8>>>`, repeated ones in order. */
function wireHeaders(headers) {
  const out = [];
  for (const [name, value] of Object.entries(headers ?? {})) {
    for (const v of Array.isArray(value) ? value : [value]) out.push([name, utf8.encode(v)]);
  }
  return out;
}

/** Percent-decodes one path segment to a string; null if it is not valid UTF-8. */
function decodeSegment(segment) {
  const bytes = [];
  for (let i = 0; i < segment.length; ) {
    if (segment[i] === '%') {
      const hex = segment.slice(i + 1, i + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return null;
      bytes.push(parseInt(hex, 16));
      i += 3;
    } else {
      const cp = segment.codePointAt(i);
      const ch = String.fromCodePoint(cp);
      bytes.push(...utf8.encode(ch));
      i += ch.length;
    }
  }
  try {
    return strictUtf8.decode(Uint8Array.from(bytes));
  } catch {
    return null;
  }
}

const ROUTE = /^\/management\/v1\/users\/([^/]*)\/phone$/;
const SINGLE = ['host', 'authorization', 'x-zitadel-orgid'];

/**
 * The typed call for a request (caller without `now`), or `{skip: reason}` when it has no
 * typed form.
 */
function typedCall(request) {
  if (request.method !== 'GET') return { skip: `${request.method}, not a GET on the route` };
  const path = request.path.split('?')[0];
  const m = ROUTE.exec(path);
  if (!m) return { skip: 'not the route' };
  const userId = decodeSegment(m[1]);
  if (userId === null) return { skip: 'id is not percent-encoded UTF-8' };
  const headers = request.headers ?? {};
  for (const name of SINGLE) {
    if (Array.isArray(headers[name]) && headers[name].length !== 1) {
      return { skip: `repeated ${name} header` };
    }
  }
  const one = (name) => {
    const v = headers[name];
    if (v === undefined) return undefined;
    return Array.isArray(v) ? v.join(', ') : v;
  };
  const caller = { host: one('host') ?? '' };
  const fields = [
    ['authorization', 'authorization'],
    ['orgId', 'x-zitadel-orgid'],
    ['acceptLanguage', 'accept-language'],
  ];
  for (const [key, name] of fields) {
    const v = one(name);
    if (v !== undefined) caller[key] = v;
  }
  return { caller, userId };
}

/** The typed result the expected wire answer stands for. */
function expectedTyped(expect) {
  const body = expect.body;
  if (expect.status === 200) return { ok: JSON.stringify(body) };
  const code = GRPC_CODES[body?.code];
  if (code === undefined) {
    throw new Error(`expected body has no WIT code for gRPC code ${JSON.stringify(body?.code)}`);
  }
  const detail =
    Array.isArray(body.details) && body.details.length > 0 ? body.details[0] : undefined;
  return { err: { code, id: detail?.id ?? null, message: detail ? detail.message : body.message } };
}

// ------------------------------------------------------------------ the table

const stores = new Map();
function storeFor(snapshotPath) {
  if (!stores.has(snapshotPath)) {
    try {
      stores.set(snapshotPath, { store: storage.loadSnapshotFile(snapshotPath) });
    } catch (e) {
      stores.set(snapshotPath, { error: e });
    }
  }
  const entry = stores.get(snapshotPath);
  if (entry.error) {
    throw new Error(`snapshot ${snapshotPath} does not load: ${entry.error.message}`);
  }
  return entry.store;
}

function parseNow(text, where) {
  if (text === undefined) throw new Error(`${where}: no \`now\``);
  return storage.parseRfc3339(text);
}

const files = readdirSync(scenarioDir).filter((f) => f.endsWith('.json')).sort();
if (files.length === 0) throw new Error(`no scenario files in ${scenarioDir}`);

for (const file of files) {
  const table = JSON.parse(readFileSync(join(scenarioDir, file), 'utf8'));
  const snapshotPath = resolve(scenarioDir, table.snapshot);
  for (const c of table.cases) {
    const label = `${file} › ${c.name}`;
    const nowText = c.now ?? table.now;
    const request = c.request;
    const expect = c.expect;

    test(`${label} (wire)`, async () => {
      storage.setStore(storeFor(snapshotPath));
      const now = parseNow(nowText, label);
      const { value: res } = await invoke((comp) =>
        comp.wire.handle({
          method: request.method,
          path: request.path,
          headers: wireHeaders(request.headers),
          body: utf8.encode(request.body ?? ''),
          now,
        }),
      );
      const bodyText = lossyUtf8.decode(res.body);
      const context =
        `\n  answer: ${res.status} ${JSON.stringify(res.headers)}\n  body: ${bodyText}`;

      assert.equal(res.status, expect.status, `status${context}`);
      for (const [name] of res.headers) {
        const why = `response header names are lower-case (WIT)${context}`;
        assert.equal(name, name.toLowerCase(), why);
      }
      for (const [name, want] of Object.entries(expect.headers ?? {})) {
        const got = res.headers.filter(([n]) => n === name).map(([, v]) => v);
        assert.deepEqual(got, Array.isArray(want) ? want : [want], `header ${name}${context}`);
      }
      assert.deepEqual(res.trailers, [], `trailers are empty for REST (WIT)${context}`);
      if ('body' in expect) {
        const want = JSON.stringify(expect.body);
        let got;
        try {
          got = strictUtf8.decode(res.body);
        } catch {
          assert.fail(`body is not valid UTF-8: ${Buffer.from(res.body).toString('hex')}`);
        }
        assert.equal(got, want, 'body');
        assert.ok(Buffer.from(res.body).equals(Buffer.from(want, 'utf8')), 'body bytes');
      }
    });

    // Requests with no typed form (another method or route, repeated headers) run
    // through the wire export alone, as in the Rust harness.
    const typed = typedCall(request);
    if (typed.skip) continue;
    test(`${label} (typed)`, async () => {
      storage.setStore(storeFor(snapshotPath));
      const caller = { ...typed.caller, now: parseNow(nowText, label) };
      const want = expectedTyped(expect);
      const { value, error } = await invoke((comp) =>
        comp.lookup.getUserPhone(caller, typed.userId),
      );
      if (error) {
        const p = error.payload;
        const got = { code: p.code, id: p.id ?? null, message: p.message };
        if (want.ok !== undefined) {
          assert.fail(`expected ok ${want.ok}\n  got error ${JSON.stringify(got)}`);
        }
        assert.deepEqual(got, want.err, 'error');
      } else {
        const got = userPhoneJson(value);
        if (want.err !== undefined) {
          assert.fail(`expected error ${JSON.stringify(want.err)}\n  got ok ${got}`);
        }
        assert.equal(got, want.ok, 'user-phone');
      }
    });
  }
}
