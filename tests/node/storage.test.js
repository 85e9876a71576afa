// Checks of the JavaScript storage (storage.js) itself, and of how jco carries its
// answers and failures into the component: the scenario runner is only as right as these.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { invoke } from './component.js';
import * as storage from './storage.js';

const here = dirname(fileURLToPath(import.meta.url));
const basePath = resolve(here, '../snapshots/base.json');
const base = storage.loadSnapshotFile(basePath);
storage.setStore(base);
const sha = (text) => new Uint8Array(createHash('sha256').update(text, 'utf8').digest());

const A = '230000000000000001';
const B = '240000000000000001';
const ACME = '69629023906488334';

test('storage › RFC 3339 to the nanosecond, offsets applied exactly', () => {
  const cases = {
    '1969-12-31T23:59:59.5Z': [-1n, 500000000],
    '2025-07-01T00:00:00.000000001+01:00': [1751324400n, 1],
    '2025-07-01T00:30:00.999999999+00:30': [1751328000n, 999999999],
    '2025-12-31T19:30:00.5-05:30': [1767229200n, 500000000],
    '2025-02-03T04:05:06.1234567Z': [1738555506n, 123456700],
    '0001-01-01T00:00:00Z': [-62135596800n, 0],
    '9999-12-31T23:59:59.999999999Z': [253402300799n, 999999999],
    '2024-02-29T12:00:00z': [1709208000n, 0],
    '2026-06-01T12:00:00Z': [1780315200n, 0],
  };
  for (const [text, [seconds, nanos]] of Object.entries(cases)) {
    assert.deepEqual(storage.parseRfc3339(text), { seconds, nanos }, text);
  }
  for (const bad of ['2025-02-29T00:00:00Z', '2025-01-01T24:00:00Z', '2025-01-01T00:00:00', '2025-01-01 00:00:00Z',
    '2025-01-01T00:00:00.1234567890Z', '2025-01-01T00:00:00.Z', '2025-01-01T00:00:00+0100']) {
    assert.throws(() => storage.parseRfc3339(bad), undefined, bad);
  }
});

test('storage › users: enums, options, u64 sequences kept exact, instance scoping', () => {
  const user = storage.findUser(A, '69629026806489455');
  assert.deepEqual(user, {
    id: '69629026806489455',
    instanceId: A,
    resourceOwner: ACME,
    kind: 'human',
    state: 'active',
    preferredLanguage: 'de',
    phone: '+41 71 000 00 00',
    isPhoneVerified: true,
    sequence: 2n,
    creationDate: { seconds: 1742898527n, nanos: 419000000 },
    changeDate: { seconds: 1742898527n, nanos: 419000000 },
  });
  const machine = storage.findUser(A, '69629031106484124');
  assert.equal(machine.kind, 'machine');
  assert.equal(machine.state, 'inactive');
  assert.equal(machine.phone, '');
  assert.equal(machine.isPhoneVerified, false);
  assert.equal(machine.preferredLanguage, undefined);
  assert.equal(storage.findUser(A, '69629026806489491').sequence, 18446744073709551615n);
  assert.equal(storage.findUser(A, '69629026806489492').sequence, 18446744073709551614n);
  assert.equal(storage.findUser(A, '69629026806489493').sequence, 9223372036854775808n);
  // the same id in two instances, and ids of one instance asked in the other
  assert.equal(storage.findUser(A, '90000000000000001').phone, '+41 44 111 11 11');
  assert.equal(storage.findUser(B, '90000000000000001').phone, '+49 30 222 22 22');
  assert.equal(storage.findUser(B, '69629026806489455'), undefined);
  assert.equal(storage.findUser('no-such-instance', '69629026806489455'), undefined);
});

