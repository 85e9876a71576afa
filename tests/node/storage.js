// The storage the user-phone component imports (`user-phone:endpoint/storage@0.1.0`),
// implemented in JavaScript over the store snapshot format
// (shared/spec/snapshot-format.md), for embedding the component with jco.
//
// The transpiled component imports the five storage functions from this module (jco's
// `--map 'user-phone:endpoint/storage@0.1.0=../storage.js'`). Which store they read is
// swappable: `setStore(loadSnapshotFile(path))` before a call.
//
// How jco (1.35) maps the WIT for these imports:
// - `result<T, storage-error>`: return the T for `ok`; throw for `err`. The thrown value
//   must be the error case itself (`'unavailable'` / `'internal'`) or an object with a
//   `payload` property holding it (`StorageFailure` below). Any other thrown `Error`
//   would escape through the component to its caller, so every function here catches
//   its own faults and turns them into `internal`.
// - `option<T>`: `undefined` (or `null`) for none, the value itself for some.
// - records: plain objects with lowerCamelCase keys; enums: their case names as strings;
//   variants: `{ tag: 'case-name', val }` (`val` left out for a case without payload).
// - `u64` / `s64`: BigInt; `u32`, `u16`: Number; `list<u8>`: Uint8Array.

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

// ------------------------------------------------------------------ errors

/** A failed storage call: `payload` is the WIT `storage-error` case the component sees. */
export class StorageFailure extends Error {
  constructor(kind, cause) {
    super(`storage ${kind}${cause ? `: ${cause.message ?? cause}` : ''}`, { cause });
    this.name = 'StorageFailure';
    // jco hands `payload` to the component as the `err` value of the result.
    Object.defineProperty(this, 'payload', { value: kind, enumerable: true });
  }
}

/** A snapshot that breaks a rule; the message names the JSON path of the offending value. */
export class SnapshotError extends Error {
  constructor(path, message) {
    super(`${path}: ${message}`);
    this.name = 'SnapshotError';
    this.path = path;
  }
}

// ------------------------------------------------------------------ exact JSON

/** A JSON number kept as its source text (sequences go up to 2^64-1, past a double). */
class RawNumber {
  constructor(text) {
    this.text = text;
  }
}

/**
 * Parses JSON strictly (RFC 8259), keeping numbers as `RawNumber` and rejecting
 * duplicate keys. Objects keep their key order.
 */
export function parseJsonExact(text) {
  let i = 0;
  const fail = (msg) => {
    throw new SyntaxError(`JSON at offset ${i}: ${msg}`);
  };
  const ws = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i])) i++;
  };
  const value = () => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      const obj = Object.create(null);
      const keys = new Set();
      ws();
      if (text[i] === '}') {
        i++;
        return obj;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail('expected a key');
        const key = string();
        if (keys.has(key)) fail(`duplicate key ${JSON.stringify(key)}`);
        keys.add(key);
        ws();
        if (text[i] !== ':') fail("expected ':'");
        i++;
        obj[key] = value();
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === '}') {
          i++;
          return obj;
        }
        fail("expected ',' or '}'");
      }
    }
    if (c === '[') {
      i++;
      const arr = [];
      ws();
      if (text[i] === ']') {
        i++;
        return arr;
      }
      for (;;) {
        arr.push(value());
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === ']') {
          i++;
          return arr;
        }
        fail("expected ',' or ']'");
      }
    }
    if (c === '"') return string();
    for (const [lit, v] of [['true', true], ['false', false], ['null', null]]) {
      if (text.startsWith(lit, i)) {
        i += lit.length;
        return v;
      }
    }
    const m = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/.exec(text.slice(i, i + 400));
    if (!m) fail('unexpected character');
    i += m[0].length;
    return new RawNumber(m[0]);
  };
  const string = () => {
    const m = /^"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/.exec(text.slice(i));
    if (!m) fail('bad string');
    i += m[0].length;
    return JSON.parse(m[0]);
  };
  const v = value();
  ws();
  if (i !== text.length) fail('trailing characters');
  return v;
}

