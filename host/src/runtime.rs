//! The component's runtime: one engine, the component compiled once (or loaded from the
//! cache of a previous start), and a fresh, limited instance for every call.
//!
//! [`WarmInstance`] keeps one instance across calls instead, for benchmarks and for
//! embedders that accept state shared between the calls of one instance.

use std::fs;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use user_phone_guest as guest;
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{
    Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, ResourceLimiter,
    Store, StoreLimits, StoreLimitsBuilder, Trap,
};

use crate::bindings::lookup::{Caller, Error, UserPhone};
use crate::bindings::types::Code;
use crate::bindings::wire::{Request, Response};
use crate::bindings::{Endpoint, EndpointPre};
use crate::storage::{HostState, Storage};

/// The component, built from `guest/` by this crate's build script.
pub const COMPONENT: &[u8] = include_bytes!(env!("USER_PHONE_WASM"));

/// Core instances one instantiation of the component makes: its module, and the shim and
/// fixup modules wasm-component-ld adds to lower imports that return lists and strings.
const CORE_INSTANCES: usize = 3;

/// Tables one instantiation defines: the module's function table and the shim's. Its one
/// linear memory is the module's.
const TABLES: u32 = 2;

/// Bytes of an instance's linear memory, and of its tables, that a pooling slot keeps
/// mapped when the instance is gone, to be reset in place for the next one. The component
/// touches some 100 KiB per call; what lies beyond is unmapped as usual.
const MEMORY_KEEP_RESIDENT: usize = 2 << 20;
const TABLE_KEEP_RESIDENT: usize = 64 << 10;

/// How often the engine's epoch advances; deadlines are counted in these ticks.
const EPOCH_TICK: Duration = Duration::from_millis(5);

/// Limits that every call runs under.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// How many instances may be alive at once: the pooling allocator's slots.
    pub max_instances: u32,
    /// The most linear memory one instance may grow to, in bytes.
    pub memory_limit: usize,
    /// How long the component may run for one call before it is interrupted.
    pub deadline: Duration,
    /// Where [`Runtime::new`] keeps the compiled component between starts; `None` compiles
    /// it at every start. See [`default_cache_dir`] for the default and the trust it needs.
    pub cache_dir: Option<PathBuf>,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            max_instances: 128,
            memory_limit: 8 << 20,
            deadline: Duration::from_secs(1),
            cache_dir: default_cache_dir(),
        }
    }
}

/// The cache directory a runtime uses unless told otherwise: `$USER_PHONE_CACHE_DIR` (empty
/// turns the cache off), else `$XDG_CACHE_HOME/user-phone`, else `~/.cache/user-phone`.
///
/// Loading a cached component runs its machine code without any check that it came from
/// the component: wasmtime trusts a serialized artifact as it trusts its own compiler.
/// The cache therefore only reads files this program wrote into a directory it created
/// private to its user (mode 0700), and skips a directory that others may write to. Never
/// point it at a directory shared with another user.
pub fn default_cache_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("USER_PHONE_CACHE_DIR") {
        return (!dir.is_empty()).then(|| PathBuf::from(dir));
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cache")))?;
    Some(base.join("user-phone"))
}

/// Why a call produced no answer of the component's own.
#[derive(Debug)]
pub enum Fault {
    /// The component ran past the deadline and was interrupted.
    Deadline,
    /// The component trapped, hit its memory cap, or could not be instantiated.
    Trap(anyhow::Error),
}

impl Fault {
    /// The gRPC code a client gets for this fault.
    fn code(&self) -> guest::Code {
        match self {
            Self::Deadline => guest::Code::DeadlineExceeded,
            Self::Trap(_) => guest::Code::Internal,
        }
    }

    /// The message a client gets: fixed, so nothing of the fault's cause leaks.
    fn message(&self) -> &'static str {
        match self {
            Self::Deadline => "deadline exceeded",
            Self::Trap(_) => "internal error",
        }
    }

    /// The typed export's error for this fault.
    fn error(&self) -> Error {
        Error {
            code: host_code(self.code()),
            id: None,
            message: self.message().into(),
        }
    }

    /// The wire export's answer for this fault, in the encoding of `request`.
    fn response(&self, request: &Request) -> Response {
        fault_response(content_type(request), self.code(), self.message())
    }
}

/// The engine, the compiled component and the limits for its calls. Cheap to share
/// between threads; every call gets a fresh instance, so nothing leaks from one request
/// into the next.
pub struct Runtime {
    engine: Engine,
    pre: EndpointPre<HostState>,
    config: RuntimeConfig,
}