test('storage › instances, orgs, tokens by SHA-256, memberships as variants', () => {
  storage.setStore(base);
  assert.deepEqual(storage.findInstance('acme.example.com'), { id: A, defaultLanguage: 'en' });
  assert.deepEqual(storage.findInstance('beispiel.example.de'), { id: B, defaultLanguage: 'de' });
  assert.equal(storage.findInstance('ACME.example.com'), undefined);
  assert.equal(storage.findInstance('unknown.example.com'), undefined);

  assert.deepEqual(storage.findOrg(A, '70000000000000004'), { id: '70000000000000004', active: false });
  assert.equal(storage.findOrg(B, ACME), undefined);

  assert.deepEqual(storage.findToken(A, sha('owner-token')), { userId: '69629030000000001', expiration: undefined });
  assert.deepEqual(storage.findToken(A, sha('owner-token-plus-1ns')).expiration, { seconds: 1780315200n, nanos: 1 });
  // tokenSha256 entries: the digest as stored, found by the plain text's hash
  assert.equal(storage.findToken(A, sha('iam-owner-token'))?.userId, '69629030000000002');
  assert.equal(storage.findToken(B, sha('b-iam-token'))?.userId, '80000000000000013');
  assert.equal(storage.findToken(A, sha('b-iam-token')), undefined);
  assert.equal(storage.findToken(A, new Uint8Array(31)), undefined);

  assert.deepEqual(storage.listMemberships(A, '69629030000000002'), [{ scope: { tag: 'instance' }, roles: ['IAM_OWNER'] }]);
  assert.deepEqual(storage.listMemberships(A, '70000000000000210'), [
    { scope: { tag: 'project', val: { projectId: '71000000000000001', ownerOrgId: ACME } }, roles: ['PROJECT_OWNER'] },
  ]);
  assert.deepEqual(storage.listMemberships(A, '70000000000000310'), [
    {
      scope: {
        tag: 'project-grant',
        val: { projectId: '71000000000000001', grantId: '72000000000000001', ownerOrgId: ACME, grantedOrgId: '70000000000000003' },
      },
      roles: ['PROJECT_GRANT_OWNER'],
    },
  ]);
  assert.deepEqual(storage.listMemberships(A, '69629031106484123'), [{ scope: { tag: 'org', val: ACME }, roles: ['ORG_USER_MANAGER'] }]);
  assert.deepEqual(storage.listMemberships(A, 'nobody'), []);
  assert.deepEqual(storage.listMemberships(B, '69629030000000002'), []);
});

test('storage › a broken snapshot is rejected with the JSON path of the first problem', () => {
  const doc = JSON.parse(readFileSync(basePath, 'utf8'));
  // JSON.parse has rounded the sequences beyond 2^53 (why storage.js parses numbers exactly)
  for (const u of doc.instances[0].users) if (!Number.isSafeInteger(u.sequence)) u.sequence = '1';
  storage.loadSnapshot(JSON.stringify(doc));
  const broken = (edit, pattern) => {
    const copy = structuredClone(doc);
    edit(copy);
    assert.throws(() => storage.loadSnapshot(JSON.stringify(copy)), pattern);
  };
  broken((d) => { d.instances[0].users[3].phoneNumber = '1'; }, /^SnapshotError: instances\[0\]\.users\[3\]\.phoneNumber: unknown key/);
  broken((d) => { d.instances[0].users[1].sequence = -1; }, /instances\[0\]\.users\[1\]\.sequence: expected an integer/);
  broken((d) => { d.instances[0].users[1].sequence = '18446744073709551616'; }, /instances\[0\]\.users\[1\]\.sequence: out of range/);
  broken((d) => { d.instances[0].users[1].changeDate = '2025-04-02'; }, /instances\[0\]\.users\[1\]\.changeDate: not an RFC 3339/);
  broken((d) => { d.instances[0].users[1].state = 'removed'; }, /instances\[0\]\.users\[1\]\.state: expected one of/);
  broken((d) => { d.instances[0].users[3].phone = '+41'; }, /instances\[0\]\.users\[3\]\.phone: a machine user has no phone/);
  broken((d) => { d.instances[0].tokens[0].tokenSha256 = '00'.repeat(32); }, /instances\[0\]\.tokens\[0\]: exactly one of/);
  broken((d) => { d.instances[1].domains.push('localhost'); }, /instances\[1\]\.domains\[1\]: domain "localhost" belongs/);
  broken((d) => { d.instances[0].members[0].scope = 'instance'; }, /instances\[0\]\.members\[0\]\.orgId: not allowed for scope instance/);
  broken((d) => { d.instances[0].users.push(d.instances[0].users[0]); }, /duplicate user "69629026806489455"/);
  assert.throws(() => storage.loadSnapshot('{"instances":[],"instances":[]}'), /duplicate key/);
});

