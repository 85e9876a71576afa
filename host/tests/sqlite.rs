//! The SQLite store against its contract: every answer equal to the in-memory store's for
//! the same snapshot, imports that replace whole instances or change nothing, clear errors
//! for files it cannot use, reads that never see half an import, and the whole scenario
//! table through the real component. Every database lives in a temporary folder.
//!
//! The ignored `importing_a_million_users` measures a large import:
//! `cargo test --release -p user-phone --test sqlite -- --ignored --nocapture`.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use rusqlite::Connection;
use rusqlite::types::Value;
use sha2::{Digest, Sha256};
use tempfile::TempDir;
use user_phone::bindings::types::{
    Instance, MemberScope, Membership, Org, StorageError, Token, User, UserKind,
};
use user_phone::snapshot::InstanceData;
use user_phone::sqlite::{ImportError, SCHEMA_VERSION, SqliteOptions};
use user_phone::{MemoryStore, Snapshot, SqliteStore, Storage, StorageFault};

const EVERYTHING: &str = include_str!("data/everything.json");

/// A fresh folder and the path of a database in it that does not exist yet.
fn scratch() -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = dir.path().join("store.db");
    (dir, path)
}

fn quick(readers: usize) -> SqliteOptions {
    SqliteOptions {
        readers,
        busy_timeout: Duration::from_millis(200),
    }
}

/// Every row of every table, as text, in a stable order: what "unchanged" is checked by.
fn rows(path: &Path) -> Vec<String> {
    let connection = Connection::open(path).unwrap();
    let mut rows = Vec::new();
    for table in [
        "instances",
        "domains",
        "orgs",
        "users",
        "memberships",
        "tokens",
    ] {
        let mut statement = connection
            .prepare(&format!("SELECT * FROM {table}"))
            .unwrap();
        let columns = statement.column_count();
        let mut found = statement.query([]).unwrap();
        while let Some(row) = found.next().unwrap() {
            let values: Vec<Value> = (0..columns).map(|i| row.get(i).unwrap()).collect();
            rows.push(format!("{table} {values:?}"));
        }
    }
    rows.sort();
    rows
}

/// The database file and its WAL, byte for byte.
fn bytes(path: &Path) -> (Vec<u8>, Vec<u8>) {
    let wal = PathBuf::from(format!("{}-wal", path.display()));
    (fs::read(path).unwrap(), fs::read(wal).unwrap_or_default())
}

/// Asks both stores every question the snapshot gives keys for, plus keys that are
/// absent, and fails on the first answer that differs.
fn assert_same_answers(snapshot: &Snapshot, expected: &dyn Storage, got: &dyn Storage) {
    let data = &snapshot.instances;
    let mut domains: BTreeSet<&str> = data
        .iter()
        .flat_map(|d| &d.domains)
        .map(|s| s.as_str())
        .collect();
    domains.extend(["unknown.example.com", "A.EXAMPLE.COM", ""]);
    for domain in domains {
        let (expected, got) = (
            expected.find_instance(domain).unwrap(),
            got.find_instance(domain).unwrap(),
        );
        assert_eq!(
            got, expected,
            "find_instance({domain:?}): got (left) vs expected (right)"
        );
    }

    let mut instances: BTreeSet<&str> = data.iter().map(|d| d.instance.id.as_str()).collect();
    instances.insert("999");
    let keys = |f: fn(&InstanceData) -> Vec<String>| -> BTreeSet<String> {
        data.iter()
            .flat_map(f)
            .chain(["nobody".to_string(), String::new()])
            .collect()
    };
    let users = keys(|d| {
        let holders = d.memberships.iter().map(|(user, _)| user.clone());
        d.users
            .iter()
            .map(|u| u.id.clone())
            .chain(holders)
            .collect()
    });
    let orgs = keys(|d| d.orgs.iter().map(|o| o.id.clone()).collect());
    let mut digests: BTreeSet<Vec<u8>> = data
        .iter()
        .flat_map(|d| &d.tokens)
        .map(|(digest, _)| digest.to_vec())
        .collect();
    digests.extend([vec![0; 32], vec![7; 31], Vec::new()]);

    for instance in instances {
        for user in &users {
            let answers = (
                expected.find_user(instance, user).unwrap(),
                got.find_user(instance, user).unwrap(),
            );
            assert_eq!(
                answers.1, answers.0,
                "find_user({instance:?}, {user:?}): got vs expected"
            );
            let answers = (
                expected.list_memberships(instance, user).unwrap(),
                got.list_memberships(instance, user).unwrap(),
            );
            assert_eq!(
                answers.1, answers.0,
                "list_memberships({instance:?}, {user:?}): got vs expected"
            );
        }
        for org in &orgs {
            let answers = (
                expected.find_org(instance, org).unwrap(),
                got.find_org(instance, org).unwrap(),
            );
            assert_eq!(
                answers.1, answers.0,
                "find_org({instance:?}, {org:?}): got vs expected"
            );
        }
        for digest in &digests {
            let answers = (
                expected.find_token(instance, digest).unwrap(),
                got.find_token(instance, digest).unwrap(),
            );
            assert_eq!(
                answers.1, answers.0,
                "find_token({instance:?}, {digest:02x?}): got vs expected"
            );
        }
    }
}