// ------------------------------------------------------------------ time

const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;

function daysFromCivil(y, m, d) {
  y -= m <= 2 ? 1 : 0;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

function daysInMonth(y, m) {
  if (m === 2) return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0 ? 29 : 28;
  return [4, 6, 9, 11].includes(m) ? 30 : 31;
}

/**
 * RFC 3339 date-time (offset required, up to 9 fractional digits) to the WIT
 * `timestamp` `{seconds: bigint, nanos: number}`, exact to the nanosecond. Throws a
 * plain Error naming the problem.
 */
export function parseRfc3339(s) {
  const m = typeof s === 'string' ? RFC3339.exec(s) : null;
  if (!m) throw new Error(`not an RFC 3339 date-time with offset: ${JSON.stringify(s)}`);
  const [y, mo, d, h, mi, se] = m.slice(1, 7).map(Number);
  if (mo < 1 || mo > 12 || d < 1 || d > daysInMonth(y, mo) || h > 23 || mi > 59 || se > 59) {
    throw new Error(`date-time out of range: ${JSON.stringify(s)}`);
  }
  const nanos = m[7] ? Number(m[7].padEnd(9, '0')) : 0;
  let offset = 0;
  if (!m[8]) {
    const oh = Number(m[10]);
    const om = Number(m[11]);
    if (oh > 23 || om > 59) throw new Error(`offset out of range: ${JSON.stringify(s)}`);
    offset = (m[9] === '+' ? 1 : -1) * (oh * 3600 + om * 60);
  }
  const seconds = BigInt(daysFromCivil(y, mo, d)) * 86400n + BigInt(h * 3600 + mi * 60 + se - offset);
  return { seconds, nanos };
}

// ------------------------------------------------------------------ snapshot

const KEYS = {
  root: ['instances'],
  instance: ['id', 'domains', 'defaultLanguage', 'orgs', 'users', 'members', 'tokens'],
  org: ['id', 'name', 'state'],
  user: [
    'id', 'resourceOwner', 'type', 'state', 'userName', 'preferredLanguage', 'phone',
    'isPhoneVerified', 'sequence', 'creationDate', 'changeDate',
  ],
  member: ['userId', 'scope', 'orgId', 'projectId', 'grantId', 'grantedOrgId', 'roles'],
  token: ['token', 'tokenSha256', 'userId', 'expirationDate'],
};
const SCOPE_KEYS = {
  instance: [],
  org: ['orgId'],
  project: ['projectId', 'orgId'],
  'project-grant': ['projectId', 'grantId', 'orgId', 'grantedOrgId'],
};
const U64_MAX = (1n << 64n) - 1n;

function isObject(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof RawNumber);
}

function describe(v) {
  if (v instanceof RawNumber) return `number ${v.text}`;
  if (Array.isArray(v)) return 'an array';
  if (v === null) return 'null';
  return typeof v === 'object' ? 'an object' : `${typeof v} ${JSON.stringify(v)}`;
}

function object(v, path, kind, required) {
  if (!isObject(v)) throw new SnapshotError(path, `expected an object, got ${describe(v)}`);
  for (const key of Object.keys(v)) {
    if (!KEYS[kind].includes(key)) throw new SnapshotError(`${path}.${key}`, 'unknown key');
  }
  for (const key of required) {
    if (!(key in v)) throw new SnapshotError(`${path}.${key}`, 'missing');
  }
  return v;
}

function array(v, path) {
  if (!Array.isArray(v)) throw new SnapshotError(path, `expected an array, got ${describe(v)}`);
  return v;
}

function string(v, path, { nonEmpty = false } = {}) {
  if (typeof v !== 'string') throw new SnapshotError(path, `expected a string, got ${describe(v)}`);
  if (nonEmpty && v === '') throw new SnapshotError(path, 'must not be empty');
  return v;
}

function optString(obj, key, path, dflt) {
  return key in obj ? string(obj[key], `${path}.${key}`) : dflt;
}

function bool(v, path) {
  if (typeof v !== 'boolean') throw new SnapshotError(path, `expected a boolean, got ${describe(v)}`);
  return v;
}

