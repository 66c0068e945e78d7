use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Always-on tatara-lisp reconcilers.
#[derive(Debug, Parser)]
#[command(name = "vigy", version)]
pub(crate) struct Cli {
    /// The database (default: $XDG_DATA_HOME/vigy/vigy.db, i.e.
    /// ~/.local/share/vigy/vigy.db).
    #[arg(long, global = true, env = "VIGY_DB")]
    pub(crate) db: Option<PathBuf>,
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    pub(crate) json: bool,
    /// Talk to a running `vigy serve` at this URL (e.g.
    /// http://127.0.0.1:38821) instead of the database.
    #[arg(long, global = true, env = "VIGY_SERVER", value_name = "URL")]
    pub(crate) server: Option<String>,
    /// Bearer token: required by `serve` off loopback, and sent with
    /// `--server`. Prefer $VIGY_TOKEN or --token-file: a token on the
    /// command line is visible to every user of the machine (`ps`).
    #[arg(long, global = true, env = "VIGY_TOKEN", hide_env_values = true, value_parser = token)]
    pub(crate) token: Option<vigy_server::Token>,
    /// Read the bearer token from this file (its first line).
    #[arg(long, global = true, value_name = "PATH", conflicts_with = "token")]
    pub(crate) token_file: Option<PathBuf>,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Register a vigy from a program file, or update the vigy of that name.
    #[command(group(clap::ArgGroup::new("cadence").required(true).args(["every", "cron"])))]
    Register {
        /// The tatara-lisp program.
        file: PathBuf,
        /// Unique name (its id is derived from it).
        #[arg(long)]
        name: String,
        /// A label, `key=value`; repeat for more.
        #[arg(long = "label", value_name = "KEY=VALUE")]
        labels: Vec<String>,
        #[command(flatten)]
        schedule: ScheduleArgs,
    },
    /// List vigies.
    List {
        /// Only those matching a label selector, e.g. `host=local,tier!=edge`.
        #[arg(long, short = 'l', default_value = "")]
        selector: String,
        /// Only those whose condition has this status, `TYPE=STATUS` (e.g.
        /// `Ready=false`; status true, false or unknown); repeat for more,
        /// all must hold. A vigy without the condition reads as unknown.
        #[arg(long = "condition", value_name = "TYPE=STATUS")]
        conditions: Vec<String>,
    },
    /// Show a vigy, its state, recent runs and (on the database, not over
    /// `--server`) its kv store.
    Inspect {
        /// Id or name.
        vigy: String,
        /// How many recent runs to show (1 to 1000).
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1000))]
        runs: u32,
    },
    /// Stream reconcile events (finished runs) as JSON lines, following the
    /// database, or with `--server` the server's event stream.
    Tail {
        /// Only this vigy (id or name).
        #[arg(long)]
        vigy: Option<String>,
        /// Start from the oldest kept run instead of new ones (database only).
        #[arg(long)]
        all: bool,
    },
    /// Run one tick now and print its run.
    Tick {
        /// Id or name.
        vigy: String,
    },
    /// Stop a vigy from ticking.
    Disable {
        /// Id or name.
        vigy: String,
    },
    /// Let a vigy tick again.
    Enable {
        /// Id or name.
        vigy: String,
    },
    /// Hold a vigy's ticks, saying why, until `vigy resume`; unlike
    /// `disable`, it is meant to run again.
    Pause {
        /// Id or name.
        vigy: String,
        /// Why, shown with the vigy until it is resumed.
        #[arg(long)]
        reason: String,
    },
    /// Let a paused vigy tick again, from its next due time.
    Resume {
        /// Id or name.
        vigy: String,
    },
    /// Delete a vigy with its runs and kv store.
    Delete {
        /// Id or name.
        vigy: String,
    },
    /// Run the runtime in the foreground, ticking every enabled vigy (in
    /// scope), and serve on one address until SIGINT or SIGTERM: REST
    /// (/v1, /openapi.json, Swagger UI at /swagger), GraphQL (/graphql,
    /// GraphiQL on GET), gRPC (pleme.vigy.v1.VigyService, reflection,
    /// health), MCP (/mcp), /healthz, /readyz and /metrics.
    Serve {
        /// Address to listen on; off loopback a token and TLS are required.
        #[arg(long, default_value = "127.0.0.1:38821")]
        bind: std::net::SocketAddr,
        /// Serve TLS with this certificate chain (PEM); with --tls-key.
        #[arg(long, value_name = "PATH", requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// The private key (PEM) of --tls-cert.
        #[arg(long, value_name = "PATH", requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// Serve plain HTTP off loopback (behind a TLS-terminating proxy).
        #[arg(long, conflicts_with = "tls_cert")]
        insecure_http: bool,
        /// An origin (scheme://host[:port]) whose web pages may call this
        /// server, besides its own; repeat for more.
        #[arg(long = "allow-origin", value_name = "ORIGIN")]
        allow_origins: Vec<String>,
        /// How long a vigy's lease lasts unrenewed: how soon other
        /// runtimes on the database take over if this one dies (e.g. 15s).
        #[arg(long, value_name = "DURATION", default_value = "15s", value_parser = parse_duration)]
        lease_ttl: std::time::Duration,
        /// Tick only vigies matching this label selector.
        #[arg(long, default_value = "")]
        selector: String,
        /// Run at most N ticks at once; more wait their turn.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
        max_concurrent_ticks: Option<u32>,
        /// At most N ticks at once of the vigies a selector picks, as
        /// SELECTOR:N (e.g. `target=github:2`); repeat for more.
        #[arg(long = "concurrency", value_name = "SELECTOR:N", value_parser = concurrency_limit)]
        concurrency: Vec<(vigy::LabelSelector, usize)>,
        /// Also serve gRPC on this Unix socket.
        #[arg(long, value_name = "PATH")]
        grpc_socket: Option<PathBuf>,
        /// A host name (or host:port) clients use to reach this server,
        /// accepted besides loopback names and the bind address; other
        /// `Host` headers are refused (421). Repeat for more.
        #[arg(long = "public-host", value_name = "HOST")]
        public_hosts: Vec<String>,
        /// Carry actions out with the built-in handlers (`http`, `exec`,
        /// `webhook`) this TOML file turns on and allows (see
        /// examples/handlers.toml). They run with this server's user's
        /// rights. Without it no handler is installed, and such actions
        /// are recorded `skipped`.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Serve MCP over stdin/stdout (for clients such as Claude Desktop),
    /// on the database, or on the server given by --server.
    Mcp,
    /// Check a program: parse it and report diagnostics (exit 1 on error);
    /// with a schedule (`--every` or `--cron` and the rest, as `register`
    /// takes them), check that too and print its next five due times, for
    /// the vigy named after the file.
    Check {
        /// The tatara-lisp program.
        file: PathBuf,
        #[command(flatten)]
        schedule: Option<ScheduleArgs>,
    },
    /// Evaluate a program locally without registering it, and print its
    /// actions, logs and kv store as JSON.
    Run {
        /// The tatara-lisp program.
        file: PathBuf,
        /// How many ticks to run, the kv store carrying over.
        #[arg(long, default_value_t = 1)]
        ticks: u64,
    },
}

