//! The tatara-lisp host of vigy.
//!
//! An [`Evaluator`] belongs to one thread. It builds the interpreter with the
//! full tatara-lisp stdlib, vigy's intrinsics and the embedder's
//! [`Extension`]s once, then runs each tick of any vigy in isolation, under
//! the [`EvalLimits`] budgets: fuel, call depth, a wall-clock deadline and
//! caps on what a tick may produce.
//!
//! A tick sees the world through [`TickInput`] and hands back a
//! [`TickOutcome`]; it never touches the store or the process's stdout.
#![doc = include_str!("../docs/intrinsics.md")]

mod convert;
mod evaluator;
mod extension;
mod host;
mod intrinsics;
mod limits;
mod watchdog;

pub use convert::{json_to_value, value_to_json};
pub use evaluator::{CompiledProgram, Evaluator, TickError, TickInput, TickOutcome};
pub use extension::{ArityWire, Extension, ExtensionFn, ExtensionTable, Intrinsics, Signature};
pub use host::{Effects, TickHost};
pub use limits::EvalLimits;
/// How many arguments an extension function takes.
pub use tatara_lisp_eval::Arity;

/// The tatara-lisp value type, for extensions.
pub use tatara_lisp_eval::Value;
