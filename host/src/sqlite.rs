//! The embedded SQLite store: the database `serve` answers from and `import` loads
//! snapshots into.
//!
//! One file holds every instance. [`SqliteStore::import`] replaces everything the
//! instances named in a snapshot held, in one transaction, and leaves the other instances
//! alone. The database runs in WAL mode, so readers (the server) keep answering from the
//! old data while an import writes, and see the new data the moment it commits. Reads go
//! through a small pool of read-only connections; [`SqliteStore::read_view`] pins one
//! state of the data for several reads, which is what one request of the component should
//! see.
//!
//! ```no_run
//! use user_phone::SqliteStore;
//!
//! # fn main() -> anyhow::Result<()> {
//! let store = SqliteStore::open("user-phone.db")?;
//! if store.is_new() {
//!     let summary = store.import_json(r#"{"instances":[{"id":"1","domains":["localhost"]}]}"#)?;
//!     eprintln!("imported {summary}");
//! }
//! # Ok(())
//! # }
//! ```
//!
//! # Schema
//!
//! Version [`SCHEMA_VERSION`], kept in `PRAGMA user_version`; `PRAGMA application_id`
//! marks the file as this program's. Every table but `domains` is keyed by the instance
//! first, so every [`Storage`] lookup is one seek of a primary key. The tables are
//! `STRICT` and `WITHOUT ROWID`: rows are small and always found by their key.
//!
//! | table | key | other columns |
//! | --- | --- | --- |
//! | `instances` | `id` | `default_language` |
//! | `domains` | `domain` | `instance_id` (indexed, for replacing an instance) |
//! | `orgs` | `instance_id, id` | `active` 0/1, `name` |
//! | `users` | `instance_id, id` | `resource_owner, kind, state`, the phone fields, |
//! | | | `preferred_language, sequence`, creation and change dates |
//! | `memberships` | `instance_id, user_id, position` | `scope`, its ids, `roles` |
//! | `tokens` | `instance_id, sha256` | `user_id`, expiration date |
//!
//! - `sequence` is a `u64` stored as the `i64` with the same bits (values from 2^63 on
//!   read back as negative numbers in SQL). That keeps the whole range lossless in an
//!   8-byte integer column; the store never compares or sorts sequences in SQL, which is
//!   the one thing the bit-cast would get wrong.
//! - Dates are two columns, whole seconds since the epoch and nanoseconds, both NULL when
//!   the date is unknown.
//! - `kind`, `state` and `scope` are the snapshot's words (`human`, `locked`,
//!   `project-grant`); a row with any other word is an internal fault, never a guess.
//! - `roles` is a JSON array of strings: a membership is always read whole, so a child
//!   table would only add a second seek.
//! - `position` keeps the snapshot's order of a user's memberships.
//! - Tokens are kept only as the 32-byte SHA-256 of their plain text.
//! - `orgs.name` has a place for operators reading the database, but the snapshot parser
//!   does not keep organization names (the component never reads them), so an import
//!   leaves it NULL.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail};
use rusqlite::{
    Connection, ErrorCode, OpenFlags, OptionalExtension, Statement, Transaction,
    TransactionBehavior, params,
};

use crate::bindings::types::{
    Instance, MemberScope, Membership, Org, ProjectGrantMembership, ProjectMembership, Timestamp,
    Token, User, UserKind, UserState,
};
use crate::snapshot::{InstanceData, Snapshot, SnapshotError};
use crate::storage::{Storage, StorageFault};

/// The schema version this code creates and reads, kept in `PRAGMA user_version`.
pub const SCHEMA_VERSION: i64 = 1;

/// `PRAGMA application_id` of a user-phone database ("uPhn"), so that another program's
/// SQLite file is refused instead of being written into.
const APPLICATION_ID: i64 = 0x7550_686E;

/// The WAL is cut back to this size after a checkpoint, so that one large import does not
/// leave a WAL file as large as the database behind.
const WAL_SIZE_LIMIT: i64 = 64 << 20;

/// Page cache of the writing connection, in KiB (SQLite's negative `cache_size`): large
/// imports insert into several B-trees at once and slow down sharply once their inner
/// pages no longer fit.
const WRITER_CACHE_KIB: i64 = 64 << 10;