impl Runtime {
    /// Loads the built-in component: from the cache when `config.cache_dir` holds it
    /// compiled for this engine, else compiled now and written to the cache for the next
    /// start. A cache that cannot be read or written only costs the compilation.
    pub fn new(config: RuntimeConfig) -> Result<Self> {
        let engine = Engine::new(&engine_config(&config))?;
        let component = match &config.cache_dir {
            Some(dir) => cached_component(&engine, dir, COMPONENT)?,
            None => compile(&engine, COMPONENT)?,
        };
        Self::link(engine, component, config)
    }

    /// Compiles a component given as bytes (a `.wasm` component binary); never cached.
    pub fn with_component(config: RuntimeConfig, wasm: &[u8]) -> Result<Self> {
        let engine = Engine::new(&engine_config(&config))?;
        let component = compile(&engine, wasm)?;
        Self::link(engine, component, config)
    }

    fn link(engine: Engine, component: Component, config: RuntimeConfig) -> Result<Self> {
        let mut linker = Linker::new(&engine);
        Endpoint::add_to_linker::<_, HasSelf<HostState>>(&mut linker, |state| state)?;
        let pre = EndpointPre::new(linker.instantiate_pre(&component)?)?;
        start_epoch_ticker(&engine);
        Ok(Self {
            engine,
            pre,
            config,
        })
    }

    /// The limits this runtime enforces.
    pub fn config(&self) -> &RuntimeConfig {
        &self.config
    }

    /// Runs the typed export for one call. A fault of the component becomes an error for
    /// this call alone, and is logged.
    pub fn get_user_phone(
        &self,
        storage: Arc<dyn Storage>,
        caller: &Caller,
        user_id: &str,
    ) -> Result<UserPhone, Error> {
        let outcome = self.call(storage, |endpoint, store| {
            endpoint
                .user_phone_endpoint_lookup()
                .call_get_user_phone(store, caller, user_id)
        });
        outcome.unwrap_or_else(|fault| Err(fault.error()))
    }

    /// Runs the wire export for one HTTP request. A fault of the component becomes the
    /// error answer of the request's encoding, and is logged.
    pub fn handle(&self, storage: Arc<dyn Storage>, request: &Request) -> Response {
        let outcome = self.call(storage, |endpoint, store| {
            endpoint
                .user_phone_endpoint_wire()
                .call_handle(store, request)
        });
        outcome.unwrap_or_else(|fault| fault.response(request))
    }

    /// An instance kept for many calls, answering from `storage`. See [`WarmInstance`] for
    /// what it shares between calls.
    pub fn warm(&self, storage: Arc<dyn Storage>) -> Result<WarmInstance<'_>> {
        let mut store = self.store(storage);
        let endpoint = self.pre.instantiate(&mut store)?;
        Ok(WarmInstance {
            runtime: self,
            store,
            endpoint: Some(endpoint),
        })
    }

    /// Instantiates the component in a fresh, limited store and runs `f` on it.
    fn call<T>(
        &self,
        storage: Arc<dyn Storage>,
        f: impl FnOnce(&Endpoint, &mut Store<HostState>) -> wasmtime::Result<T>,
    ) -> Result<T, Fault> {
        let mut store = self.store(storage);
        let result = self
            .pre
            .instantiate(&mut store)
            .and_then(|endpoint| f(&endpoint, &mut store));
        result.map_err(fault)
    }

    /// A store with this runtime's limits, its deadline counted from now.
    fn store(&self, storage: Arc<dyn Storage>) -> Store<HostState> {
        let limits = StoreLimitsBuilder::new()
            .memory_size(self.config.memory_limit)
            .instances(CORE_INSTANCES)
            .trap_on_grow_failure(true)
            .build();
        let limits = Limits {
            inner: limits,
            memory: 0,
        };
        let mut store = Store::new(&self.engine, HostState { storage, limits });
        store.limiter(|state| &mut state.limits);
        self.arm_deadline(&mut store);
        store.epoch_deadline_trap();
        store
    }

    /// Lets the store run for the configured deadline from now on.
    fn arm_deadline(&self, store: &mut Store<HostState>) {
        let ticks = self
            .config
            .deadline
            .as_nanos()
            .div_ceil(EPOCH_TICK.as_nanos());
        store.set_epoch_deadline(u64::try_from(ticks).unwrap_or(u64::MAX).max(1));
    }
}

/// What a failed instantiation or call becomes, logged once here.
fn fault(error: wasmtime::Error) -> Fault {
    if error.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
        tracing::warn!("component call interrupted at its deadline");
        Fault::Deadline
    } else {
        tracing::error!(error = format!("{error:#}"), "component call failed");
        Fault::Trap(error.into())
    }
}

