//! vigy's intrinsics, and the stdlib functions a tick must not run as
//! shipped (process stdout, unbounded strings, unchecked reader nesting).
//! Every function is documented in `docs/intrinsics.md`.

use std::sync::Arc;

use serde_json::Value as Json;
use tatara_lisp_eval::{Arity, EvalError, Interpreter, Span, Value};
use vigy_types::program::{MAX_NESTING_DEPTH, check_nesting};
use vigy_types::{ActionKind, ConditionStatus, ConditionUpdate, ReconcileAction};

use crate::convert::{json_to_value, value_to_json};
use crate::{EvalLimits, Intrinsics, TickHost};

/// Levels `vigy-log` accepts.
const LEVELS: [&str; 5] = ["trace", "debug", "info", "warn", "error"];

pub(crate) fn install(interp: &mut Interpreter<TickHost>, limits: &EvalLimits) {
    install_bounded_stdlib(interp, limits.max_string_bytes);
    let mut reg = Intrinsics::into_interpreter(interp);
    install_actions(&mut reg);
    install_observation(&mut reg);
    install_kv(&mut reg);
    install_output(&mut reg);
}

fn install_actions(reg: &mut Intrinsics<'_>) {
    reg.add("vigy-emit", Arity::Range(1, 2), |args, host| {
        let kind = action_kind(&args[0])?;
        let payload = args.get(1).map_or(Ok(Json::Null), value_to_json)?;
        host.emit(kind, payload).map(|()| Value::Nil)
    });
    for (name, kind) in [("vigy-pull", ActionKind::Pull), ("vigy-push", ActionKind::Push)] {
        reg.add(name, Arity::Range(0, 1), move |args, host| {
            let payload = args.first().map_or(Ok(Json::Null), value_to_json)?;
            host.emit(kind.clone(), payload).map(|()| Value::Nil)
        });
    }
    reg.add("vigy-noop", Arity::Exact(0), |_, host| host.emit(ActionKind::Noop, Json::Null).map(|()| Value::Nil));
    reg.add("vigy-last-results", Arity::Exact(0), |_, host| {
        Ok(Value::list(host.last_results().iter().map(|action| json_to_value(&result_map(action)))))
    });
    reg.add("vigy-condition", Arity::Range(2, 4), |args, host| {
        let kind = text(&args[0], "type")?;
        let status = condition_status(&args[1])?;
        let optional = |i: usize, what: &str| match args.get(i) {
            None | Some(Value::Nil) => Ok(None),
            Some(value) => text(value, what).map(|t| Some(t.to_string())),
        };
        let condition = ConditionUpdate::new(&kind, status, optional(2, "reason")?, optional(3, "message")?)
            .map_err(|e| e.to_string())?;
        host.set_condition(condition)?;
        Ok(Value::Nil)
    });
}

/// What `vigy-last-results` gives for one action: a map with string keys.
fn result_map(action: &ReconcileAction) -> Json {
    serde_json::json!({
        "kind": action.kind.as_str(),
        "payload": action.payload,
        "result": action.result.as_str(),
        "message": action.message,
        "output": action.output,
        "attempts": action.attempts,
    })
}

/// `true`/`false` (booleans), or `"true"`, `"false"`, `"unknown"` as text.
fn condition_status(value: &Value) -> Result<ConditionStatus, String> {
    match value {
        Value::Bool(true) => Ok(ConditionStatus::True),
        Value::Bool(false) => Ok(ConditionStatus::False),
        other => text(other, "status")?.parse().map_err(|e: vigy_types::VigyError| e.to_string()),
    }
}

fn install_observation(reg: &mut Intrinsics<'_>) {
    reg.add("vigy-log", Arity::Exact(2), |args, host| {
        let level = text(&args[0], "level")?;
        if !LEVELS.contains(&level.as_ref()) {
            return Err(format!("level must be one of {}, got `{level}`", LEVELS.join(", ")));
        }
        host.log(&level, display_text(&args[1]));
        Ok(Value::Nil)
    });
    reg.add("vigy-tick", Arity::Exact(0), |_, host| Ok(Value::Int(host.started_at_ms())));
    reg.add("vigy-tick-count", Arity::Exact(0), |_, host| Ok(Value::Int(host.tick() as i64)));
    reg.add("vigy-name", Arity::Exact(0), |_, host| Ok(Value::Str(host.vigy_name().into())));
    reg.add("vigy-id", Arity::Exact(0), |_, host| Ok(Value::Str(host.vigy_id().to_string().into())));
    reg.add("vigy-desired", Arity::Exact(2), |args, host| {
        host.set_desired(&text(&args[0], "key")?, value_to_json(&args[1])?)?;
        Ok(args[1].clone())
    });
    reg.add("vigy-observed", Arity::Exact(2), |args, host| {
        host.set_observed(&text(&args[0], "key")?, value_to_json(&args[1])?)?;
        Ok(args[1].clone())
    });
}

