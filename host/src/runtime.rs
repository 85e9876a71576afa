//! The component's runtime: one engine, the component compiled once, and a fresh,
//! limited instance for every call.

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result};
use user_phone_guest as guest;
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store,
    StoreLimitsBuilder, Trap,
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
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self { max_instances: 128, memory_limit: 8 << 20, deadline: Duration::from_secs(1) }
    }
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
    /// Compiles the built-in component.
    pub fn new(config: RuntimeConfig) -> Result<Self> {
        Self::with_component(config, COMPONENT)
    }

    /// Compiles a component given as bytes (a `.wasm` component binary).
    pub fn with_component(config: RuntimeConfig, wasm: &[u8]) -> Result<Self> {
        let engine = Engine::new(&engine_config(&config))?;
        let component = Component::new(&engine, wasm)
            .map_err(anyhow::Error::from)
            .context("failed to compile the component")?;
        Self::link(engine, component, config)
    }

    fn link(engine: Engine, component: Component, config: RuntimeConfig) -> Result<Self> {
        let mut linker = Linker::new(&engine);
        Endpoint::add_to_linker::<_, HasSelf<HostState>>(&mut linker, |state| state)?;
        let pre = EndpointPre::new(linker.instantiate_pre(&component)?)?;
        start_epoch_ticker(&engine);
        Ok(Self { engine, pre, config })
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
            endpoint.user_phone_endpoint_lookup().call_get_user_phone(store, caller, user_id)
        });
        outcome.unwrap_or_else(|fault| {
            Err(Error { code: host_code(fault.code()), id: None, message: fault.message().into() })
        })
    }

    /// Runs the wire export for one HTTP request. A fault of the component becomes the
    /// error answer of the request's encoding, and is logged.
    pub fn handle(&self, storage: Arc<dyn Storage>, request: &Request) -> Response {
        let outcome = self.call(storage, |endpoint, store| {
            endpoint.user_phone_endpoint_wire().call_handle(store, request)
        });
        outcome.unwrap_or_else(|fault| fault_response(request, fault.code(), fault.message()))
    }

    /// Instantiates the component in a fresh, limited store and runs `f` on it.
    fn call<T>(
        &self,
        storage: Arc<dyn Storage>,
        f: impl FnOnce(&Endpoint, &mut Store<HostState>) -> wasmtime::Result<T>,
    ) -> Result<T, Fault> {
        let limits = StoreLimitsBuilder::new()
            .memory_size(self.config.memory_limit)
            .instances(CORE_INSTANCES)
            .trap_on_grow_failure(true)
            .build();
        let mut store = Store::new(&self.engine, HostState { storage, limits });
        store.limiter(|state| &mut state.limits);
        let ticks = self.config.deadline.as_nanos().div_ceil(EPOCH_TICK.as_nanos());
        store.set_epoch_deadline(u64::try_from(ticks).unwrap_or(u64::MAX).max(1));
        store.epoch_deadline_trap();

        let result = self.pre.instantiate(&mut store).and_then(|endpoint| f(&endpoint, &mut store));
        result.map_err(|error| {
            if error.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
                tracing::warn!("component call interrupted at its deadline");
                Fault::Deadline
            } else {
                tracing::error!(error = format!("{error:#}"), "component call failed");
                Fault::Trap(error.into())
            }
        })
    }
}

/// The engine settings: the pooling allocator sized for `config`, epoch interruption for
/// deadlines, and nothing the component does not use.
fn engine_config(config: &RuntimeConfig) -> Config {
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(config.max_instances)
        .total_core_instances(config.max_instances * CORE_INSTANCES as u32)
        .total_memories(config.max_instances)
        .total_tables(config.max_instances)
        .max_memory_size(config.memory_limit);

    let mut engine = Config::new();
    engine
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
        .epoch_interruption(true)
        .wasm_component_model(true);
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

/// The component's own error answer for `request`'s encoding, made by the same guest code
/// compiled natively, for the calls the component could not answer itself.
pub fn fault_response(request: &Request, code: guest::Code, message: &str) -> Response {
    let content_type = request
        .headers
        .iter()
        .find(|(name, _)| name == "content-type")
        .and_then(|(_, value)| std::str::from_utf8(value).ok());
    let answer = guest::wire::failure(content_type, code, message);
    Response {
        status: answer.status,
        headers: answer.headers,
        body: answer.body,
        trailers: answer.trailers,
    }
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