const SCHEMA: &str = "
CREATE TABLE instances (
    id               TEXT NOT NULL PRIMARY KEY,
    default_language TEXT NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE domains (
    domain      TEXT NOT NULL PRIMARY KEY,
    instance_id TEXT NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX domains_by_instance ON domains (instance_id);

CREATE TABLE orgs (
    instance_id TEXT NOT NULL,
    id          TEXT NOT NULL,
    active      INTEGER NOT NULL CHECK (active IN (0, 1)),
    name        TEXT,
    PRIMARY KEY (instance_id, id)
) STRICT, WITHOUT ROWID;

CREATE TABLE users (
    instance_id        TEXT NOT NULL,
    id                 TEXT NOT NULL,
    resource_owner     TEXT NOT NULL,
    kind               TEXT NOT NULL CHECK (kind IN ('human', 'machine')),
    state              TEXT NOT NULL
                       CHECK (state IN ('active', 'inactive', 'locked', 'initial')),
    preferred_language TEXT,
    phone              TEXT NOT NULL,
    is_phone_verified  INTEGER NOT NULL CHECK (is_phone_verified IN (0, 1)),
    sequence           INTEGER NOT NULL,
    creation_seconds   INTEGER,
    creation_nanos     INTEGER,
    change_seconds     INTEGER,
    change_nanos       INTEGER,
    PRIMARY KEY (instance_id, id)
) STRICT, WITHOUT ROWID;

CREATE TABLE memberships (
    instance_id    TEXT NOT NULL,
    user_id        TEXT NOT NULL,
    position       INTEGER NOT NULL,
    scope          TEXT NOT NULL
                   CHECK (scope IN ('instance', 'org', 'project', 'project-grant')),
    org_id         TEXT,
    project_id     TEXT,
    grant_id       TEXT,
    granted_org_id TEXT,
    roles          TEXT NOT NULL,
    PRIMARY KEY (instance_id, user_id, position)
) STRICT, WITHOUT ROWID;

CREATE TABLE tokens (
    instance_id        TEXT NOT NULL,
    sha256             BLOB NOT NULL CHECK (length(sha256) = 32),
    user_id            TEXT NOT NULL,
    expiration_seconds INTEGER,
    expiration_nanos   INTEGER,
    PRIMARY KEY (instance_id, sha256)
) STRICT, WITHOUT ROWID;
";

/// The tables an instance's rows live in, each with its instance column.
const INSTANCE_TABLES: [(&str, &str); 6] = [
    ("instances", "id"),
    ("domains", "instance_id"),
    ("orgs", "instance_id"),
    ("users", "instance_id"),
    ("memberships", "instance_id"),
    ("tokens", "instance_id"),
];

/// How a [`SqliteStore`] uses its database.
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// How many read-only connections serve [`Storage`] calls at once (at least one).
    /// A call that finds them all busy waits up to `busy_timeout` for one.
    pub readers: usize,
    /// How long a call waits for a lock another connection holds (an import in another
    /// process, say), or for a free reader, before it fails.
    pub busy_timeout: Duration,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            readers: 8,
            busy_timeout: Duration::from_secs(5),
        }
    }
}

/// The SQLite store. Cheap to share between threads: reads take a connection from the
/// pool, and imports are serialized on the one writing connection.
pub struct SqliteStore {
    path: PathBuf,
    busy_timeout: Duration,
    created: bool,
    writer: Mutex<Connection>,
    readers: Arc<Readers>,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .field("created", &self.created)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens the database at `path`, or creates it with the schema when the file does not
    /// exist or is empty, with [`SqliteOptions::default`].
    pub fn open(path: impl AsRef<Path>) -> anyhow::Result<Self> {
        Self::open_with(path, SqliteOptions::default())
    }

    /// Opens or creates the database at `path`. Fails with a message naming the path when
    /// the file is not a SQLite database, belongs to another program, has a newer schema
    /// than this code knows, or stays locked for longer than the busy timeout.
    pub fn open_with(path: impl AsRef<Path>, options: SqliteOptions) -> anyhow::Result<Self> {
        let path = path.as_ref().to_path_buf();
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut writer = connect(&path, flags, options.busy_timeout)?;
        let created = set_up(&mut writer, &path, options.busy_timeout)?;

        let readers = Arc::new(Readers {
            path: path.clone(),
            busy_timeout: options.busy_timeout,
            capacity: options.readers.max(1),
            pool: Mutex::new(Pool {
                idle: Vec::new(),
                open: 0,
            }),
            returned: Condvar::new(),
        });
        // One reader now, so a database that readers cannot open fails here rather than
        // on the first request.
        let first = readers.connect()?;
        readers.lock().open = 1;
        readers.check_in(first);

        let busy_timeout = options.busy_timeout;
        Ok(Self {
            path,
            busy_timeout,
            created,
            writer: Mutex::new(writer),
            readers,
        })
    }

