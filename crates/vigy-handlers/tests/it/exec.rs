use std::time::{Duration, Instant};

use serde_json::{Value as Json, json};
use vigy_handlers::{EXCERPT_BYTES, ExecHandler};
use vigy_runtime::{ActionError, Handled};

use crate::support::{call, config, run};

const CONFIG: &str = r#"
    [exec]
    timeout = "5s"
    retry_on_exit = [75]

    [[exec.allow]]
    program = "/bin/echo"
    args = ["[a-z]+"]

    [[exec.allow]]
    program = "/bin/echo"
    args = ["-n"]
    rest = "[0-9]+"

    [[exec.allow]]
    program = "/usr/bin/false"

    [[exec.allow]]
    program = "/bin/sh"
    args = ["-c", "exit [0-9]+|echo started; /bin/sleep 3 &"]

    [[exec.allow]]
    program = "/usr/bin/env"

    [[exec.allow]]
    program = "/bin/pwd"

    [[exec.allow]]
    program = "/usr/bin/head"
    args = ["-c", "[0-9]+", "/dev/zero"]
"#;

fn handler() -> ExecHandler {
    config(CONFIG).exec().unwrap().clone()
}

fn exec(program: &str, args: &[&str]) -> Json {
    json!({"program": program, "args": args})
}

fn output(exit_code: i32, stdout: &str) -> Json {
    json!({
        "exit_code": exit_code,
        "signal": null,
        "stdout": stdout,
        "stderr": "",
        "stdout_truncated": false,
        "stderr_truncated": false,
    })
}

#[tokio::test]
async fn exec_should_run_an_allowed_program_and_record_its_output() {
    let handled = run(&handler(), call("exec", exec("/bin/echo", &["hello"]))).await;
    assert_eq!(handled, Ok(Handled::ok().with_message("exit code 0").with_output(output(0, "hello\n"))));
}

#[tokio::test]
async fn exec_should_take_any_number_of_arguments_matching_the_rest_pattern() {
    let handled = run(&handler(), call("exec", exec("/bin/echo", &["-n", "1", "22", "333"]))).await;
    assert_eq!(handled, Ok(Handled::ok().with_message("exit code 0").with_output(output(0, "1 22 333"))));
}

#[tokio::test]
async fn exec_should_skip_an_argument_outside_its_pattern() {
    let handled = run(&handler(), call("exec", exec("/bin/echo", &["hello;rm"]))).await;
    let reason = "not allowed: /bin/echo: argument 1 `hello;rm` does not match `[a-z]+`; \
                  or argument 1 `hello;rm` does not match `-n`";
    assert_eq!(handled, Ok(Handled::skipped(reason)));
    let extra = run(&handler(), call("exec", exec("/bin/echo", &["hello", "world"]))).await;
    assert_eq!(
        extra,
        Ok(Handled::skipped("not allowed: /bin/echo: 1 arguments, not 2; or argument 1 `hello` does not match `-n`"))
    );
}

#[tokio::test]
async fn exec_should_skip_a_program_not_listed() {
    for program in ["/bin/bash", "/usr/bin/../bin/sh", "sh", "/bin/sh/"] {
        let handled = run(&handler(), call("exec", exec(program, &["-c", "exit 0"]))).await;
        assert_eq!(handled, Ok(Handled::skipped(format!("not allowed: program `{program}` is not listed"))));
    }
}

#[tokio::test]
async fn exec_should_fail_a_nonzero_exit_for_good_with_its_code() {
    let handled = run(&handler(), call("exec", exec("/usr/bin/false", &[]))).await;
    assert_eq!(handled, Err(ActionError::permanent("exit code 1").with_output(output(1, ""))));
}

#[tokio::test]
async fn exec_should_retry_an_exit_code_listed_in_retry_on_exit() {
    let handled = run(&handler(), call("exec", exec("/bin/sh", &["-c", "exit 75"]))).await;
    assert_eq!(handled, Err(ActionError::retryable("exit code 75").with_output(output(75, ""))));
    let other = run(&handler(), call("exec", exec("/bin/sh", &["-c", "exit 3"]))).await.unwrap_err();
    assert!(!other.is_retryable());
}