#[test]
fn every_field_reads_back_as_the_memory_store_answers_it() {
    let (_dir, path) = scratch();
    let store = SqliteStore::open(&path).unwrap();
    let summary = store.import_json(EVERYTHING).unwrap();
    let snapshot = Snapshot::from_json(EVERYTHING).unwrap();
    let memory = MemoryStore::new(snapshot.clone());

    assert_same_answers(&snapshot, &memory, &store);
    assert_same_answers(&snapshot, &memory, &store.read_view().unwrap());
    // A store opened anew reads what was written, not what a connection cached.
    drop(store);
    let reopened = SqliteStore::open(&path).unwrap();
    assert_same_answers(&snapshot, &memory, &reopened);

    let expected = "3 instances (0 replaced), 3 domains, 4 organizations, 5 users, \
                    8 memberships and 4 tokens";
    assert_eq!(summary.to_string(), expected);
}

#[test]
fn extreme_values_survive_the_round_trip_exactly() {
    let (_dir, path) = scratch();
    let store = SqliteStore::open(&path).unwrap();
    store.import_json(EVERYTHING).unwrap();

    let max = store.find_user("100", "u-max").unwrap().unwrap();
    assert_eq!(max.sequence, u64::MAX);
    let created = max.creation_date.unwrap();
    assert_eq!((created.seconds, created.nanos), (-1, 999_999_999));
    let changed = max.change_date.unwrap();
    assert_eq!(
        (changed.seconds, changed.nanos),
        (1_742_898_527, 123_456_789)
    );

    let locked = store.find_user("100", "u-locked").unwrap().unwrap();
    assert_eq!(locked.sequence, 1 << 63);
    assert_eq!(locked.creation_date.unwrap().seconds, -62_135_596_800);
    assert_eq!(
        store.find_user("100", "u-zero").unwrap().unwrap().sequence,
        0
    );
    assert_eq!(
        store.find_user("100", "m-bot").unwrap().unwrap().sequence,
        (1 << 63) - 1
    );

    let digest: [u8; 32] = Sha256::digest(b"secret-a").into();
    let in_a = store.find_token("100", &digest).unwrap().unwrap();
    let in_b = store.find_token("200", &digest).unwrap().unwrap();
    assert_eq!(
        (in_a.user_id.as_str(), in_b.user_id.as_str()),
        ("u-max", "someone-else")
    );
    assert_eq!(
        store.find_user("200", "u-max").unwrap().unwrap().kind,
        UserKind::Machine
    );
}

