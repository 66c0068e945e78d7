//! The pure domain of vigy.
//!
//! Every value here is valid by construction: constructors refuse bad input
//! with a typed [`VigyError`], so the store, the runtime and the transports
//! never re-check a rule. Nothing in this crate does I/O.

mod action;
pub mod condition;
mod error;
mod id;
mod interval;
mod labels;
mod name;
pub mod program;
mod run;
pub mod schedule;
mod selector;
mod state;
mod time;
mod vigy;

pub use action::{ActionKind, ActionResult, ReconcileAction};
pub use condition::{Condition, ConditionFilter, ConditionStatus, ConditionUpdate};
pub use error::VigyError;
pub use id::VigyId;
pub use interval::TickInterval;
pub use labels::{Labels, MAX_LABELS};
pub use name::VigyName;
pub use program::{Program, ProgramError};
pub use run::{LogLine, RunResult, VigyRun};
pub use schedule::{Cadence, CronPattern, Plan, Schedule, ScheduleSpec};
pub use selector::{LabelSelector, Requirement};
pub use state::VigyState;
pub use time::{Clock, Timestamp, format_timestamp, parse_timestamp};
pub use vigy::{Pause, Vigy};
