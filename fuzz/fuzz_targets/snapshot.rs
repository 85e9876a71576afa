//! Any text through the snapshot importer: it must not panic, and a document it accepts
//! must keep the format's rules (README: Snapshots), which the stores rely on.

#![no_main]

use std::collections::HashSet;

use libfuzzer_sys::fuzz_target;
use user_phone::bindings::types::{Timestamp, UserKind};
use user_phone::{MemoryStore, Snapshot};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(snapshot) = Snapshot::from_json(text) else {
        return;
    };
    let mut domains = HashSet::new();
    for data in &snapshot.instances {
        assert!(!data.instance.id.is_empty(), "an empty instance id");
        for domain in &data.domains {
            assert_eq!(domain, &domain.to_ascii_lowercase(), "a domain with capitals");
            assert!(!domain.contains(':'), "a domain with a port: {domain}");
            assert!(domains.insert(domain.clone()), "{domain} belongs to two instances");
        }
        let mut ids = HashSet::new();
        for user in &data.users {
            assert!(!user.id.is_empty() && ids.insert(&user.id), "user id {:?}", user.id);
            assert_eq!(user.instance_id, data.instance.id, "a user of another instance");
            let machine = user.kind == UserKind::Machine;
            assert!(!(machine && !user.phone.is_empty()), "a machine with a phone");
            assert!(!(user.is_phone_verified && user.phone.is_empty()), "a verified empty phone");
            let dates = [user.creation_date, user.change_date];
            assert!(dates.iter().flatten().all(valid), "a date out of range: {dates:?}");
        }
        let orgs: HashSet<_> = data.orgs.iter().map(|o| &o.id).collect();
        assert_eq!(orgs.len(), data.orgs.len(), "two organizations with one id");
        for (_, token) in &data.tokens {
            assert!(token.expiration.iter().all(valid), "a date out of range");
        }
    }
    let _ = MemoryStore::new(snapshot);
});

/// A date protobuf's `Timestamp` and RFC 3339 can both state.
fn valid(t: &Timestamp) -> bool {
    // 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z.
    (-62_135_596_800..=253_402_300_799).contains(&t.seconds) && t.nanos < 1_000_000_000
}