#[test]
fn only_token_digests_are_stored() {
    let (_dir, path) = scratch();
    let store = SqliteStore::open(&path).unwrap();
    store.import_json(EVERYTHING).unwrap();
    drop(store);

    let (database, wal) = bytes(&path);
    let contains =
        |haystack: &[u8], needle: &[u8]| haystack.windows(needle.len()).any(|w| w == needle);
    for plain in [&b"secret-a"[..], b"expired"] {
        let shown = String::from_utf8_lossy(plain);
        assert!(
            !contains(&database, plain) && !contains(&wal, plain),
            "{shown:?} is in the file"
        );
    }
}

#[test]
fn a_new_database_is_reported_as_new_once() {
    let (dir, path) = scratch();
    assert!(
        SqliteStore::open(&path).unwrap().is_new(),
        "a missing file makes a new database"
    );
    assert!(
        !SqliteStore::open(&path).unwrap().is_new(),
        "the second open finds the schema"
    );

    let empty = dir.path().join("empty.db");
    fs::write(&empty, b"").unwrap();
    assert!(
        SqliteStore::open(&empty).unwrap().is_new(),
        "an empty file is a new database"
    );
}

#[test]
fn progress_counts_every_record_up_to_the_total() {
    let (_dir, path) = scratch();
    let store = SqliteStore::open(&path).unwrap();
    let snapshot = Snapshot::from_json(EVERYTHING).unwrap();
    let mut calls = Vec::new();
    store
        .import(&snapshot, |done, total| calls.push((done, total)))
        .unwrap();

    // 3 instances, 3 domains, 4 orgs, 5 users, 8 memberships, 4 tokens.
    let total = 27;
    let expected: Vec<(u64, u64)> = (0..=total).map(|done| (done, total)).collect();
    assert_eq!(calls, expected);
}

#[test]
fn a_snapshot_error_names_its_path_and_changes_nothing() {
    let (_dir, path) = scratch();
    let store = SqliteStore::open(&path).unwrap();
    store.import_json(EVERYTHING).unwrap();
    let (rows_before, bytes_before) = (rows(&path), bytes(&path));

    let bad = EVERYTHING.replacen(r#""sequence": 0"#, r#""sequence": -1"#, 1);
    let error = store.import_json(&bad).unwrap_err();
    assert!(matches!(error, ImportError::Snapshot(_)), "{error:?}");
    let message = error.to_string();
    assert!(
        message.starts_with("instances[0].users[1].sequence: "),
        "{message}"
    );

    assert_eq!(rows(&path), rows_before);
    assert!(
        bytes(&path) == bytes_before,
        "the database file or its WAL changed"
    );
}

#[test]
fn an_import_that_fails_halfway_writes_nothing() {
    let (_dir, path) = scratch();
    let store = SqliteStore::open(&path).unwrap();
    store.import_json(EVERYTHING).unwrap();
    let before = rows(&path);

    // Parsing would refuse a duplicate id; built by hand, it reaches the database after
    // the first instance has been rewritten.
    let mut snapshot = Snapshot::from_json(EVERYTHING).unwrap();
    snapshot.instances[0].users[0].phone = "+41 00 changed".into();
    let twin = snapshot.instances[1].users[0].clone();
    snapshot.instances[1].users.push(twin);
    let error = store.import(&snapshot, |_, _| {}).unwrap_err();

    let message = error.to_string();
    assert!(matches!(error, ImportError::Database(_)), "{error:?}");
    assert!(
        message.contains(&format!("failed to import into database {path:?}")),
        "{message}"
    );
    assert!(message.contains("UNIQUE"), "{message}");
    assert_eq!(rows(&path), before);
    assert_eq!(
        store.find_user("100", "u-max").unwrap().unwrap().phone,
        "+41 71 000 00 00"
    );
}

#[test]
fn reimporting_replaces_an_instance_and_leaves_the_others_alone() {
    let (_dir, path) = scratch();
    let store = SqliteStore::open(&path).unwrap();
    store.import_json(EVERYTHING).unwrap();

    let smaller = r#"{"instances":[{"id":"100","domains":["new.example.com"],
        "orgs":[{"id":"o1"}],
        "users":[{"id":"u-zero","resourceOwner":"o1","type":"human","state":"active"}]}]}"#;
    let summary = store.import_json(smaller).unwrap();
    assert_eq!(
        (summary.instances, summary.replaced, summary.users),
        (1, 1, 1)
    );

    let replaced = MemoryStore::from_json(smaller).unwrap();
    let all = Snapshot::from_json(EVERYTHING).unwrap();
    let only = |ids: &[&str]| Snapshot {
        instances: all
            .instances
            .iter()
            .filter(|d| ids.contains(&&*d.instance.id))
            .cloned()
            .collect(),
    };
    assert_same_answers(&Snapshot::from_json(smaller).unwrap(), &replaced, &store);
    assert_same_answers(
        &all,
        &MemoryStore::new(only(&["200", "300"])),
        &ScopedTo(&store, &["200", "300"]),
    );

    assert_eq!(
        store.find_user("100", "u-max").unwrap(),
        None,
        "the removed user is gone"
    );
    assert_eq!(
        store.find_instance("a.example.com").unwrap(),
        None,
        "the dropped domain is gone"
    );
    assert_eq!(store.list_memberships("100", "u-max").unwrap(), vec![]);
    let digest: [u8; 32] = Sha256::digest(b"secret-a").into();
    assert_eq!(store.find_token("100", &digest).unwrap(), None);
}

