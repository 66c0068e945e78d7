//! Running one tick of one vigy.
//!
//! # Isolation
//!
//! The stdlib, vigy's intrinsics and the extensions are installed once, in
//! `base`. Ticks never run in `base` itself:
//!
//! - Most programs are wrapped as the body of one lambda,
//!   `((lambda () form…))`, and applied in `reusable`, a fork of `base` that
//!   lives as long as the evaluator. Their `define`s are locals of that
//!   call, and a fork refuses `set!` on the frames it inherited, so nothing
//!   one tick does is visible to the next. This costs a few microseconds a
//!   tick; a fresh fork costs tens.
//! - A program with top-level forms that only work at top level
//!   (`defmacro` and its family, `require`, `provide`) gets a fresh fork of
//!   `base` per tick instead, and keeps those semantics.
//!
//! State carries over between ticks only through the kv store, which the
//! runtime passes in ([`TickInput::kv`]) and takes back
//! ([`TickOutcome::kv_changes`]).

use std::collections::BTreeMap;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{Map as JsonMap, Value as Json};
use tatara_lisp::{Atom, Spanned, SpannedForm};
use tatara_lisp_eval::vm::Budget;
use tatara_lisp_eval::{EvalError, Interpreter};
use vigy_types::{ActionResult, ConditionUpdate, LogLine, Program, ReconcileAction, VigyId};

use crate::watchdog::Deadline;
use crate::{EvalLimits, Extension, Intrinsics, TickHost, intrinsics};

/// Heads that only mean something as top-level forms.
const TOP_LEVEL_ONLY: [&str; 5] = ["defmacro", "defpoint-template", "defcheck", "require", "provide"];

/// A program read once, ready to run many ticks.
#[derive(Debug, Clone)]
pub struct CompiledProgram {
    source: Arc<str>,
    body: Body,
}

#[derive(Debug, Clone)]
enum Body {
    /// Nothing to evaluate.
    Empty,
    /// `((lambda () form…))`, applied in the reusable fork.
    Wrapped(Spanned),
    /// Top-level forms, evaluated in a fresh fork.
    TopLevel(Vec<Spanned>),
}

impl CompiledProgram {
    /// Read `program` and choose how its ticks are isolated.
    pub fn new(program: &Program) -> Self {
        let forms = program.forms();
        let body = if forms.is_empty() {
            Body::Empty
        } else if forms.iter().any(|f| head_symbol(f).is_some_and(|h| TOP_LEVEL_ONLY.contains(&h))) {
            Body::TopLevel(forms)
        } else {
            Body::Wrapped(wrap_in_lambda(forms))
        };
        Self { source: program.source().into(), body }
    }

    /// Whether each tick needs a fresh fork (slower) rather than a lambda
    /// application in the reusable fork.
    pub fn needs_fork_per_tick(&self) -> bool {
        matches!(self.body, Body::TopLevel(_))
    }
}

fn head_symbol(form: &Spanned) -> Option<&str> {
    match &form.form {
        SpannedForm::List(items) => match items.first().map(|h| &h.form) {
            Some(SpannedForm::Atom(Atom::Symbol(s))) => Some(s),
            _ => None,
        },
        _ => None,
    }
}

fn wrap_in_lambda(forms: Vec<Spanned>) -> Spanned {
    let mut wrapper = tatara_lisp::read_spanned("((lambda ()))").expect("the wrapper parses");
    let mut outer = wrapper.pop().expect("one form");
    if let SpannedForm::List(items) = &mut outer.form
        && let SpannedForm::List(lambda) = &mut items[0].form
    {
        lambda.extend(forms);
    }
    outer
}

/// What a tick is given.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TickInput {
    /// The vigy.
    pub vigy_id: VigyId,
    /// Its name (`vigy-name`).
    #[serde(with = "shared")]
    pub name: Arc<str>,
    /// Which tick this is, from 1 (`vigy-tick-count`).
    pub tick: u64,
    /// Unix epoch milliseconds of the tick's start (`vigy-tick`).
    pub started_at_ms: i64,
    /// The vigy's stored key/values before this tick.
    #[serde(with = "shared")]
    pub kv: Arc<BTreeMap<String, Json>>,
    /// The actions of the previous tick, with their results
    /// (`vigy-last-results`).
    #[serde(with = "shared", default)]
    pub last_results: Arc<[ReconcileAction]>,
}

