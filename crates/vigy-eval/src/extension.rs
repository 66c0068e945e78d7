use std::fmt;

use tatara_lisp_eval::{Arity, EvalError, Interpreter, Value};

use crate::TickHost;

/// Intrinsics an embedding application adds to every vigy it runs
/// (mado would add its `mado-tear-…` functions).
///
/// Given to the runtime when it is opened; installed once per evaluator
/// thread, after the stdlib and vigy's own intrinsics, so an extension may
/// also replace one of those on purpose.
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

/// Where an [`Extension`] registers its functions.
pub struct Intrinsics<'a> {
    pub(crate) interp: &'a mut Interpreter<TickHost>,
}

impl Intrinsics<'_> {
    /// Register `name`. `arity` is checked before `f` runs; an `Err` from
    /// `f` fails the tick (or is caught by the program's `try`) with the
    /// message, located at the call. If `f` made the tick exceed a quota
    /// (see [`TickHost::quota_exceeded`]), the tick fails whatever `f`
    /// returned, and no `try` can catch it.
    pub fn add<F>(&mut self, name: &str, arity: Arity, f: F)
    where
        F: Fn(&[Value], &mut TickHost) -> Result<Value, String> + Send + Sync + 'static,
    {
        let owned: std::sync::Arc<str> = name.into();
        self.interp.register_fn(name, arity, move |args: &[Value], host: &mut TickHost, span| {
            let result = f(args, host);
            if let Some(quota) = host.quota_exceeded() {
                // No `try` may catch this: the tick fails.
                return Err(EvalError::fatal("quota exceeded", quota, span));
            }
            result.map_err(|reason| EvalError::native_fn(owned.clone(), reason, span))
        });
    }
}

impl fmt::Debug for Intrinsics<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Intrinsics")
    }
}