/// A store seen only through the instances named: answers about any other instance are
/// left out of the comparison by answering as if the instance were empty.
struct ScopedTo<'a>(&'a SqliteStore, &'a [&'a str]);

impl ScopedTo<'_> {
    fn holds(&self, instance: &str) -> bool {
        self.1.contains(&instance)
    }
}

impl Storage for ScopedTo<'_> {
    fn find_instance(&self, domain: &str) -> Result<Option<Instance>, StorageFault> {
        Ok(self.0.find_instance(domain)?.filter(|i| self.holds(&i.id)))
    }

    fn find_token(&self, instance: &str, sha256: &[u8]) -> Result<Option<Token>, StorageFault> {
        if self.holds(instance) {
            self.0.find_token(instance, sha256)
        } else {
            Ok(None)
        }
    }

    fn find_org(&self, instance: &str, org_id: &str) -> Result<Option<Org>, StorageFault> {
        if self.holds(instance) {
            self.0.find_org(instance, org_id)
        } else {
            Ok(None)
        }
    }

    fn list_memberships(
        &self,
        instance: &str,
        user_id: &str,
    ) -> Result<Vec<Membership>, StorageFault> {
        if self.holds(instance) {
            self.0.list_memberships(instance, user_id)
        } else {
            Ok(vec![])
        }
    }

    fn find_user(&self, instance: &str, user_id: &str) -> Result<Option<User>, StorageFault> {
        if self.holds(instance) {
            self.0.find_user(instance, user_id)
        } else {
            Ok(None)
        }
    }
}

#[test]
fn a_domain_of_another_instance_is_rejected_and_changes_nothing() {
    let (_dir, path) = scratch();
    let store = SqliteStore::open(&path).unwrap();
    store.import_json(EVERYTHING).unwrap();
    let before = rows(&path);

    let clash = r#"{"instances":[{"id":"400","domains":["c.example.com","b.example.com"]}]}"#;
    let error = store.import_json(clash).unwrap_err();
    let expected = concat!(
        r#"instances[0].domains[1]: "b.example.com" already belongs to instance "200" "#,
        "in the database"
    );
    assert_eq!(error.to_string(), expected);
    assert!(
        matches!(error, ImportError::DomainTaken { .. }),
        "{error:?}"
    );
    assert_eq!(rows(&path), before);
}

