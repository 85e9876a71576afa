// storage.js: one instance, one organization, one token, held in memory.
import { createHash } from 'node:crypto';

const sha256 = (text) => createHash('sha256').update(text).digest('hex');
const instance = { id: 'i1', defaultLanguage: 'en' };
const tokens = new Map([[sha256('demo-bot-token'), { userId: 'bot' }]]);
const orgs = new Map([['acme', { id: 'acme', active: true }]]);
const users = new Map([
  ['bot', { id: 'bot', instanceId: 'i1', resourceOwner: 'acme', kind: 'machine',
            state: 'active', phone: '', isPhoneVerified: false, sequence: 1n }],
  ['rr', { id: 'rr', instanceId: 'i1', resourceOwner: 'acme', kind: 'human',
           state: 'active', phone: '+41 71 000 00 00', isPhoneVerified: true, sequence: 2n,
           creationDate: { seconds: 1742898527n, nanos: 419000000 } }],
]);
const memberships = new Map([
  ['bot', [{ scope: { tag: 'org', val: 'acme' }, roles: ['ORG_USER_MANAGER'] }]],
]);

const scoped = (id, map, key) => (id === instance.id ? map.get(key) : undefined);
export const findInstance = (domain) => (domain === 'localhost' ? instance : undefined);
export const findToken = (id, digest) =>
  scoped(id, tokens, Buffer.from(digest).toString('hex'));
export const findOrg = (id, orgId) => scoped(id, orgs, orgId);
export const listMemberships = (id, userId) => scoped(id, memberships, userId) ?? [];
export const findUser = (id, userId) => scoped(id, users, userId);
