//! Embedder intrinsics, and the table that lets them run in the host while
//! ticks run in a worker process.
//!
//! An [`Extension`] registers functions through [`Intrinsics`]. Installed
//! into an interpreter, they are called directly. Recorded into an
//! [`ExtensionTable`] instead, they stay in the embedding process: a worker
//! evaluating a tick installs a forwarding function per [`Signature`], and
//! the host answers each call with [`ExtensionTable::call`], so an
//! extension keeps reaching the app's live state.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tatara_lisp_eval::{Arity, EvalError, Interpreter, Value};

use crate::TickHost;

/// Intrinsics an embedding application adds to every vigy it runs
/// (mado would add its `mado-tear-…` functions).
///
/// Given to the runtime when it is opened; installed once per evaluator,
/// after the stdlib and vigy's own intrinsics, so an extension may also
/// replace one of those on purpose. Its functions run in the embedding
/// process even when ticks are evaluated in worker processes; arguments
/// and results cross as data (the JSON forms of [`value_to_json`](crate::value_to_json)).
pub trait Extension: Send + Sync + 'static {
    /// A short name, for logs.
    fn name(&self) -> &str;
    /// Register the extension's functions.
    fn install(&self, intrinsics: &mut Intrinsics<'_>);
}

impl fmt::Debug for dyn Extension {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Extension({})", self.name())
    }
}

/// An extension function: arguments and the tick's host in, a value out.
pub type ExtensionFn = dyn Fn(&[Value], &mut TickHost) -> Result<Value, String> + Send + Sync;

/// Where an [`Extension`] registers its functions.
pub struct Intrinsics<'a> {
    target: Target<'a>,
}

enum Target<'a> {
    Interpreter(&'a mut Interpreter<TickHost>),
    Table(&'a mut ExtensionTable),
}

impl<'a> Intrinsics<'a> {
    pub(crate) fn into_interpreter(interp: &'a mut Interpreter<TickHost>) -> Self {
        Self { target: Target::Interpreter(interp) }
    }

    /// Register `name`. `arity` is checked before `f` runs; an `Err` from
    /// `f` fails the tick (or is caught by the program's `try`) with the
    /// message, located at the call. If `f` made the tick exceed a quota
    /// (see [`TickHost::quota_exceeded`]), the tick fails whatever `f`
    /// returned, and no `try` can catch it.
    pub fn add<F>(&mut self, name: &str, arity: Arity, f: F)
    where
        F: Fn(&[Value], &mut TickHost) -> Result<Value, String> + Send + Sync + 'static,
    {
        match &mut self.target {
            Target::Interpreter(interp) => {
                let owned: Arc<str> = name.into();
                interp.register_fn(name, arity, move |args: &[Value], host: &mut TickHost, span| {
                    let result = f(args, host);
                    if let Some(quota) = host.quota_exceeded() {
                        // No `try` may catch this: the tick fails.
                        return Err(EvalError::fatal("quota exceeded", quota, span));
                    }
                    result.map_err(|reason| EvalError::native_fn(owned.clone(), reason, span))
                });
            }
            Target::Table(table) => {
                table.functions.insert(name.to_owned(), (arity.into(), Arc::new(f)));
            }
        }
    }
}

impl fmt::Debug for Intrinsics<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Intrinsics")
    }
}

/// How many arguments a function takes, in a form that crosses processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ArityWire {
    /// Exactly this many.
    Exact(usize),
    /// At least this many.
    AtLeast(usize),
    /// Between the two, inclusive.
    Range(usize, usize),
    /// Any number.
    Any,
}

impl From<Arity> for ArityWire {
    fn from(arity: Arity) -> Self {
        match arity {
            Arity::Exact(n) => Self::Exact(n),
            Arity::AtLeast(n) => Self::AtLeast(n),
            Arity::Range(a, b) => Self::Range(a, b),
            Arity::Any => Self::Any,
        }
    }
}

impl From<ArityWire> for Arity {
    fn from(arity: ArityWire) -> Self {
        match arity {
            ArityWire::Exact(n) => Self::Exact(n),
            ArityWire::AtLeast(n) => Self::AtLeast(n),
            ArityWire::Range(a, b) => Self::Range(a, b),
            ArityWire::Any => Self::Any,
        }
    }
}

/// An extension function's name and arity: what a worker needs to forward
/// calls of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    /// The function's name in programs.
    pub name: String,
    /// Its arity.
    pub arity: ArityWire,
}

/// Every extension function, kept in the embedding process.
#[derive(Default, Clone)]
pub struct ExtensionTable {
    functions: BTreeMap<String, (ArityWire, Arc<ExtensionFn>)>,
}

impl fmt::Debug for ExtensionTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.functions.keys()).finish()
    }
}

impl ExtensionTable {
    /// Record the functions of `extensions`, later ones replacing earlier
    /// ones of the same name.
    pub fn new(extensions: &[Arc<dyn Extension>]) -> Self {
        let mut table = Self::default();
        for extension in extensions {
            extension.install(&mut Intrinsics { target: Target::Table(&mut table) });
        }
        table
    }

    /// What a worker installs.
    pub fn signatures(&self) -> Vec<Signature> {
        self.functions.iter().map(|(name, (arity, _))| Signature { name: name.clone(), arity: *arity }).collect()
    }

    /// Call `name` with `args` against `host`.
    pub fn call(&self, name: &str, args: &[Value], host: &mut TickHost) -> Result<Value, String> {
        let (arity, f) = self.functions.get(name).ok_or_else(|| format!("no extension function `{name}`"))?;
        Arity::from(*arity).check(args.len()).map_err(|reason| format!("{name}: {reason}"))?;
        f(args, host)
    }
}
