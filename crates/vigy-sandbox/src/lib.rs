//! vigy's tick sandbox.
//!
//! Ticks are evaluated in worker processes, never in the process that
//! embeds vigy: a program can only be stopped reliably from outside,
//! because a native builtin of the interpreter (`reverse` of a list of
//! 2^40 shared elements, `equal?` on a DAG, printing either) does
//! unbounded work in one evaluation step and never looks at a budget.
//! Each worker runs under a kernel memory limit (`RLIMIT_DATA`), and its
//! supervisor kills it when a tick outlives its deadline by the slack:
//! whatever a program calls, its tick ends within deadline + slack and
//! within its memory budget, and only that tick fails.
//!
//! Workers are the embedding binary itself, re-executed: its `main` calls
//! [`run_if_worker`] first (the `vigy` CLI does), or the runtime is pointed
//! at a `vigy-worker` binary ([`WorkerProgram::Path`]). Extensions keep
//! running in the embedding process: workers forward their calls.
//!
//! The parts: [`protocol`](crate) frames, the worker's loop (`worker.rs`),
//! one supervisor thread per worker (`supervisor.rs`), and the [`Pool`]
//! that queues ticks and grows and shrinks the workers (`pool.rs`).

mod killer;
mod memory;
mod pool;
mod protocol;
mod supervisor;
mod worker;

pub use pool::{Done, Job, Pool, ProgramSource, SandboxConfig, SandboxMetrics, WORKER_PROGRAM_VAR, WorkerProgram};
pub use worker::run_if_worker;