/// `SELECTOR:N`: label values never hold a colon, so the last one splits.
fn concurrency_limit(value: &str) -> Result<(vigy::LabelSelector, usize), String> {
    let (selector, max) = value.rsplit_once(':').ok_or("expected SELECTOR:N, e.g. target=github:2")?;
    let max: usize = max.trim().parse().map_err(|_| format!("`{max}` is not a number of ticks"))?;
    if max == 0 {
        return Err("a limit of 0 would never tick; give at least 1".into());
    }
    if selector.trim().is_empty() {
        return Err("give a label selector before the colon".into());
    }
    Ok((selector.parse().map_err(|e| format!("{e}"))?, max))
}

fn token(value: &str) -> Result<vigy_server::Token, String> {
    Ok(vigy_server::Token::from(value))
}

/// `250ms`, `15s`, `2m`.
fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().map_err(|_| format!("`{text}` is not a duration such as 250ms, 15s or 2m"))?;
    let ms = match unit {
        "ms" => n,
        "s" | "" => n * 1_000,
        "m" => n * 60_000,
        _ => return Err(format!("`{text}`: the unit must be ms, s or m")),
    };
    if ms < 300 {
        return Err(format!("`{text}`: a lease lasts at least 300ms"));
    }
    Ok(std::time::Duration::from_millis(ms))
}