/// One instance of the component kept across calls: for benchmarks, and for embedders
/// that accept that the calls of one instance share its state.
///
/// Unlike [`Runtime::get_user_phone`] and [`Runtime::handle`], which give every call a
/// fresh instance, whatever one call leaves in the instance's linear memory (the
/// allocator's free lists, bytes of earlier requests and answers in freed blocks) is
/// there for the next. The component keeps no state of its own between calls, so answers
/// do not change; but a bug that read stale memory could show one caller's data to
/// another, which per-call instances rule out. Every call still runs under the memory cap
/// and its own deadline. After a fault (trap, deadline) the instance is dropped and the
/// next call gets a fresh one, since a trapped instance may not be entered again.
pub struct WarmInstance<'a> {
    runtime: &'a Runtime,
    store: Store<HostState>,
    /// `None` after a fault, until the next call instantiates again.
    endpoint: Option<Endpoint>,
}

impl WarmInstance<'_> {
    /// The typed export, as [`Runtime::get_user_phone`] runs it.
    pub fn get_user_phone(&mut self, caller: &Caller, user_id: &str) -> Result<UserPhone, Error> {
        let outcome = self.call(|endpoint, store| {
            endpoint
                .user_phone_endpoint_lookup()
                .call_get_user_phone(store, caller, user_id)
        });
        outcome.unwrap_or_else(|fault| Err(fault.error()))
    }

    /// The wire export, as [`Runtime::handle`] runs it.
    pub fn handle(&mut self, request: &Request) -> Response {
        let outcome = self.call(|endpoint, store| {
            endpoint
                .user_phone_endpoint_wire()
                .call_handle(store, request)
        });
        outcome.unwrap_or_else(|fault| fault.response(request))
    }

    /// The size of the instance's linear memory now, in bytes: what it grew to so far.
    pub fn memory_size(&self) -> usize {
        self.store.data().limits.memory
    }

    fn call<T>(
        &mut self,
        f: impl FnOnce(&Endpoint, &mut Store<HostState>) -> wasmtime::Result<T>,
    ) -> Result<T, Fault> {
        if self.endpoint.is_none() {
            // A trapped instance's store may hold its memory; start over with a new one.
            let storage = self.store.data().storage.clone();
            self.store = self.runtime.store(storage);
            self.endpoint = Some(
                self.runtime
                    .pre
                    .instantiate(&mut self.store)
                    .map_err(fault)?,
            );
        }
        let endpoint = self.endpoint.as_ref().expect("instantiated above");
        self.runtime.arm_deadline(&mut self.store);
        let result = f(endpoint, &mut self.store);
        if result.is_err() {
            self.endpoint = None;
        }
        result.map_err(fault)
    }
}

/// The store's resource limits, which also note how large its linear memory grew.
pub(crate) struct Limits {
    inner: StoreLimits,
    /// The largest linear memory size granted so far, in bytes.
    memory: usize,
}

impl ResourceLimiter for Limits {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let granted = self.inner.memory_growing(current, desired, maximum)?;
        if granted {
            self.memory = self.memory.max(desired);
        }
        Ok(granted)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.inner.table_growing(current, desired, maximum)
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.inner.memory_grow_failed(error)
    }

    fn table_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.inner.table_grow_failed(error)
    }

    fn instances(&self) -> usize {
        self.inner.instances()
    }

    fn tables(&self) -> usize {
        self.inner.tables()
    }

    fn memories(&self) -> usize {
        self.inner.memories()
    }
}

fn compile(engine: &Engine, wasm: &[u8]) -> Result<Component> {
    Component::new(engine, wasm)
        .map_err(anyhow::Error::from)
        .context("failed to compile the component")
}

/// The component compiled for `engine`, from `dir` when an earlier start left it there;
/// else compiled and written there. Cache failures are logged and cost only the compile.
fn cached_component(engine: &Engine, dir: &Path, wasm: &[u8]) -> Result<Component> {
    let path = dir.join(cache_file_name(engine, wasm));
    if path.exists() && is_private(dir) {
        // SAFETY: the file is named by the digest of these very component bytes and of
        // the engine's compilation settings, in a directory only this user may write to,
        // and was written by `store_in_cache` below from `Component::serialize`: it is an
        // artifact this program made for an engine like this one. wasmtime checks the
        // version and settings it was made with again as it loads it.
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(component) => {
                tracing::debug!(path = %path.display(), "loaded the compiled component");
                return Ok(component);
            }
            Err(error) => tracing::warn!(
                path = %path.display(),
                error = format!("{error:#}"),
                "failed to load the cached component; compiling it"
            ),
        }
    }
    let component = compile(engine, wasm)?;
    if let Err(error) = store_in_cache(&component, dir, &path) {
        tracing::warn!(
            error = format!("{error:#}"),
            "failed to cache the compiled component"
        );
    }
    Ok(component)
}