    /// Whether [`open`](Self::open) created the database (or found an empty file): the
    /// caller may then seed it.
    pub fn is_new(&self) -> bool {
        self.created
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A view that answers every [`Storage`] call from one state of the data, however
    /// many imports commit meanwhile: what one request of the component should read. It
    /// holds a reader and its read transaction until dropped, so keep it for one request
    /// only; an open view also keeps the WAL from being checkpointed past it.
    pub fn read_view(&self) -> Result<ReadView, StorageFault> {
        let reader = self.readers.check_out()?;
        reader
            .connection()
            .execute_batch("BEGIN DEFERRED")
            .map_err(fault)?;
        Ok(ReadView {
            reader: Mutex::new(reader),
        })
    }

    /// Parses a snapshot document and imports it; see [`import`](Self::import).
    pub fn import_json(&self, text: &str) -> Result<ImportSummary, ImportError> {
        let snapshot = Snapshot::from_json(text).map_err(ImportError::Snapshot)?;
        self.import(&snapshot, |_, _| {})
    }

    /// Loads `snapshot` in one transaction: every instance it names loses all the rows it
    /// held and gets the snapshot's instead; other instances are left as they are. On any
    /// error nothing is written. `progress(done, total)` is called once before the first
    /// record and after each record written (instances, domains, organizations, users,
    /// memberships and tokens all count), from this thread.
    ///
    /// Imports are serialized within the process; across processes, an import waits up to
    /// the busy timeout for another writer, then fails.
    pub fn import(
        &self,
        snapshot: &Snapshot,
        mut progress: impl FnMut(u64, u64),
    ) -> Result<ImportSummary, ImportError> {
        let mut writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let database = |e| ImportError::Database(self.explain(e, "import into"));
        // IMMEDIATE takes the write lock now, so a busy database fails before any work.
        let tx = writer
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(database)?;

        let names: HashSet<&str> = snapshot
            .instances
            .iter()
            .map(|d| d.instance.id.as_str())
            .collect();
        check_domains(&tx, snapshot, &names).map_err(|e| e.into_import(self))?;
        let replaced = delete_instances(&tx, &names).map_err(database)?;

        let total = snapshot.instances.iter().map(record_count).sum();
        let mut done = 0;
        progress(done, total);
        let mut summary = ImportSummary {
            replaced,
            ..ImportSummary::default()
        };
        {
            let mut inserts = Inserts::prepare(&tx).map_err(database)?;
            for data in &snapshot.instances {
                inserts
                    .instance(data, &mut summary, &mut || {
                        done += 1;
                        progress(done, total);
                    })
                    .map_err(|e| e.into_import(self))?;
            }
        }
        tx.commit().map_err(database)?;
        Ok(summary)
    }

    /// A rusqlite error as a message that names the database and, where it can, says what
    /// is wrong in words.
    fn explain(&self, error: rusqlite::Error, action: &str) -> anyhow::Error {
        explain(&self.path, self.busy_timeout, error, action)
    }
}

/// What an import wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportSummary {
    /// Instances written.
    pub instances: u64,
    /// How many of them were in the database before and were replaced.
    pub replaced: u64,
    /// Domains written.
    pub domains: u64,
    /// Organizations written.
    pub orgs: u64,
    /// Users written.
    pub users: u64,
    /// Memberships written.
    pub memberships: u64,
    /// Token digests written.
    pub tokens: u64,
}

impl fmt::Display for ImportSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plural =
            |n: u64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        write!(
            f,
            "{} ({} replaced), {}, {}, {}, {} and {}",
            plural(self.instances, "instance", "instances"),
            self.replaced,
            plural(self.domains, "domain", "domains"),
            plural(self.orgs, "organization", "organizations"),
            plural(self.users, "user", "users"),
            plural(self.memberships, "membership", "memberships"),
            plural(self.tokens, "token", "tokens"),
        )
    }
}

/// Why an import wrote nothing.
#[derive(Debug)]
pub enum ImportError {
    /// The document broke a rule of the snapshot format; the error names its JSON path
    /// (`instances[0].users[3].sequence: ...`).
    Snapshot(SnapshotError),
    /// A domain of the snapshot belongs to an instance in the database that the snapshot
    /// does not replace.
    DomainTaken {
        /// The JSON path of the domain in the snapshot (`instances[0].domains[2]`).
        path: String,
        /// The domain.
        domain: String,
        /// The instance that holds it in the database.
        owner: String,
    },
    /// The database failed: locked by another writer, unwritable, full or corrupt.
    Database(anyhow::Error),
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Snapshot(error) => write!(f, "{error}"),
            Self::DomainTaken {
                path,
                domain,
                owner,
            } => {
                write!(
                    f,
                    "{path}: {domain:?} already belongs to instance {owner:?} in the database"
                )
            }
            // The whole chain, since this error is the end of it.
            Self::Database(error) => write!(f, "{error:#}"),
        }
    }
}

impl std::error::Error for ImportError {}

/// A read-only view of one state of the database; see [`SqliteStore::read_view`].
pub struct ReadView {
    reader: Mutex<Reader>,
}

impl ReadView {
    fn connection(&self) -> MutexGuard<'_, Reader> {
        self.reader.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Storage for ReadView {
    fn find_instance(&self, domain: &str) -> Result<Option<Instance>, StorageFault> {
        find_instance(self.connection().connection(), domain)
    }

    fn find_token(&self, instance: &str, sha256: &[u8]) -> Result<Option<Token>, StorageFault> {
        find_token(self.connection().connection(), instance, sha256)
    }

    fn find_org(&self, instance: &str, org_id: &str) -> Result<Option<Org>, StorageFault> {
        find_org(self.connection().connection(), instance, org_id)
    }

    fn list_memberships(
        &self,
        instance: &str,
        user_id: &str,
    ) -> Result<Vec<Membership>, StorageFault> {
        list_memberships(self.connection().connection(), instance, user_id)
    }

    fn find_user(&self, instance: &str, user_id: &str) -> Result<Option<User>, StorageFault> {
        find_user(self.connection().connection(), instance, user_id)
    }
}

impl Storage for SqliteStore {
    fn find_instance(&self, domain: &str) -> Result<Option<Instance>, StorageFault> {
        find_instance(self.readers.check_out()?.connection(), domain)
    }