function oneOf(v, path, cases) {
  string(v, path);
  if (!cases.includes(v)) throw new SnapshotError(path, `expected one of ${cases.join(', ')}, got ${JSON.stringify(v)}`);
  return v;
}

function u64(v, path) {
  const text = v instanceof RawNumber ? v.text : typeof v === 'string' ? v : null;
  if (text === null || !/^(0|[1-9]\d*)$/.test(text)) {
    throw new SnapshotError(path, `expected an integer 0 to 2^64-1 (number or decimal string), got ${describe(v)}`);
  }
  const n = BigInt(text);
  if (n > U64_MAX) throw new SnapshotError(path, `out of range (0 to 2^64-1): ${text}`);
  return n;
}

function date(obj, key, path) {
  if (!(key in obj)) return undefined;
  const p = `${path}.${key}`;
  string(obj[key], p);
  try {
    return parseRfc3339(obj[key]);
  } catch (e) {
    throw new SnapshotError(p, e.message);
  }
}

function unique(seen, id, path, what) {
  if (seen.has(id)) throw new SnapshotError(path, `duplicate ${what} ${JSON.stringify(id)}`);
  seen.add(id);
}

function languageTag(obj, key, path) {
  if (!(key in obj)) return undefined;
  const v = string(obj[key], `${path}.${key}`, { nonEmpty: true });
  if (!/^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$/.test(v)) {
    throw new SnapshotError(`${path}.${key}`, `not a BCP 47 tag: ${JSON.stringify(v)}`);
  }
  return v;
}

const sha256Hex = (bytes) => createHash('sha256').update(bytes).digest('hex');

/**
 * Builds an in-memory store from a parsed snapshot document (as returned by
 * `parseJsonExact`; a document from `JSON.parse` works too, except for sequences beyond
 * 2^53, which it has already rounded). Throws a SnapshotError naming the JSON path of the
 * first value that breaks a rule.
 */
