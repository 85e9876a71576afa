// main.js: both exports.
import { lookup, wire } from './gen/user_phone.js';

const now = { seconds: BigInt(Math.floor(Date.now() / 1000)), nanos: 0 };
try {
  const found = lookup.getUserPhone(
    { host: 'localhost', authorization: 'Bearer demo-bot-token', now }, 'rr');
  console.log(found.phone); // { phone: '+41 71 000 00 00', isPhoneVerified: true }
} catch (e) {
  console.log(e.payload); // { code: 'not-found', id: 'QUERY-DAvb3', message: '…' }
}
const res = wire.handle({
  method: 'GET',
  path: '/management/v1/users/rr/phone',
  headers: [['host', Buffer.from('localhost')],
            ['authorization', Buffer.from('Bearer demo-bot-token')]],
  body: new Uint8Array(),
  now,
});
console.log(res.status, Buffer.from(res.body).toString()); // 200 {"details":…}