#[test]
fn a_domain_may_move_between_instances_the_snapshot_replaces() {
    let (_dir, path) = scratch();
    let store = SqliteStore::open(&path).unwrap();
    store.import_json(EVERYTHING).unwrap();

    let moved = r#"{"instances":[{"id":"100","domains":["b.example.com"]},{"id":"200"}]}"#;
    store.import_json(moved).unwrap();
    let owner = store.find_instance("b.example.com").unwrap().map(|i| i.id);
    assert_eq!(owner.as_deref(), Some("100"));
}

#[test]
fn a_database_of_a_newer_schema_is_refused_with_both_versions() {
    let (_dir, path) = scratch();
    drop(SqliteStore::open(&path).unwrap());
    let newer = SCHEMA_VERSION + 1;
    Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", newer)
        .unwrap();

    let message = format!("{:#}", SqliteStore::open(&path).unwrap_err());
    let expected = format!(
        "failed to open database {path:?}: its schema version {newer} is newer than \
         version {SCHEMA_VERSION}, the newest this user-phone knows; use a newer user-phone"
    );
    assert_eq!(message, expected);
}

#[test]
fn a_file_that_is_not_a_database_is_a_clear_error() {
    let (_dir, path) = scratch();
    fs::write(
        &path,
        b"this is not a database, only some text. ".repeat(200),
    )
    .unwrap();

    let message = format!("{:#}", SqliteStore::open(&path).unwrap_err());
    let expected = format!("failed to open database {path:?}: the file is not a SQLite database");
    assert!(
        message.starts_with(&expected),
        "expected {expected:?}…, got {message:?}"
    );
}

#[test]
fn another_programs_database_is_refused() {
    let (_dir, path) = scratch();
    Connection::open(&path)
        .unwrap()
        .execute_batch("CREATE TABLE notes (text TEXT)")
        .unwrap();

    let message = format!("{:#}", SqliteStore::open(&path).unwrap_err());
    assert!(
        message.contains("another program's SQLite database"),
        "{message}"
    );
    assert!(message.contains(&format!("{path:?}")), "{message}");
}

#[test]
fn a_database_in_a_missing_folder_is_a_clear_error() {
    let (dir, _) = scratch();
    let path = dir.path().join("missing").join("store.db");
    let message = format!("{:#}", SqliteStore::open(&path).unwrap_err());
    let expected = format!("failed to open database {path:?}: the file cannot be opened");
    assert!(
        message.starts_with(&expected),
        "expected {expected:?}…, got {message:?}"
    );
}