/// `<component digest>-<engine settings hash>.cwasm`: a changed component or a changed
/// engine setting never meets an old artifact.
fn cache_file_name(engine: &Engine, wasm: &[u8]) -> String {
    let digest = Sha256::digest(wasm);
    let mut settings = DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut settings);
    format!(
        "user-phone-{}-{:016x}.cwasm",
        hex::encode(&digest[..16]),
        settings.finish()
    )
}

/// Writes the compiled component under a temporary name and renames it into place, so a
/// concurrent start never reads half a file.
fn store_in_cache(component: &Component, dir: &Path, path: &Path) -> Result<()> {
    create_private_dir(dir)?;
    let bytes = component.serialize().map_err(anyhow::Error::from)?;
    let temporary = path.with_extension(format!("tmp{}", std::process::id()));
    let mut file =
        fs::File::create(&temporary).with_context(|| format!("failed to create {temporary:?}"))?;
    file.write_all(&bytes)
        .with_context(|| format!("failed to write {temporary:?}"))?;
    fs::rename(&temporary, path).with_context(|| format!("failed to rename {temporary:?}"))?;
    Ok(())
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("failed to create the cache directory {dir:?}"))
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("failed to create the cache directory {dir:?}"))
}

/// Whether only its owner may write to `dir`; a cache anyone else could write to is not
/// read, since its files would run as this program's code.
#[cfg(unix)]
fn is_private(dir: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let private = fs::metadata(dir).is_ok_and(|m| m.permissions().mode() & 0o022 == 0);
    if !private {
        tracing::warn!(dir = %dir.display(), "cache directory is writable by others; not used");
    }
    private
}

#[cfg(not(unix))]
fn is_private(_: &Path) -> bool {
    true
}

/// The engine settings: the pooling allocator sized for `config`, epoch interruption for
/// deadlines, and nothing the component does not use. BENCHMARKS.md has what each of the
/// settings for speed gained.
fn engine_config(config: &RuntimeConfig) -> Config {
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(config.max_instances)
        .total_core_instances(config.max_instances * CORE_INSTANCES as u32)
        .total_memories(config.max_instances)
        .total_tables(config.max_instances * TABLES)
        .max_memory_size(config.memory_limit)
        // A slot that is reused is reset by writing back only the pages the last instance
        // touched (found with the PAGEMAP_SCAN ioctl where the kernel has it, 6.7 on)
        // instead of unmapping them: no page faults, no TLB shootdowns on the next call.
        .linear_memory_keep_resident(MEMORY_KEEP_RESIDENT)
        .table_keep_resident(TABLE_KEEP_RESIDENT)
        .pagemap_scan(Enabled::Auto);

    let mut engine = Config::new();
    engine
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
        .epoch_interruption(true)
        .wasm_component_model(true)
        // The component makes no concurrent calls; without the support every store skips
        // setting up the state for it.
        .concurrency_support(false);
    engine
}

/// Advances the engine's epoch every tick, for as long as the engine lives.
fn start_epoch_ticker(engine: &Engine) {
    let engine = engine.weak();
    thread::Builder::new()
        .name("user-phone-epoch".into())
        .spawn(move || {
            while let Some(engine) = engine.upgrade() {
                engine.increment_epoch();
                drop(engine);
                thread::sleep(EPOCH_TICK);
            }
        })
        .expect("failed to start the epoch thread");
}

/// The component's own error answer in the encoding `content_type` names, made by the same
/// guest code compiled natively, for the calls the component could not answer itself.
pub fn fault_response(content_type: Option<&str>, code: guest::Code, message: &str) -> Response {
    let answer = guest::wire::failure(content_type, code, message);
    Response {
        status: answer.status,
        headers: answer.headers,
        body: answer.body,
        trailers: answer.trailers,
    }
}

/// The request's `content-type`, when it is sent once and readable.
pub fn content_type(request: &Request) -> Option<&str> {
    let value = request
        .headers
        .iter()
        .find(|(name, _)| name == "content-type")?;
    std::str::from_utf8(&value.1).ok()
}

/// The host's name for a guest status code.
fn host_code(code: guest::Code) -> Code {
    match code {
        guest::Code::Ok => Code::Ok,
        guest::Code::InvalidArgument => Code::InvalidArgument,
        guest::Code::DeadlineExceeded => Code::DeadlineExceeded,
        guest::Code::NotFound => Code::NotFound,
        guest::Code::PermissionDenied => Code::PermissionDenied,
        guest::Code::ResourceExhausted => Code::ResourceExhausted,
        guest::Code::FailedPrecondition => Code::FailedPrecondition,
        guest::Code::Unimplemented => Code::Unimplemented,
        guest::Code::Internal => Code::Internal,
        guest::Code::Unavailable => Code::Unavailable,
        guest::Code::Unauthenticated => Code::Unauthenticated,
    }
}