/// Why a tick failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TickError {
    /// The program raised an error; the message locates it in the source.
    Program(String),
    /// The program exceeded its fuel or depth budget.
    Budget(String),
    /// The program ran past its wall-clock deadline.
    Deadline(Duration),
    /// The interpreter itself panicked; the evaluator was rebuilt.
    Panicked(String),
    /// The tick needed more memory than its budget; its worker process was
    /// stopped by its memory limit and replaced.
    Memory {
        /// The budget, in bytes.
        limit_bytes: u64,
    },
    /// The program recursed past the evaluation stack; its worker process
    /// was replaced.
    Stack,
    /// The tick did not stop at its deadline (a native function ran on), so
    /// its worker process was killed once the slack after it had passed.
    Killed {
        /// The deadline.
        deadline: Duration,
    },
    /// The worker process evaluating the tick died for another reason.
    WorkerCrashed(String),
}

impl TickError {
    /// Whether the tick cost its worker process its life: what repeated
    /// offenders are quarantined for.
    pub fn ended_its_worker(&self) -> bool {
        matches!(self, Self::Memory { .. } | Self::Stack | Self::Killed { .. } | Self::WorkerCrashed(_))
    }
}

impl fmt::Display for TickError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Program(message) => write!(f, "{message}"),
            Self::Budget(message) => write!(f, "budget exceeded: {message}"),
            Self::Deadline(limit) => write!(f, "deadline exceeded: the tick ran longer than {} ms", limit.as_millis()),
            Self::Panicked(message) => write!(f, "evaluator panicked: {message}"),
            Self::Memory { limit_bytes } => {
                write!(f, "budget exceeded: memory: the tick needed more than {} MiB", limit_bytes / (1024 * 1024))
            }
            Self::Stack => f.write_str("budget exceeded: stack: the program nested or recursed too deeply"),
            Self::Killed { deadline } => write!(
                f,
                "deadline exceeded: the tick ran longer than {} ms and its worker was stopped",
                deadline.as_millis()
            ),
            Self::WorkerCrashed(reason) => write!(f, "evaluation worker crashed: {reason}"),
        }
    }
}

impl std::error::Error for TickError {}

/// What a tick produced.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TickOutcome {
    /// `Ok` if the program ran to its end.
    pub result: Result<(), TickError>,
    /// The actions: `pending` on success (the runtime decides what becomes
    /// of them), `skipped` on failure.
    pub actions: Vec<ReconcileAction>,
    /// The log lines kept.
    pub logs: Vec<LogLine>,
    /// Whether log lines past the cap were dropped (a last line says how many).
    pub logs_truncated: bool,
    /// Key/value writes (`None` = deleted); empty when the tick failed.
    pub kv_changes: BTreeMap<String, Option<Json>>,
    /// `vigy-desired` reports; empty when the tick failed.
    pub desired: JsonMap<String, Json>,
    /// `vigy-observed` reports; empty when the tick failed.
    pub observed: JsonMap<String, Json>,
    /// `vigy-condition` calls, the last per type; empty when the tick
    /// failed.
    #[serde(default)]
    pub conditions: Vec<ConditionUpdate>,
    /// Evaluation time.
    pub elapsed: Duration,
}

impl TickOutcome {
    /// The outcome of a tick that could not finish where it ran (its
    /// worker died or was killed): nothing it did is kept.
    pub fn lost(error: TickError, elapsed: Duration) -> Self {
        Self {
            result: Err(error),
            actions: Vec::new(),
            logs: Vec::new(),
            logs_truncated: false,
            kv_changes: BTreeMap::new(),
            desired: JsonMap::new(),
            observed: JsonMap::new(),
            conditions: Vec::new(),
            elapsed,
        }
    }

    /// Apply this tick's key/value writes and deletes to `kv`, as the store
    /// commits them.
    pub fn apply_kv_changes(&self, kv: &mut BTreeMap<String, Json>) {
        for (key, change) in &self.kv_changes {
            match change {
                Some(value) => kv.insert(key.clone(), value.clone()),
                None => kv.remove(key),
            };
        }
    }
}

/// Runs ticks, one at a time, on the thread that owns it.
pub struct Evaluator {
    base: Interpreter<TickHost>,
    reusable: Interpreter<TickHost>,
    limits: Arc<EvalLimits>,
    budget: Budget,
    deadline: Deadline,
}

impl fmt::Debug for Evaluator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Evaluator").field("limits", &self.limits).finish_non_exhaustive()
    }
}

impl Evaluator {
    /// Build the interpreter once: stdlib, intrinsics, then `extensions`.
    pub fn new(limits: EvalLimits, extensions: &[Arc<dyn Extension>]) -> Self {
        let limits = Arc::new(limits);
        let budget = Budget { fuel: Some(limits.fuel), max_depth: Some(limits.max_depth), quantum: None };
        let interrupt = Arc::new(AtomicBool::new(false));
        let base = build_base(&limits, extensions, interrupt.clone());
        let reusable = base.fork();
        Self { base, reusable, limits, budget, deadline: Deadline::watching(interrupt) }
    }

