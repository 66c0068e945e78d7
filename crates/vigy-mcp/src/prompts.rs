//! The `write-vigy` prompt: everything an agent needs to write a vigy's
//! program — the task, the rules a program lives by, the intrinsics
//! reference — and the tools to check, try and register it.

use rmcp::ErrorData;
use rmcp::model::{GetPromptResult, JsonObject, Prompt, PromptArgument, PromptMessage, Role};

use crate::resources::INTRINSICS;

/// The prompt's name.
pub const WRITE_VIGY: &str = "write-vigy";

/// The shortest interval a vigy may tick at, in milliseconds (the domain's
/// rule, stated in the spec as `tick_interval_ms`'s minimum).
const MIN_INTERVAL_MS: u64 = 100;

const RULES: &str = "\
## What a vigy is
A vigy is a small tatara-lisp program (a Lisp with Clojure-like names) that the runtime \
evaluates once per tick: every `tick_interval_ms` milliseconds (at least 100 ms, at most 7 days), \
or at the times of a `cron` pattern (six fields, seconds first: `0 */5 * * * *` is every five \
minutes) read in the IANA zone `tz` (default UTC). \
Each tick is a fresh evaluation of the whole program: `define`s do not survive to the next tick; \
what must persist goes in the kv store (`vigy-get`, `vigy-set`, `vigy-incr`, `vigy-del`).

## Rules
- A tick decides, handlers do. The program never performs side effects itself: it emits \
actions (`vigy-emit kind payload`, or `vigy-pull`, `vigy-push`, `vigy-noop`), which commit with \
the tick and are then carried out in order by the handlers the server is configured with \
(`http`, `exec`, `webhook`, or the embedding app's own). A kind no handler takes is `skipped`.
- The next tick reads what became of the previous tick's actions with `(vigy-last-results)`: \
maps with `kind`, `payload`, `result` (`ok`, `failed`, `skipped`), `message`, `output` and \
`attempts`. Use them to retry, back off or move on; a tick starts only once its previous \
actions are resolved.
- Report what you reconcile: `(vigy-desired key value)` and `(vigy-observed key value)`, and \
conditions as Kubernetes has them: `(vigy-condition \"Ready\" true \"Converged\" \"a sentence\")` \
(status `true`, `false` or `\"unknown\"`).
- Ticks are transactions: a tick that fails (an error, or a budget of fuel, depth, time or \
memory exceeded) changes no kv, desired, observed or condition, and its actions are skipped.
- Log with `(vigy-log \"info\" msg)`; `display`/`print` go to the run's log too, never stdout.
- Keep it small: at most 256 KiB of source, nested at most 200 deep; a tick has a 2 s deadline.
- Payloads are JSON values: maps are built with `(hash-map \"key\" value ...)` (there is no map \
literal), lists with `(list ...)`.

## How to proceed
1. Write the program.
2. Call `check_program` with it: it answers `ok`, or the message with line and column.
3. Call `simulate_program` with a few `ticks`: each tick's result, actions, logs and kv, with \
nothing stored and no action carried out (a `noop` is `ok`, every other action `skipped`, which \
is what the next tick reads with `vigy-last-results`). Fix what is wrong and try again.
4. Register it with `register_vigy` (`name`, `program`, `tick_interval_ms` or `cron` and `tz`, \
`labels`); registering a name that exists updates that vigy. Spread many vigies on one schedule \
with `jitter_ms`; let one that keeps failing stop itself with `pause_after_failures`.
";

/// Every prompt.
pub(crate) fn list() -> Vec<Prompt> {
    vec![Prompt::new(
        WRITE_VIGY,
        Some(
            "Write a vigy: a tatara-lisp program that reconciles something on an interval, checked and simulated before it is registered.",
        ),
        Some(vec![
            PromptArgument::new("goal")
                .with_description("What the vigy should reconcile or watch, in words.")
                .with_required(true),
            PromptArgument::new("interval_ms")
                .with_description(
                    "How often it should tick, in milliseconds (at least 100); the prompt suggests one if absent.",
                )
                .with_required(false),
        ]),
    )]
}

/// The prompt `name` filled with `arguments`.
pub(crate) fn get(name: &str, arguments: JsonObject) -> Result<GetPromptResult, ErrorData> {
    if name != WRITE_VIGY {
        return Err(ErrorData::invalid_params(format!("no prompt is named {name:?}; there is {WRITE_VIGY:?}"), None));
    }
    let text = |key: &str| match arguments.get(key) {
        Some(serde_json::Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let goal = text("goal")
        .ok_or_else(|| ErrorData::invalid_params("write-vigy needs `goal`: what the vigy should reconcile", None))?;
    let interval = match text("interval_ms") {
        None => "Pick a `tick_interval_ms` that suits it (at least 100).".to_owned(),
        Some(raw) => match raw.parse::<u64>() {
            Ok(ms) if ms >= MIN_INTERVAL_MS => format!("It ticks every {ms} ms (`tick_interval_ms: {ms}`)."),
            _ => {
                return Err(ErrorData::invalid_params(
                    format!(
                        "`interval_ms` must be a whole number of milliseconds, at least {MIN_INTERVAL_MS}; got {raw:?}"
                    ),
                    None,
                ));
            }
        },
    };
    let message = format!(
        "Write a vigy that does this:\n\n{goal}\n\n{interval}\n\n{RULES}\n# The intrinsics reference\n\n{INTRINSICS}"
    );
    Ok(GetPromptResult::new(vec![PromptMessage::new_text(Role::User, message)])
        .with_description(format!("Write a vigy: {goal}")))
}