#[test]
fn an_import_fails_clearly_after_the_busy_timeout_while_another_connection_writes() {
    let (_dir, path) = scratch();
    let store = SqliteStore::open_with(&path, quick(2)).unwrap();
    store.import_json(EVERYTHING).unwrap();
    let before = rows(&path);

    let other = Connection::open(&path).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let started = Instant::now();
    let error = store
        .import_json(r#"{"instances":[{"id":"100"}]}"#)
        .unwrap_err();
    let waited = started.elapsed();

    assert!(matches!(error, ImportError::Database(_)), "{error:?}");
    let expected = format!(
        "failed to import into database {path:?}: another connection holds its lock (an \
         import in another process?); gave up after 200ms"
    );
    let message = error.to_string();
    assert!(
        message.starts_with(&expected),
        "expected {expected:?}…, got {message:?}"
    );
    assert!(
        waited >= Duration::from_millis(200),
        "gave up after {waited:?}"
    );
    // Readers are not held up by a writer in WAL mode.
    assert!(store.find_instance("a.example.com").unwrap().is_some());

    other.execute_batch("ROLLBACK").unwrap();
    assert_eq!(rows(&path), before);
    store
        .import_json(r#"{"instances":[{"id":"100"}]}"#)
        .unwrap();
}

#[test]
fn reads_wait_for_a_free_connection_then_answer_unavailable() {
    let (_dir, path) = scratch();
    let store = SqliteStore::open_with(&path, quick(1)).unwrap();
    store.import_json(EVERYTHING).unwrap();

    let view = store.read_view().unwrap();
    let fault = store.find_instance("a.example.com").unwrap_err();
    assert_eq!(
        fault.kind(),
        StorageError::Unavailable,
        "{:#}",
        fault.cause()
    );
    drop(view);
    assert!(store.find_instance("a.example.com").unwrap().is_some());
}

#[test]
fn rows_that_do_not_decode_are_internal_faults() {
    let (_dir, path) = scratch();
    let store = SqliteStore::open(&path).unwrap();
    store.import_json(EVERYTHING).unwrap();
    let other = Connection::open(&path).unwrap();
    // The schema's CHECKs would refuse these rows; a damaged or hand-edited file may
    // still hold them.
    other
        .execute_batch("PRAGMA ignore_check_constraints = ON")
        .unwrap();
    let damage = [
        (
            "UPDATE users SET kind = 'robot' WHERE id = 'u-max'",
            "unknown kind \"robot\"",
        ),
        (
            "UPDATE users SET state = 'gone' WHERE id = 'u-zero'",
            "unknown state \"gone\"",
        ),
        (
            "UPDATE users SET creation_nanos = 1000000000 WHERE id = 'u-locked'",
            "1000000000 nanoseconds",
        ),
        (
            "UPDATE users SET creation_nanos = NULL WHERE id = 'm-bot'",
            "only one of its two columns",
        ),
        (
            "UPDATE memberships SET roles = 'admin' WHERE user_id = 'ghost'",
            "not a JSON list",
        ),
        (
            "UPDATE memberships SET org_id = NULL WHERE user_id = 'm-bot'",
            "without org_id",
        ),
        ("UPDATE orgs SET active = 2 WHERE id = 'o2'", "active = 2"),
        (
            "UPDATE tokens SET expiration_nanos = -1 WHERE user_id = 'u-max'",
            "-1 nanoseconds",
        ),
    ];
    for (statement, _) in &damage {
        other.execute_batch(statement).unwrap();
    }

    let digest: [u8; 32] = Sha256::digest(b"secret-a").into();
    let faults = [
        store.find_user("100", "u-max").unwrap_err(),
        store.find_user("100", "u-zero").unwrap_err(),
        store.find_user("100", "u-locked").unwrap_err(),
        store.find_user("100", "m-bot").unwrap_err(),
        store.list_memberships("100", "ghost").unwrap_err(),
        store.list_memberships("100", "m-bot").unwrap_err(),
        store.find_org("100", "o2").unwrap_err(),
        store.find_token("100", &digest).unwrap_err(),
    ];
    for ((statement, expected), fault) in damage.iter().zip(faults) {
        let cause = format!("{:#}", fault.cause());
        assert_eq!(
            fault.kind(),
            StorageError::Internal,
            "after {statement}: {cause}"
        );
        assert!(
            cause.contains(expected),
            "after {statement}: expected {expected:?} in {cause:?}"
        );
    }
}

#[test]
fn a_missing_table_is_an_internal_fault_not_a_panic() {
    let (_dir, path) = scratch();
    let store = SqliteStore::open(&path).unwrap();
    Connection::open(&path)
        .unwrap()
        .execute_batch("DROP TABLE users")
        .unwrap();
    let fault = store.find_user("100", "u-max").unwrap_err();
    assert_eq!(fault.kind(), StorageError::Internal, "{:#}", fault.cause());
}

/// A snapshot of one instance whose user "u" belongs to `org` and holds `role` there, with
/// `filler` more users so that the import takes a while.
fn generation(org: &str, role: &str, filler: usize) -> Snapshot {
    let mut users = vec![format!(
        concat!(
            r#"{{"id":"u","resourceOwner":"{org}","type":"human","state":"active","#,
            r#""phone":"+1 {role}"}}"#
        ),
        org = org,
        role = role
    )];
    users.extend((0..filler).map(|n| {
        format!(r#"{{"id":"f{n}","resourceOwner":"{org}","type":"human","state":"active"}}"#)
    }));
    let json = format!(
        r#"{{"instances":[{{"id":"1","domains":["x"],"orgs":[{{"id":"{org}"}}],"users":[{}],
        "members":[{{"userId":"u","scope":"org","orgId":"{org}","roles":["{role}"]}}]}}]}}"#,
        users.join(",")
    );
    Snapshot::from_json(&json).unwrap()
}