export function buildStore(doc) {
  object(doc, '$', 'root', ['instances']);
  const instances = new Map(); // id -> instance record
  const domains = new Map(); // domain -> instance id
  array(doc.instances, 'instances').forEach((inst, ii) => {
    const ip = `instances[${ii}]`;
    object(inst, ip, 'instance', ['id', 'domains']);
    const id = string(inst.id, `${ip}.id`, { nonEmpty: true });
    if (instances.has(id)) throw new SnapshotError(`${ip}.id`, `duplicate instance ${JSON.stringify(id)}`);
    array(inst.domains, `${ip}.domains`).forEach((d, di) => {
      const dp = `${ip}.domains[${di}]`;
      string(d, dp, { nonEmpty: true });
      if (d !== d.toLowerCase() || d.includes(':') || /\s/.test(d)) {
        throw new SnapshotError(dp, `not a lower-case host name without port: ${JSON.stringify(d)}`);
      }
      if (domains.has(d)) throw new SnapshotError(dp, `domain ${JSON.stringify(d)} belongs to another instance already`);
      domains.set(d, id);
    });
    const record = {
      instance: { id, defaultLanguage: languageTag(inst, 'defaultLanguage', ip) ?? 'en' },
      orgs: new Map(),
      users: new Map(),
      members: new Map(), // user id -> membership[]
      tokens: new Map(), // sha256 hex -> token
    };

    array(inst.orgs ?? [], `${ip}.orgs`).forEach((o, oi) => {
      const op = `${ip}.orgs[${oi}]`;
      object(o, op, 'org', ['id', 'state']);
      const oid = string(o.id, `${op}.id`, { nonEmpty: true });
      if (record.orgs.has(oid)) throw new SnapshotError(`${op}.id`, `duplicate org ${JSON.stringify(oid)}`);
      optString(o, 'name', op);
      const state = oneOf(o.state, `${op}.state`, ['active', 'inactive']);
      record.orgs.set(oid, { id: oid, active: state === 'active' });
    });

    array(inst.users ?? [], `${ip}.users`).forEach((u, ui) => {
      const up = `${ip}.users[${ui}]`;
      object(u, up, 'user', ['id', 'resourceOwner', 'type', 'state', 'sequence']);
      const uid = string(u.id, `${up}.id`, { nonEmpty: true });
      if (record.users.has(uid)) throw new SnapshotError(`${up}.id`, `duplicate user ${JSON.stringify(uid)}`);
      const kind = oneOf(u.type, `${up}.type`, ['human', 'machine']);
      if (kind === 'machine') {
        for (const key of ['phone', 'isPhoneVerified']) {
          if (key in u) throw new SnapshotError(`${up}.${key}`, 'a machine user has no phone');
        }
      }
      const phone = optString(u, 'phone', up, '');
      const isPhoneVerified = 'isPhoneVerified' in u ? bool(u.isPhoneVerified, `${up}.isPhoneVerified`) : false;
      optString(u, 'userName', up);
      record.users.set(uid, {
        id: uid,
        instanceId: id,
        resourceOwner: string(u.resourceOwner, `${up}.resourceOwner`, { nonEmpty: true }),
        kind,
        state: oneOf(u.state, `${up}.state`, ['active', 'inactive', 'locked', 'initial']),
        preferredLanguage: languageTag(u, 'preferredLanguage', up),
        phone,
        isPhoneVerified,
        sequence: u64(u.sequence, `${up}.sequence`),
        creationDate: date(u, 'creationDate', up),
        changeDate: date(u, 'changeDate', up),
      });
    });

    array(inst.members ?? [], `${ip}.members`).forEach((mem, mi) => {
      const mp = `${ip}.members[${mi}]`;
      object(mem, mp, 'member', ['userId', 'scope', 'roles']);
      const userId = string(mem.userId, `${mp}.userId`, { nonEmpty: true });
      const scopeName = oneOf(mem.scope, `${mp}.scope`, Object.keys(SCOPE_KEYS));
      for (const key of ['orgId', 'projectId', 'grantId', 'grantedOrgId']) {
        const wanted = SCOPE_KEYS[scopeName].includes(key);
        if (wanted && !(key in mem)) throw new SnapshotError(`${mp}.${key}`, `missing (scope ${scopeName})`);
        if (!wanted && key in mem) throw new SnapshotError(`${mp}.${key}`, `not allowed for scope ${scopeName}`);
        if (wanted) string(mem[key], `${mp}.${key}`, { nonEmpty: true });
      }
      const roles = array(mem.roles, `${mp}.roles`).map((r, ri) => string(r, `${mp}.roles[${ri}]`, { nonEmpty: true }));
      let scope;
      switch (scopeName) {
        case 'instance':
          scope = { tag: 'instance' };
          break;
        case 'org':
          scope = { tag: 'org', val: mem.orgId };
          break;
        case 'project':
          scope = { tag: 'project', val: { projectId: mem.projectId, ownerOrgId: mem.orgId } };
          break;
        default:
          scope = {
            tag: 'project-grant',
            val: {
              projectId: mem.projectId,
              grantId: mem.grantId,
              ownerOrgId: mem.orgId,
              grantedOrgId: mem.grantedOrgId,
            },
          };
      }
      if (!record.members.has(userId)) record.members.set(userId, []);
      record.members.get(userId).push({ scope, roles });
    });

    array(inst.tokens ?? [], `${ip}.tokens`).forEach((t, ti) => {
      const tp = `${ip}.tokens[${ti}]`;
      object(t, tp, 'token', ['userId']);
      let hex;
      if (('token' in t) === ('tokenSha256' in t)) {
        throw new SnapshotError(tp, 'exactly one of token and tokenSha256 is required');
      } else if ('token' in t) {
        hex = sha256Hex(Buffer.from(string(t.token, `${tp}.token`, { nonEmpty: true }), 'utf8'));
      } else {
        hex = string(t.tokenSha256, `${tp}.tokenSha256`);
        if (!/^[0-9a-fA-F]{64}$/.test(hex)) throw new SnapshotError(`${tp}.tokenSha256`, 'expected 64 hex digits');
        hex = hex.toLowerCase();
      }
      if (record.tokens.has(hex)) throw new SnapshotError(tp, 'duplicate token');
      record.tokens.set(hex, {
        userId: string(t.userId, `${tp}.userId`, { nonEmpty: true }),
        expiration: date(t, 'expirationDate', tp),
      });
    });

    instances.set(id, record);
  });
  return { instances, domains };
}