/// When a vigy ticks: `--every` or `--cron`, and the rules around it.
// Which of them a command requires is the command's to say (`register`
// needs one; `check` takes none, or a whole schedule); the domain refuses
// both at once.
#[derive(Debug, clap::Args)]
pub(crate) struct ScheduleArgs {
    /// Tick interval in milliseconds (at least 100).
    #[arg(long, value_name = "MS")]
    pub(crate) every: Option<u64>,
    /// A cron pattern instead: six fields, seconds first, e.g. `*/2 * * * * *`
    /// or `0 30 9 * * MON-FRI`.
    #[arg(long, value_name = "EXPR")]
    pub(crate) cron: Option<String>,
    /// The IANA time zone the cron pattern is read in (default UTC); the
    /// domain refuses it beside an interval.
    #[arg(long, value_name = "ZONE")]
    pub(crate) tz: Option<String>,
    /// Shift every due time by a stable offset below this (ms).
    #[arg(long, value_name = "MS")]
    pub(crate) jitter: Option<u64>,
    /// Do not tick before this instant (RFC 3339).
    #[arg(long, value_name = "TIME", value_parser = instant)]
    pub(crate) starts_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Do not tick after this instant (RFC 3339).
    #[arg(long, value_name = "TIME", value_parser = instant)]
    pub(crate) ends_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Catch up one missed due time no older than this (ms) with one tick
    /// at once; without it, missed due times are skipped.
    #[arg(long, value_name = "MS")]
    pub(crate) catch_up: Option<u64>,
    /// Pause the vigy after this many failed ticks in a row.
    #[arg(long, value_name = "N")]
    pub(crate) pause_after_failures: Option<u32>,
    /// The wait after a first failed tick, doubled per further failure (ms).
    #[arg(long, value_name = "MS")]
    pub(crate) backoff_base: Option<u64>,
    /// The longest wait after failures (ms).
    #[arg(long, value_name = "MS")]
    pub(crate) backoff_cap: Option<u64>,
}

fn instant(text: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.to_utc())
        .map_err(|e| format!("`{text}` is not an RFC 3339 instant (e.g. 2027-01-01T09:00:00Z): {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrency_limits_should_parse_selector_and_count_and_refuse_the_rest() {
        let (selector, max) = concurrency_limit("target=github:2").unwrap();
        assert_eq!((selector.to_string(), max), ("target=github".to_owned(), 2));
        let (selector, max) = concurrency_limit("tier in (a,b),region!=eu:10").unwrap();
        assert!(selector.to_string().contains("region!=eu"), "{selector}");
        assert_eq!(max, 10);
        for (bad, says) in [
            ("target=github", "expected SELECTOR:N"),
            ("target=github:0", "never tick"),
            ("target=github:-1", "not a number"),
            ("target=github:many", "not a number"),
            (":3", "give a label selector"),
            ("-bad-key=x:3", ""),
        ] {
            let error = concurrency_limit(bad).unwrap_err();
            assert!(error.contains(says), "{bad}: {error}");
        }
    }
}