    fn find_token(&self, instance: &str, sha256: &[u8]) -> Result<Option<Token>, StorageFault> {
        find_token(self.readers.check_out()?.connection(), instance, sha256)
    }

    fn find_org(&self, instance: &str, org_id: &str) -> Result<Option<Org>, StorageFault> {
        find_org(self.readers.check_out()?.connection(), instance, org_id)
    }

    fn list_memberships(
        &self,
        instance: &str,
        user_id: &str,
    ) -> Result<Vec<Membership>, StorageFault> {
        list_memberships(self.readers.check_out()?.connection(), instance, user_id)
    }

    fn find_user(&self, instance: &str, user_id: &str) -> Result<Option<User>, StorageFault> {
        find_user(self.readers.check_out()?.connection(), instance, user_id)
    }
}

// ---- Opening -------------------------------------------------------------------------

/// Opens one connection with the busy timeout set.
fn connect(path: &Path, flags: OpenFlags, busy_timeout: Duration) -> anyhow::Result<Connection> {
    let connection = Connection::open_with_flags(path, flags)
        .map_err(|e| explain(path, busy_timeout, e, "open"))?;
    connection
        .busy_timeout(busy_timeout)
        .map_err(|e| explain(path, busy_timeout, e, "open"))?;
    Ok(connection)
}

/// Checks what the file holds, switches it to WAL mode and creates the schema in a new
/// database. Returns whether it created the schema.
fn set_up(
    connection: &mut Connection,
    path: &Path,
    busy_timeout: Duration,
) -> anyhow::Result<bool> {
    let fail = |e| explain(path, busy_timeout, e, "open");
    let application_id: i64 = connection
        .pragma_query_value(None, "application_id", |r| r.get(0))
        .map_err(fail)?;
    let version: i64 = connection
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(fail)?;
    let objects: i64 = connection
        .query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))
        .map_err(fail)?;

    let empty = application_id == 0 && version == 0 && objects == 0;
    if !empty && application_id != APPLICATION_ID {
        bail!(
            "failed to open database {path:?}: it is another program's SQLite database \
             (application_id {application_id}, {objects} tables and indexes), not user-phone's"
        );
    }
    if version > SCHEMA_VERSION {
        bail!(
            "failed to open database {path:?}: its schema version {version} is newer than \
             version {SCHEMA_VERSION}, the newest this user-phone knows; use a newer user-phone"
        );
    }
    if !empty && version != SCHEMA_VERSION {
        bail!(
            "failed to open database {path:?}: its schema version {version} is unknown \
             (this user-phone knows version {SCHEMA_VERSION})"
        );
    }

    let mode: String = connection
        .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
        .map_err(fail)?;
    if !mode.eq_ignore_ascii_case("wal") {
        bail!("failed to open database {path:?}: SQLite kept journal mode {mode:?} instead of WAL");
    }
    // NORMAL is durable in WAL mode but for the last commits before a power cut, which a
    // re-import restores; FULL would sync the WAL on every commit.
    connection
        .pragma_update(None, "synchronous", "NORMAL")
        .map_err(fail)?;
    connection
        .pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT)
        .map_err(fail)?;
    connection
        .pragma_update(None, "cache_size", -WRITER_CACHE_KIB)
        .map_err(fail)?;
    if !empty {
        return Ok(false);
    }
    create_schema(connection).map_err(|e| explain(path, busy_timeout, e, "create the schema of"))
}

fn create_schema(connection: &mut Connection) -> rusqlite::Result<bool> {
    let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    // Another process may have created it between our look and our lock.
    let objects: i64 = tx.query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))?;
    if objects > 0 {
        return Ok(false);
    }
    tx.execute_batch(SCHEMA)?;
    tx.pragma_update(None, "application_id", APPLICATION_ID)?;
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    tx.commit()?;
    Ok(true)
}

/// Describes a rusqlite error in the form "failed to open database "x.db": ...", with the
/// cause in words for the errors an operator can do something about.
fn explain(
    path: &Path,
    busy_timeout: Duration,
    error: rusqlite::Error,
    action: &str,
) -> anyhow::Error {
    let hint = match error.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => Some(format!(
            "another connection holds its lock (an import in another process?); gave up after \
             {busy_timeout:?}"
        )),
        Some(ErrorCode::NotADatabase) => {
            Some("the file is not a SQLite database, or its header is damaged".to_string())
        }
        Some(ErrorCode::DatabaseCorrupt) => Some("the database file is corrupt".to_string()),
        Some(ErrorCode::CannotOpen) => {
            Some("the file cannot be opened (does its folder exist, may we write it?)".to_string())
        }
        Some(ErrorCode::ReadOnly) => Some("the file or its folder is read-only".to_string()),
        Some(ErrorCode::DiskFull) => Some("the disk is full".to_string()),
        _ => None,
    };
    let error = anyhow::Error::new(error);
    let error = match hint {
        Some(hint) => error.context(hint),
        None => error,
    };
    error.context(format!("failed to {action} database {path:?}"))
}