/** Parses and validates snapshot JSON text into a store. */
export function loadSnapshot(text) {
  return buildStore(parseJsonExact(text));
}

/** Reads, parses and validates a snapshot file into a store. */
export function loadSnapshotFile(path) {
  try {
    return loadSnapshot(readFileSync(path, 'utf8'));
  } catch (e) {
    e.message = `${path}: ${e.message}`;
    throw e;
  }
}

// ------------------------------------------------------------------ the current store

let current = null;
let faultInjection = null;

/** Makes `store` (from `loadSnapshot*`) the one the component reads; null: none. */
export function setStore(store) {
  current = store;
}

/**
 * Makes the following storage calls fail with `kind` (`'unavailable'` or `'internal'`),
 * all of them or only those of the WIT function `only` (`'find-user'`, ...), until called
 * again with null; for testing how the component answers a failing store.
 */
export function setFailure(kind, only) {
  faultInjection = kind ? { kind, only } : null;
}

let onCall = null;

/** Calls `fn(name, args)` before every storage call (null: none); to observe the calls. */
export function setOnCall(fn) {
  onCall = fn;
}

// Runs one storage call: never lets a JS exception escape as anything but a storage
// error, and logs the cause of a real failure (the component only learns its kind).
function call(name, args, body) {
  onCall?.(name, args);
  if (faultInjection && (faultInjection.only === undefined || faultInjection.only === name)) {
    throw new StorageFailure(faultInjection.kind, new Error('injected failure'));
  }
  try {
    if (current === null) throw new StorageFailure('unavailable', new Error('no store set (call setStore first)'));
    return body(current);
  } catch (e) {
    const failure = e instanceof StorageFailure ? e : new StorageFailure('internal', e);
    console.error(`storage ${name} failed:`, failure.cause ?? failure);
    throw failure;
  }
}

const inInstance = (store, instance) => store.instances.get(instance);

/** `find-instance`: the instance one of whose domains is `domain` (exact match). */
export function findInstance(domain) {
  return call('find-instance', [domain], (store) => {
    const id = store.domains.get(domain);
    return id === undefined ? undefined : { ...store.instances.get(id).instance };
  });
}

/** `find-token`: the token of `instance` whose plain text has this SHA-256 (32 bytes). */
export function findToken(instance, tokenSha256) {
  return call('find-token', [instance, tokenSha256], (store) => {
    if (!(tokenSha256 instanceof Uint8Array) || tokenSha256.length !== 32) return undefined;
    const token = inInstance(store, instance)?.tokens.get(Buffer.from(tokenSha256).toString('hex'));
    return token === undefined ? undefined : { ...token };
  });
}

/** `find-org`: the organization `orgId` of `instance`. */
export function findOrg(instance, orgId) {
  return call('find-org', [instance, orgId], (store) => {
    const org = inInstance(store, instance)?.orgs.get(orgId);
    return org === undefined ? undefined : { ...org };
  });
}

/** `list-memberships`: every membership `userId` holds in `instance`; [] when none. */
export function listMemberships(instance, userId) {
  return call('list-memberships', [instance, userId], (store) =>
    (inInstance(store, instance)?.members.get(userId) ?? []).map((m) => ({
      scope: m.scope.val === undefined ? { tag: m.scope.tag } : { tag: m.scope.tag, val: structuredClone(m.scope.val) },
      roles: [...m.roles],
    })),
  );
}

/** `find-user`: the user `userId` of `instance`, whatever its organization, kind or state. */
export function findUser(instance, userId) {
  return call('find-user', [instance, userId], (store) => {
    const user = inInstance(store, instance)?.users.get(userId);
    return user === undefined ? undefined : { ...user };
  });
}