/// What one read transaction saw: "old", "new", or a description of the mix.
fn generation_seen(view: &dyn Storage) -> Result<&'static str, String> {
    let instance = view
        .find_instance("x")
        .unwrap()
        .expect("the instance is always there");
    let user = view
        .find_user(&instance.id, "u")
        .unwrap()
        .expect("the user is always there");
    let org = view.find_org(&instance.id, &user.resource_owner).unwrap();
    let memberships = view.list_memberships(&instance.id, "u").unwrap();
    let seen = (user.phone.as_str(), org.is_some(), memberships.as_slice());
    match seen {
        ("+1 OLD", true, [m])
            if m.roles == ["OLD"] && m.scope == MemberScope::Org("o-old".into()) =>
        {
            Ok("old")
        }
        ("+1 NEW", true, [m])
            if m.roles == ["NEW"] && m.scope == MemberScope::Org("o-new".into()) =>
        {
            Ok("new")
        }
        _ => Err(format!(
            "a mix: user {user:?}, org {org:?}, memberships {memberships:?}"
        )),
    }
}

#[test]
fn readers_during_imports_see_the_old_or_the_new_data_never_a_mix() {
    let (_dir, path) = scratch();
    let store = Arc::new(
        SqliteStore::open_with(
            &path,
            SqliteOptions {
                readers: 2,
                ..Default::default()
            },
        )
        .unwrap(),
    );
    let (old, new) = (
        generation("o-old", "OLD", 5_000),
        generation("o-new", "NEW", 5_000),
    );
    store.import(&old, |_, _| {}).unwrap();

    let importing = Arc::new(AtomicBool::new(true));
    let start = Arc::new(Barrier::new(5));
    let readers: Vec<_> = (0..4)
        .map(|_| {
            let (store, importing, start) = (store.clone(), importing.clone(), start.clone());
            thread::spawn(move || {
                let (mut seen, mut mixes) = (BTreeSet::new(), Vec::new());
                start.wait();
                while importing.load(Ordering::Relaxed) {
                    let view = store.read_view().expect("a reader within the busy timeout");
                    match generation_seen(&view) {
                        Ok(generation) => seen.insert(generation),
                        Err(mix) => {
                            mixes.push(mix);
                            continue;
                        }
                    };
                }
                (seen, mixes)
            })
        })
        .collect();

    start.wait();
    for round in 0..6 {
        let snapshot = if round % 2 == 0 { &new } else { &old };
        store.import(snapshot, |_, _| {}).unwrap();
    }
    importing.store(false, Ordering::Relaxed);

    let mut seen = BTreeSet::new();
    for reader in readers {
        let (generations, mixes) = reader.join().expect("no reader panicked");
        assert!(
            mixes.is_empty(),
            "{} reads saw a mix, the first: {}",
            mixes.len(),
            mixes[0]
        );
        seen.extend(generations);
    }
    assert_eq!(
        seen,
        BTreeSet::from(["new", "old"]),
        "the readers saw both generations"
    );
}