#[tokio::test]
async fn exec_should_give_the_program_only_path_and_the_root_directory() {
    let path = std::env::var("PATH").unwrap();
    let env = run(&handler(), call("exec", exec("/usr/bin/env", &[]))).await;
    assert_eq!(env, Ok(Handled::ok().with_message("exit code 0").with_output(output(0, &format!("PATH={path}\n")))));
    let pwd = run(&handler(), call("exec", exec("/bin/pwd", &[]))).await;
    assert_eq!(pwd, Ok(Handled::ok().with_message("exit code 0").with_output(output(0, "/\n"))));
}

#[tokio::test]
async fn exec_should_kill_a_program_at_its_timeout_and_retry() {
    let text = "[exec]\ntimeout = \"200ms\"\n[[exec.allow]]\nprogram = \"/bin/sleep\"\nargs = [\"[0-9.]+\"]\n";
    let sleep = config(text).exec().unwrap().clone();
    let started = Instant::now();
    let handled = run(&sleep, call("exec", exec("/bin/sleep", &["10.4242"]))).await;
    let killed = json!({
        "exit_code": null, "signal": null, "stdout": "", "stderr": "",
        "stdout_truncated": false, "stderr_truncated": false,
    });
    assert_eq!(handled, Err(ActionError::retryable("timed out after 200ms: killed").with_output(killed)));
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    assert!(processes_with_arg("10.4242").is_empty(), "still running: {:?}", processes_with_arg("10.4242"));
}

#[tokio::test]
async fn exec_should_not_wait_long_for_a_process_left_holding_its_output() {
    let started = Instant::now();
    let handled = run(&handler(), call("exec", exec("/bin/sh", &["-c", "echo started; /bin/sleep 3 &"]))).await;
    assert_eq!(handled, Ok(Handled::ok().with_message("exit code 0").with_output(output(0, "started\n"))));
    assert!(started.elapsed() < Duration::from_millis(2500), "{:?}", started.elapsed());
}

#[tokio::test]
async fn exec_should_keep_only_an_excerpt_of_100_mib_of_output() {
    let hundred_mib = (100u64 << 20).to_string();
    let handled = run(&handler(), call("exec", exec("/usr/bin/head", &["-c", &hundred_mib, "/dev/zero"]))).await;
    let excerpt = json!({
        "exit_code": 0, "signal": null, "stdout": "\0".repeat(EXCERPT_BYTES), "stderr": "",
        "stdout_truncated": true, "stderr_truncated": false,
    });
    assert_eq!(handled, Ok(Handled::ok().with_message("exit code 0").with_output(excerpt)));
}

#[tokio::test]
async fn exec_should_bound_the_output_of_a_program_that_never_stops_writing() {
    let text = "[exec]\ntimeout = \"500ms\"\n[[exec.allow]]\nprogram = \"/usr/bin/yes\"\n";
    let yes = config(text).exec().unwrap().clone();
    let error = run(&yes, call("exec", exec("/usr/bin/yes", &[]))).await.unwrap_err();
    let excerpt = json!({
        "exit_code": null, "signal": null, "stdout": "y\n".repeat(EXCERPT_BYTES / 2), "stderr": "",
        "stdout_truncated": true, "stderr_truncated": false,
    });
    assert_eq!(error, ActionError::retryable("timed out after 500ms: killed").with_output(excerpt));
}

#[tokio::test]
async fn exec_should_fail_a_payload_it_cannot_read_for_good() {
    let error = run(&handler(), call("exec", json!({"program": "/bin/echo", "args": [1]}))).await.unwrap_err();
    assert!(!error.is_retryable());
    assert!(error.to_string().starts_with("bad exec payload: invalid type: integer `1`"), "{error}");
}

/// Pids of live processes with `arg` among their arguments.
fn processes_with_arg(arg: &str) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
        if cmdline.split(|b| *b == 0).any(|a| a == arg.as_bytes()) {
            found.push(pid);
        }
    }
    found
}