// ---- Reading -------------------------------------------------------------------------

/// The pool of read-only connections, opened as they are first needed.
struct Readers {
    path: PathBuf,
    busy_timeout: Duration,
    capacity: usize,
    pool: Mutex<Pool>,
    returned: Condvar,
}

struct Pool {
    idle: Vec<Connection>,
    /// Connections that exist, idle or checked out.
    open: usize,
}

impl Readers {
    fn lock(&self) -> MutexGuard<'_, Pool> {
        self.pool.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn connect(&self) -> anyhow::Result<Connection> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        connect(&self.path, flags, self.busy_timeout)
    }

    /// An idle connection, a new one while fewer than `capacity` exist, or the first one
    /// returned within the busy timeout.
    fn check_out(self: &Arc<Self>) -> Result<Reader, StorageFault> {
        let deadline = Instant::now() + self.busy_timeout;
        let mut pool = self.lock();
        loop {
            if let Some(connection) = pool.idle.pop() {
                return Ok(Reader {
                    readers: self.clone(),
                    connection: Some(connection),
                });
            }
            if pool.open < self.capacity {
                pool.open += 1;
                drop(pool);
                return match self.connect() {
                    Ok(connection) => Ok(Reader {
                        readers: self.clone(),
                        connection: Some(connection),
                    }),
                    Err(error) => {
                        self.lock().open -= 1;
                        self.returned.notify_one();
                        Err(StorageFault::unavailable(error))
                    }
                };
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(StorageFault::unavailable(anyhow!(
                    "all {} read connections to database {:?} stayed busy for {:?}",
                    self.capacity,
                    self.path,
                    self.busy_timeout
                )));
            }
            pool = self
                .returned
                .wait_timeout(pool, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Takes a connection back; one left inside a transaction it cannot end is closed.
    fn check_in(&self, connection: Connection) {
        let clean = connection.is_autocommit()
            || (connection.execute_batch("ROLLBACK").is_ok() && connection.is_autocommit());
        let mut pool = self.lock();
        if clean {
            pool.idle.push(connection);
        } else {
            pool.open -= 1;
        }
        drop(pool);
        self.returned.notify_one();
    }
}

/// A connection checked out of the pool; it goes back when dropped.
struct Reader {
    readers: Arc<Readers>,
    /// Always `Some` until dropped.
    connection: Option<Connection>,
}

impl Reader {
    fn connection(&self) -> &Connection {
        self.connection
            .as_ref()
            .expect("a reader holds its connection until it is dropped")
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        if let Some(connection) = self.connection.take() {
            self.readers.check_in(connection);
        }
    }
}

/// A failed read: busy and unreachable databases are unavailable, everything else is
/// internal.
fn fault(error: rusqlite::Error) -> StorageFault {
    match error.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked | ErrorCode::CannotOpen) => {
            StorageFault::unavailable(error)
        }
        _ => StorageFault::internal(error),
    }
}

/// A row that does not decode into the record it stands for.
fn bad_row(what: impl fmt::Display) -> StorageFault {
    StorageFault::internal(anyhow!("the database holds {what}"))
}

fn find_instance(connection: &Connection, domain: &str) -> Result<Option<Instance>, StorageFault> {
    let mut statement = connection
        .prepare_cached(
            "SELECT d.instance_id, i.default_language FROM domains AS d \
             LEFT JOIN instances AS i ON i.id = d.instance_id WHERE d.domain = ?1",
        )
        .map_err(fault)?;
    let row = statement
        .query_row([domain], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?))
        })
        .optional()
        .map_err(fault)?;
    match row {
        None => Ok(None),
        Some((id, Some(default_language))) => Ok(Some(Instance {
            id,
            default_language,
        })),
        Some((id, None)) => Err(bad_row(format_args!(
            "domain {domain:?} of instance {id:?}, which it does not hold"
        ))),
    }
}

fn find_token(
    connection: &Connection,
    instance: &str,
    sha256: &[u8],
) -> Result<Option<Token>, StorageFault> {
    // Only 32-byte digests are stored; anything else finds nothing, as in memory.
    if sha256.len() != 32 {
        return Ok(None);
    }
    let mut statement = connection
        .prepare_cached(
            "SELECT user_id, expiration_seconds, expiration_nanos FROM tokens \
             WHERE instance_id = ?1 AND sha256 = ?2",
        )
        .map_err(fault)?;
    let row = statement
        .query_row(params![instance, sha256], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Option<i64>>(1)?,
                r.get::<_, Option<i64>>(2)?,
            ))
        })
        .optional()
        .map_err(fault)?;
    let Some((user_id, seconds, nanos)) = row else {
        return Ok(None);
    };
    let expiration = timestamp(seconds, nanos).map_err(|e| {
        bad_row(format_args!(
            "a token of user {user_id:?} whose expiration {e}"
        ))
    })?;
    Ok(Some(Token {
        user_id,
        expiration,
    }))
}