#[test]
fn many_threads_share_a_small_pool_of_readers() {
    let (_dir, path) = scratch();
    let store = Arc::new(
        SqliteStore::open_with(
            &path,
            SqliteOptions {
                readers: 2,
                ..Default::default()
            },
        )
        .unwrap(),
    );
    store.import_json(EVERYTHING).unwrap();

    let threads: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            thread::spawn(move || {
                for _ in 0..500 {
                    let user = store.find_user("100", "u-max").unwrap().unwrap();
                    assert_eq!(user.sequence, u64::MAX);
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("no reader panicked");
    }
}

#[test]
fn every_scenario_row_answers_as_the_table_says_from_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let mut databases = 0;
    common::assert_every_row_passes(|snapshot, text| {
        databases += 1;
        let store = SqliteStore::open(dir.path().join(format!("{databases}.db"))).unwrap();
        store
            .import_json(text)
            .unwrap_or_else(|e| panic!("{snapshot:?}: {e}"));
        Arc::new(store)
    });
}

/// The id of the first user of the large snapshot; the others count up from it.
const FIRST_ID: u64 = 69_629_026_806_489_455;

/// A snapshot document of one instance with `users` users, a membership and a token for
/// every tenth of them, and a hundred organizations.
fn large_snapshot(users: usize) -> String {
    let mut json = String::with_capacity(users * 330);
    json.push_str(r#"{"instances":[{"id":"1","domains":["big.example.com"],"orgs":["#);
    let orgs: Vec<String> = (0..100).map(|o| format!(r#"{{"id":"org{o}"}}"#)).collect();
    json.push_str(&orgs.join(","));
    json.push_str(r#"],"users":["#);
    for n in 0..users {
        if n > 0 {
            json.push(',');
        }
        json.push_str(&format!(
            concat!(
                r#"{{"id":"{}","resourceOwner":"org{}","type":"human","state":"active","#,
                r#""userName":"user{n}","preferredLanguage":"de","phone":"+41 71 {n:09}","#,
                r#""isPhoneVerified":true,"sequence":{n},"#,
                r#""creationDate":"2025-03-25T10:28:47.419Z","#,
                r#""changeDate":"2025-03-25T10:28:47.419123Z"}}"#,
            ),
            FIRST_ID + n as u64,
            n % 100,
            n = n
        ));
    }
    json.push_str(r#"],"members":["#);
    let tenth: Vec<String> = (0..users)
        .step_by(10)
        .map(|n| {
            format!(
                r#"{{"userId":"{}","scope":"org","orgId":"org{}","roles":["ORG_OWNER"]}}"#,
                FIRST_ID + n as u64,
                n % 100
            )
        })
        .collect();
    json.push_str(&tenth.join(","));
    json.push_str(r#"],"tokens":["#);
    let tokens: Vec<String> = (0..users)
        .step_by(10)
        .map(|n| {
            format!(
                r#"{{"token":"token-{n}","userId":"{}"}}"#,
                FIRST_ID + n as u64
            )
        })
        .collect();
    json.push_str(&tokens.join(","));
    json.push_str("]}]}");
    json
}

#[test]
#[ignore = "measures a large import; run with --release --ignored --nocapture"]
fn importing_a_million_users() {
    let users = 1_000_000;
    let (_dir, path) = scratch();
    let json = large_snapshot(users);

    let started = Instant::now();
    let snapshot = Snapshot::from_json(&json).unwrap();
    let parsed = started.elapsed();

    let store = SqliteStore::open(&path).unwrap();
    let mut calls = 0u64;
    let started = Instant::now();
    let summary = store.import(&snapshot, |_, _| calls += 1).unwrap();
    let first = started.elapsed();
    let started = Instant::now();
    store.import(&snapshot, |_, _| {}).unwrap();
    let replace = started.elapsed();

    let started = Instant::now();
    let lookups = 100_000;
    for n in 0..lookups {
        let id = (FIRST_ID + (n * 7919 % users) as u64).to_string();
        assert!(store.find_user("1", &id).unwrap().is_some());
    }
    let per_lookup = started.elapsed() / lookups as u32;

    let size = fs::metadata(&path).unwrap().len();
    let wal = fs::metadata(format!("{}-wal", path.display())).map_or(0, |m| m.len());
    println!("snapshot: {} MB of JSON; {summary}", json.len() >> 20);
    println!("parse and check: {parsed:.2?}");
    println!("import into a new database: {first:.2?} ({calls} progress calls)");
    println!("re-import replacing the instance: {replace:.2?}");
    println!("find_user: {per_lookup:.2?} each over {lookups} lookups");
    println!("database {} MB, WAL {} MB", size >> 20, wal >> 20);
    assert_eq!(summary.users, users as u64);
}