// ------------------------------------------------------------------ through the component

const request = (path, authorization = 'Bearer owner-token') => ({
  method: 'GET',
  path,
  headers: [['host', new TextEncoder().encode('acme.example.com')], ['authorization', new TextEncoder().encode(authorization)]],
  body: new Uint8Array(),
  now: storage.parseRfc3339('2026-06-01T12:00:00Z'),
});
const caller = { host: 'acme.example.com', authorization: 'Bearer owner-token', now: storage.parseRfc3339('2026-06-01T12:00:00Z') };
const USER = '69629026806489455';

test('component › every storage call after find-instance is scoped by the instance it returned', async () => {
  storage.setStore(base);
  const calls = [];
  storage.setOnCall((name, args) => calls.push([name, ...args]));
  try {
    const { value } = await invoke((c) => c.wire.handle(request(`/management/v1/users/${USER}/phone`)));
    assert.equal(value.status, 200);
  } finally {
    storage.setOnCall(null);
  }
  assert.deepEqual(calls[0], ['find-instance', 'acme.example.com']);
  const names = calls.map(([n]) => n);
  for (const name of ['find-token', 'find-org', 'list-memberships', 'find-user']) assert.ok(names.includes(name), name);
  for (const [name, instance] of calls.slice(1)) assert.equal(instance, A, `${name} scoped by ${A}`);
  const token = calls.find(([n]) => n === 'find-token')[2];
  assert.ok(token instanceof Uint8Array && Buffer.from(token).equals(Buffer.from(sha('owner-token'))), 'find-token gets the SHA-256 as list<u8>');
});

for (const fn of ['find-instance', 'find-token', 'find-org', 'list-memberships', 'find-user']) {
  for (const kind of ['unavailable', 'internal']) {
    test(`component › ${fn} failing with ${kind} answers Internal QUERY-Bmf2h, wire and typed`, async () => {
      storage.setStore(base);
      storage.setFailure(kind, fn);
      try {
        const { value: res } = await invoke((c) => c.wire.handle(request(`/management/v1/users/${USER}/phone`)));
        const body = JSON.parse(new TextDecoder().decode(res.body));
        assert.equal(res.status, 500, JSON.stringify(body));
        assert.equal(body.code, 13);
        assert.equal(body.details?.[0]?.id, 'QUERY-Bmf2h', JSON.stringify(body));
        const { value, error } = await invoke((c) => c.lookup.getUserPhone(caller, USER));
        assert.equal(value, undefined);
        assert.equal(error.payload.code, 'internal');
        assert.equal(error.payload.id, 'QUERY-Bmf2h');
      } finally {
        storage.setFailure(null);
      }
    });
  }
}

test('component › a storage function that throws a plain Error is reported as internal, not a trap', async () => {
  // a store whose lookup breaks: storage.js turns the TypeError into storage-error internal
  storage.setStore({ instances: null, domains: new Map([['acme.example.com', A]]) });
  const errors = [];
  const original = console.error;
  console.error = (...args) => errors.push(args.join(' '));
  try {
    const { value: res } = await invoke((c) => c.wire.handle(request(`/management/v1/users/${USER}/phone`)));
    assert.equal(res.status, 500);
  } finally {
    console.error = original;
    storage.setStore(base);
  }
  assert.ok(errors.some((e) => e.startsWith('storage find-instance failed:')), 'the cause is logged by the host');
});

test('component › a value jco cannot lower throws out of the call, and the next call gets a fresh instance', async () => {
  // a store that answers find-user with a kind outside the WIT enum
  const inst = base.instances.get(A);
  const users = new Map([...inst.users].map(([id, u]) => [id, { ...u, kind: 'robot' }]));
  storage.setStore({ ...base, instances: new Map([...base.instances, [A, { ...inst, users }]]) });
  try {
    await assert.rejects(invoke((c) => c.lookup.getUserPhone(caller, USER)), /instance replaced.*"robot" is not one of the cases of user-kind/s);
  } finally {
    storage.setStore(base);
  }
  const { value } = await invoke((c) => c.lookup.getUserPhone(caller, USER));
  assert.equal(value.phone.phone, '+41 71 000 00 00');
  assert.equal(value.details.sequence, 2n);
});