fn find_org(
    connection: &Connection,
    instance: &str,
    org_id: &str,
) -> Result<Option<Org>, StorageFault> {
    let mut statement = connection
        .prepare_cached("SELECT active FROM orgs WHERE instance_id = ?1 AND id = ?2")
        .map_err(fault)?;
    let active = statement
        .query_row([instance, org_id], |r| r.get::<_, i64>(0))
        .optional()
        .map_err(fault)?;
    match active {
        None => Ok(None),
        Some(active @ (0 | 1)) => Ok(Some(Org {
            id: org_id.to_string(),
            active: active == 1,
        })),
        Some(other) => Err(bad_row(format_args!(
            "organization {org_id:?} with active = {other}"
        ))),
    }
}

/// The columns of a `memberships` row.
struct MembershipRow {
    scope: String,
    org_id: Option<String>,
    project_id: Option<String>,
    grant_id: Option<String>,
    granted_org_id: Option<String>,
    roles: String,
}

fn list_memberships(
    connection: &Connection,
    instance: &str,
    user_id: &str,
) -> Result<Vec<Membership>, StorageFault> {
    let mut statement = connection
        .prepare_cached(
            "SELECT scope, org_id, project_id, grant_id, granted_org_id, roles FROM memberships \
             WHERE instance_id = ?1 AND user_id = ?2 ORDER BY position",
        )
        .map_err(fault)?;
    let rows = statement
        .query_map([instance, user_id], |r| {
            Ok(MembershipRow {
                scope: r.get(0)?,
                org_id: r.get(1)?,
                project_id: r.get(2)?,
                grant_id: r.get(3)?,
                granted_org_id: r.get(4)?,
                roles: r.get(5)?,
            })
        })
        .map_err(fault)?;
    rows.map(|row| {
        let row = row.map_err(fault)?;
        row.decode()
            .map_err(|e| bad_row(format_args!("a membership of user {user_id:?} {e}")))
    })
    .collect()
}

impl MembershipRow {
    fn decode(self) -> Result<Membership, String> {
        let required = |column: &str, value: Option<String>| {
            value.ok_or_else(|| format!("of scope {:?} without {column}", self.scope))
        };
        let scope = match self.scope.as_str() {
            "instance" => MemberScope::Instance,
            "org" => MemberScope::Org(required("org_id", self.org_id.clone())?),
            "project" => MemberScope::Project(ProjectMembership {
                project_id: required("project_id", self.project_id.clone())?,
                owner_org_id: required("org_id", self.org_id.clone())?,
            }),
            "project-grant" => MemberScope::ProjectGrant(ProjectGrantMembership {
                project_id: required("project_id", self.project_id.clone())?,
                grant_id: required("grant_id", self.grant_id.clone())?,
                owner_org_id: required("org_id", self.org_id.clone())?,
                granted_org_id: required("granted_org_id", self.granted_org_id.clone())?,
            }),
            other => return Err(format!("with unknown scope {other:?}")),
        };
        let roles = serde_json::from_str(&self.roles)
            .map_err(|e| format!("whose roles are not a JSON list of strings ({e})"))?;
        Ok(Membership { scope, roles })
    }
}

/// The columns of a `users` row.
struct UserRow {
    resource_owner: String,
    kind: String,
    state: String,
    preferred_language: Option<String>,
    phone: String,
    is_phone_verified: i64,
    sequence: i64,
    creation: (Option<i64>, Option<i64>),
    change: (Option<i64>, Option<i64>),
}

fn find_user(
    connection: &Connection,
    instance: &str,
    user_id: &str,
) -> Result<Option<User>, StorageFault> {
    let mut statement = connection
        .prepare_cached(
            "SELECT resource_owner, kind, state, preferred_language, phone, is_phone_verified, \
             sequence, creation_seconds, creation_nanos, change_seconds, change_nanos \
             FROM users WHERE instance_id = ?1 AND id = ?2",
        )
        .map_err(fault)?;
    let row = statement
        .query_row([instance, user_id], |r| {
            Ok(UserRow {
                resource_owner: r.get(0)?,
                kind: r.get(1)?,
                state: r.get(2)?,
                preferred_language: r.get(3)?,
                phone: r.get(4)?,
                is_phone_verified: r.get(5)?,
                sequence: r.get(6)?,
                creation: (r.get(7)?, r.get(8)?),
                change: (r.get(9)?, r.get(10)?),
            })
        })
        .optional()
        .map_err(fault)?;
    let Some(row) = row else {
        return Ok(None);
    };
    row.decode(instance, user_id).map(Some).map_err(|e| {
        bad_row(format_args!(
            "user {user_id:?} of instance {instance:?} {e}"
        ))
    })
}