    /// The limits ticks run under.
    pub fn limits(&self) -> &EvalLimits {
        &self.limits
    }

    /// Run one tick of `program`.
    pub fn run(&mut self, program: &CompiledProgram, input: TickInput) -> TickOutcome {
        let started = Instant::now();
        let mut host = TickHost::new(input, self.limits.clone());
        self.deadline.arm(self.limits.deadline);
        let evaluated = catch_unwind(AssertUnwindSafe(|| self.evaluate(program, &mut host)));
        self.deadline.disarm();
        let result = match evaluated {
            Ok(Ok(())) => Ok(()),
            Ok(Err(err)) => Err(self.classify(err, &program.source)),
            Err(panic) => {
                // The interpreter's state is unknown after a panic: start over.
                self.reusable = self.base.fork();
                Err(TickError::Panicked(panic_message(&*panic)))
            }
        };
        finish(host, result, started.elapsed())
    }

    fn evaluate(&mut self, program: &CompiledProgram, host: &mut TickHost) -> Result<(), EvalError> {
        match &program.body {
            Body::Empty => Ok(()),
            Body::Wrapped(call) => {
                self.reusable.set_budget(self.budget)?;
                self.reusable.eval_program(std::slice::from_ref(call), host).map(drop)
            }
            Body::TopLevel(forms) => {
                let mut fork = self.base.fork();
                fork.set_budget(self.budget)?;
                fork.eval_program(forms, host).map(drop)
            }
        }
    }

    fn classify(&self, err: EvalError, source: &str) -> TickError {
        match err {
            EvalError::Halted => TickError::Deadline(self.limits.deadline),
            err @ EvalError::BudgetExceeded { .. } => TickError::Budget(err.render(source)),
            err => TickError::Program(err.render(source)),
        }
    }
}

fn build_base(
    limits: &EvalLimits,
    extensions: &[Arc<dyn Extension>],
    interrupt: Arc<AtomicBool>,
) -> Interpreter<TickHost> {
    let mut base = Interpreter::new();
    let mut scratch = TickHost::new(
        TickInput {
            vigy_id: "00000000000000000000000000000000".parse().expect("a valid id"),
            name: "stdlib".into(),
            tick: 0,
            started_at_ms: 0,
            kv: Arc::default(),
            last_results: Arc::new([]),
        },
        Arc::new(limits.clone()),
    );
    tatara_lisp_eval::install_full_stdlib_with(&mut base, &mut scratch);
    intrinsics::install(&mut base, limits);
    for extension in extensions {
        extension.install(&mut Intrinsics::into_interpreter(&mut base));
    }
    base.set_interrupt(interrupt);
    base
}

fn finish(mut host: TickHost, result: Result<(), TickError>, elapsed: Duration) -> TickOutcome {
    host.finish_printing();
    let logs_truncated = host.dropped_logs > 0;
    if logs_truncated {
        let dropped = host.dropped_logs;
        host.logs.push(LogLine {
            level: "warn".into(),
            message: format!("{dropped} more log lines were cut: a tick keeps at most {}", host.logs.len()),
        });
    }
    let mut actions = std::mem::take(&mut host.actions);
    if result.is_err() {
        // A failed tick is all-or-nothing: its writes and reports are
        // dropped, its actions are kept for the record but not acted on.
        for action in &mut actions {
            action.result = ActionResult::Skipped;
            action.message = Some("the tick failed after emitting it".into());
        }
        host.kv_changes.clear();
        host.desired.clear();
        host.observed.clear();
        host.conditions.clear();
    }
    TickOutcome {
        result,
        actions,
        logs: host.logs,
        logs_truncated,
        kv_changes: host.kv_changes,
        desired: host.desired,
        observed: host.observed,
        conditions: host.conditions,
        elapsed,
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// Serde for shared (`Arc`) fields, by value: a tick's input crosses to a
/// worker process, where nothing is shared anyway.
mod shared {
    use std::sync::Arc;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub(super) fn serialize<T: Serialize + ?Sized, S: Serializer>(value: &Arc<T>, s: S) -> Result<S::Ok, S::Error> {
        T::serialize(value, s)
    }

    pub(super) fn deserialize<'de, T, D>(d: D) -> Result<Arc<T>, D::Error>
    where
        T: ?Sized,
        Box<T>: Deserialize<'de>,
        D: Deserializer<'de>,
    {
        Box::<T>::deserialize(d).map(Arc::from)
    }
}