fn install_kv(reg: &mut Intrinsics<'_>) {
    reg.add("vigy-get", Arity::Range(1, 2), |args, host| {
        let key = text(&args[0], "key")?;
        Ok(match host.kv_get(&key) {
            Some(stored) => json_to_value(stored),
            None => args.get(1).cloned().unwrap_or(Value::Nil),
        })
    });
    reg.add("vigy-set", Arity::Exact(2), |args, host| {
        host.kv_set(&text(&args[0], "key")?, value_to_json(&args[1])?)?;
        Ok(args[1].clone())
    });
    reg.add("vigy-del", Arity::Exact(1), |args, host| Ok(Value::Bool(host.kv_delete(&text(&args[0], "key")?))));
    reg.add("vigy-incr", Arity::Range(1, 2), |args, host| {
        let key = text(&args[0], "key")?;
        let delta = match args.get(1) {
            None => 1,
            Some(Value::Int(n)) => *n,
            Some(other) => return Err(format!("delta must be an integer, got a {}", other.type_name())),
        };
        let current = match host.kv_get(&key) {
            None => 0,
            Some(stored) => stored.as_i64().ok_or_else(|| format!("`{key}` holds {stored}, not an integer"))?,
        };
        let next = current.checked_add(delta).ok_or("integer overflow")?;
        host.kv_set(&key, Json::from(next))?;
        Ok(Value::Int(next))
    });
}

/// `display` and friends write to the run's log (level `print`), never to
/// the process's stdout: one line per `println`/`print`, and `display`
/// text is buffered until a `newline`.
fn install_output(reg: &mut Intrinsics<'_>) {
    reg.add("display", Arity::Exact(1), |args, host| {
        host.print(&display_text(&args[0]));
        Ok(Value::Nil)
    });
    reg.add("newline", Arity::Exact(0), |_, host| {
        host.end_print_line();
        Ok(Value::Nil)
    });
    reg.add("print", Arity::Exact(1), |args, host| {
        host.print(&display_text(&args[0]));
        host.end_print_line();
        Ok(Value::Nil)
    });
    reg.add("println", Arity::Any, |args, host| {
        let line: Vec<String> = args.iter().map(display_text).collect();
        host.print(&line.join(" "));
        host.end_print_line();
        Ok(Value::Nil)
    });
}

/// Stdlib functions that can allocate without bound in a single step, or
/// recurse on nested input, replaced by bounded equivalents.
fn install_bounded_stdlib(interp: &mut Interpreter<TickHost>, max_string_bytes: usize) {
    interp.register_fn("string-append", Arity::Any, move |args: &[Value], _: &mut TickHost, sp: Span| {
        let mut len = 0usize;
        for arg in args {
            match arg {
                Value::Str(s) => len = len.saturating_add(s.len()),
                other => return Err(EvalError::type_mismatch("string", other.type_name(), sp)),
            }
        }
        if len > max_string_bytes {
            return Err(EvalError::native_fn(
                "string-append",
                format!("result would be {len} bytes, the limit is {max_string_bytes}"),
                sp,
            ));
        }
        let mut out = String::with_capacity(len);
        for arg in args {
            if let Value::Str(s) = arg {
                out.push_str(s);
            }
        }
        Ok(Value::Str(Arc::from(out)))
    });
    for (name, all) in [("read-string", false), ("read-all", true)] {
        interp.register_fn(name, Arity::Exact(1), move |args: &[Value], host: &mut TickHost, sp: Span| {
            let fail = |reason: String| EvalError::native_fn(name, reason, sp);
            let Value::Str(source) = &args[0] else {
                return Err(EvalError::type_mismatch("string", args[0].type_name(), sp));
            };
            // Bounded per tick: what is read is interned (see
            // `EvalLimits::max_read_bytes`). Fatal, like every quota.
            host.charge_read(source.len()).map_err(|quota| EvalError::fatal("quota exceeded", quota, sp))?;
            check_nesting(source, MAX_NESTING_DEPTH).map_err(|e| fail(e.message))?;
            let forms = tatara_lisp::read_spanned(source)?;
            let mut values = forms.iter().map(tatara_lisp_eval::code::spanned_to_value);
            if all { Ok(Value::list(values)) } else { values.next().ok_or_else(|| fail("empty source".into())) }
        });
    }
}

fn action_kind(value: &Value) -> Result<ActionKind, String> {
    let name = text(value, "kind")?;
    if name.is_empty() || name.len() > 64 || name.chars().any(char::is_control) {
        return Err(format!("kind must be 1 to 64 printable characters, got {name:?}"));
    }
    Ok(ActionKind::from(name.as_ref()))
}

/// A string, symbol or keyword argument as text.
fn text(value: &Value, what: &str) -> Result<Arc<str>, String> {
    match value {
        Value::Str(s) | Value::Symbol(s) | Value::Keyword(s) => Ok(s.clone()),
        other => Err(format!("{what} must be a string, symbol or keyword, got a {}", other.type_name())),
    }
}

/// How `display` shows a value: strings without quotes, the rest printed.
fn display_text(value: &Value) -> String {
    match value {
        Value::Str(s) => s.to_string(),
        other => other.to_string(),
    }
}