impl UserRow {
    fn decode(self, instance: &str, user_id: &str) -> Result<User, String> {
        let kind =
            kind_of(&self.kind).ok_or_else(|| format!("with unknown kind {:?}", self.kind))?;
        let state =
            state_of(&self.state).ok_or_else(|| format!("with unknown state {:?}", self.state))?;
        let is_phone_verified = match self.is_phone_verified {
            0 => false,
            1 => true,
            other => return Err(format!("with is_phone_verified = {other}")),
        };
        let creation_date = timestamp(self.creation.0, self.creation.1)
            .map_err(|e| format!("whose creation date {e}"))?;
        let change_date = timestamp(self.change.0, self.change.1)
            .map_err(|e| format!("whose change date {e}"))?;
        Ok(User {
            id: user_id.to_string(),
            instance_id: instance.to_string(),
            resource_owner: self.resource_owner,
            kind,
            state,
            preferred_language: self.preferred_language,
            phone: self.phone,
            is_phone_verified,
            // Stored with the same bits as the u64; see the module docs.
            sequence: self.sequence.cast_unsigned(),
            creation_date,
            change_date,
        })
    }
}

/// A date from its seconds and nanoseconds columns.
fn timestamp(seconds: Option<i64>, nanos: Option<i64>) -> Result<Option<Timestamp>, String> {
    match (seconds, nanos) {
        (None, None) => Ok(None),
        (Some(seconds), Some(nanos)) => match u32::try_from(nanos) {
            Ok(nanos) if nanos <= 999_999_999 => Ok(Some(Timestamp { seconds, nanos })),
            _ => Err(format!("has {nanos} nanoseconds")),
        },
        _ => Err("has only one of its two columns".to_string()),
    }
}

fn timestamp_columns(date: Option<Timestamp>) -> (Option<i64>, Option<i64>) {
    match date {
        Some(date) => (Some(date.seconds), Some(i64::from(date.nanos))),
        None => (None, None),
    }
}

fn kind_text(kind: UserKind) -> &'static str {
    match kind {
        UserKind::Human => "human",
        UserKind::Machine => "machine",
    }
}

fn kind_of(text: &str) -> Option<UserKind> {
    [UserKind::Human, UserKind::Machine]
        .into_iter()
        .find(|&k| kind_text(k) == text)
}

fn state_text(state: UserState) -> &'static str {
    match state {
        UserState::Active => "active",
        UserState::Inactive => "inactive",
        UserState::Locked => "locked",
        UserState::Initial => "initial",
    }
}

fn state_of(text: &str) -> Option<UserState> {
    [
        UserState::Active,
        UserState::Inactive,
        UserState::Locked,
        UserState::Initial,
    ]
    .into_iter()
    .find(|&s| state_text(s) == text)
}

// ---- Importing -----------------------------------------------------------------------

/// Why an import step failed, before it is described for the caller.
enum Failure {
    Sql(rusqlite::Error),
    DomainTaken {
        path: String,
        domain: String,
        owner: String,
    },
    Encode(serde_json::Error),
}

impl From<rusqlite::Error> for Failure {
    fn from(error: rusqlite::Error) -> Self {
        Self::Sql(error)
    }
}

impl Failure {
    fn into_import(self, store: &SqliteStore) -> ImportError {
        match self {
            Self::Sql(error) => ImportError::Database(store.explain(error, "import into")),
            Self::DomainTaken {
                path,
                domain,
                owner,
            } => ImportError::DomainTaken {
                path,
                domain,
                owner,
            },
            Self::Encode(error) => ImportError::Database(
                anyhow::Error::new(error).context("failed to encode the roles of a membership"),
            ),
        }
    }
}

/// Every record of an instance that an import writes, for the progress total.
fn record_count(data: &InstanceData) -> u64 {
    let records = 1
        + data.domains.len()
        + data.orgs.len()
        + data.users.len()
        + data.memberships.len()
        + data.tokens.len();
    records as u64
}

/// Fails on the first domain of the snapshot that an instance outside it holds.
fn check_domains(
    tx: &Transaction<'_>,
    snapshot: &Snapshot,
    names: &HashSet<&str>,
) -> Result<(), Failure> {
    let mut owner_of = tx.prepare("SELECT instance_id FROM domains WHERE domain = ?1")?;
    for (i, data) in snapshot.instances.iter().enumerate() {
        for (d, domain) in data.domains.iter().enumerate() {
            let owner: Option<String> = owner_of.query_row([domain], |r| r.get(0)).optional()?;
            // A domain of an instance the snapshot replaces is free to move.
            if let Some(owner) = owner.filter(|owner| !names.contains(owner.as_str())) {
                let path = format!("instances[{i}].domains[{d}]");
                return Err(Failure::DomainTaken {
                    path,
                    domain: domain.clone(),
                    owner,
                });
            }
        }
    }
    Ok(())
}

/// Deletes every row of the named instances; returns how many of them existed.
fn delete_instances(tx: &Transaction<'_>, names: &HashSet<&str>) -> rusqlite::Result<u64> {
    let mut existing = 0;
    let mut exists = tx.prepare("SELECT 1 FROM instances WHERE id = ?1")?;
    let mut deletes = INSTANCE_TABLES
        .iter()
        .map(|(table, column)| tx.prepare(&format!("DELETE FROM {table} WHERE {column} = ?1")))
        .collect::<rusqlite::Result<Vec<_>>>()?;
    for name in names {
        existing += u64::from(exists.exists([name])?);
        for delete in &mut deletes {
            delete.execute([name])?;
        }
    }
    Ok(existing)
}

/// The insert statements of one import, prepared once for all its records.
struct Inserts<'tx> {
    instance: Statement<'tx>,
    domain: Statement<'tx>,
    org: Statement<'tx>,
    user: Statement<'tx>,
    membership: Statement<'tx>,
    token: Statement<'tx>,
}

impl<'tx> Inserts<'tx> {
    fn prepare(tx: &'tx Transaction<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            instance: tx.prepare("INSERT INTO instances (id, default_language) VALUES (?1, ?2)")?,
            domain: tx.prepare("INSERT INTO domains (domain, instance_id) VALUES (?1, ?2)")?,
            org: tx.prepare("INSERT INTO orgs (instance_id, id, active) VALUES (?1, ?2, ?3)")?,
            user: tx.prepare(
                "INSERT INTO users (instance_id, id, resource_owner, kind, state, \
                 preferred_language, phone, is_phone_verified, sequence, creation_seconds, \
                 creation_nanos, change_seconds, change_nanos) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            )?,
            membership: tx.prepare(
                "INSERT INTO memberships (instance_id, user_id, position, scope, org_id, \
                 project_id, grant_id, granted_org_id, roles) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?,
            token: tx.prepare(
                "INSERT INTO tokens (instance_id, sha256, user_id, expiration_seconds, \
                 expiration_nanos) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?,
        })
    }

    /// Writes one instance and everything it holds, calling `step` after each record.
    fn instance(
        &mut self,
        data: &InstanceData,
        summary: &mut ImportSummary,
        step: &mut dyn FnMut(),
    ) -> Result<(), Failure> {
        let id = data.instance.id.as_str();
        self.instance
            .execute([id, &data.instance.default_language])?;
        summary.instances += 1;
        step();
        for domain in &data.domains {
            self.domain.execute([domain, id])?;
            summary.domains += 1;
            step();
        }
        for org in &data.orgs {
            self.org.execute(params![id, org.id, org.active])?;
            summary.orgs += 1;
            step();
        }
        for user in &data.users {
            self.user(id, user)?;
            summary.users += 1;
            step();
        }
        for (position, (user_id, membership)) in data.memberships.iter().enumerate() {
            self.membership(id, position, user_id, membership)?;
            summary.memberships += 1;
            step();
        }
        for (digest, token) in &data.tokens {
            let (seconds, nanos) = timestamp_columns(token.expiration);
            self.token
                .execute(params![id, &digest[..], token.user_id, seconds, nanos])?;
            summary.tokens += 1;
            step();
        }
        Ok(())
    }

    fn user(&mut self, instance: &str, user: &User) -> rusqlite::Result<()> {
        let creation = timestamp_columns(user.creation_date);
        let change = timestamp_columns(user.change_date);
        self.user.execute(params![
            instance,
            user.id,
            user.resource_owner,
            kind_text(user.kind),
            state_text(user.state),
            user.preferred_language,
            user.phone,
            user.is_phone_verified,
            // Same bits as the u64, so the whole range fits; see the module docs.
            user.sequence.cast_signed(),
            creation.0,
            creation.1,
            change.0,
            change.1,
        ])?;
        Ok(())
    }

    fn membership(
        &mut self,
        instance: &str,
        position: usize,
        user_id: &str,
        membership: &Membership,
    ) -> Result<(), Failure> {
        let none = None::<&str>;
        let (scope, org, project, grant, granted) = match &membership.scope {
            MemberScope::Instance => ("instance", none, none, none, none),
            MemberScope::Org(org) => ("org", Some(org.as_str()), none, none, none),
            MemberScope::Project(p) => (
                "project",
                Some(p.owner_org_id.as_str()),
                Some(p.project_id.as_str()),
                none,
                none,
            ),
            MemberScope::ProjectGrant(g) => (
                "project-grant",
                Some(g.owner_org_id.as_str()),
                Some(g.project_id.as_str()),
                Some(g.grant_id.as_str()),
                Some(g.granted_org_id.as_str()),
            ),
        };
        let roles = serde_json::to_string(&membership.roles).map_err(Failure::Encode)?;
        // A list index always fits: no list holds 2^63 elements.
        let position = position as i64;
        self.membership.execute(params![
            instance, user_id, position, scope, org, project, grant, granted, roles
        ])?;
        Ok(())
    }
}
