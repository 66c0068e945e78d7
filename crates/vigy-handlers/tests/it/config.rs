use std::path::Path;

use vigy_handlers::Config;

fn refused(text: &str) -> String {
    Config::from_toml(text, "h.toml").unwrap_err().to_string()
}

#[test]
fn config_should_read_the_example_file() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/handlers.toml");
    let config = Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert!(config.http().is_some() && config.exec().is_some());
    let webhook = config.webhook().unwrap();
    assert_eq!(webhook.kinds(), Some(&["push".to_owned(), "deploy".to_owned()][..]));
}

#[test]
fn config_should_turn_nothing_on_when_empty() {
    assert!(Config::from_toml("# nothing\n", "h.toml").unwrap().is_empty());
}

#[test]
fn config_should_set_each_handlers_options_from_its_section() {
    let text = r#"
        [http]
        timeout = "2s"
        concurrency = 3
        retry = { max_attempts = 2, first_delay = "100ms", max_delay = "1m" }
        allow = []
        [exec]
        allow = []
    "#;
    let config = Config::from_toml(text, "h.toml").unwrap();
    let http = config.http().unwrap().options();
    assert_eq!(http.deadline, std::time::Duration::from_secs(3));
    assert_eq!(http.concurrency, 3);
    assert_eq!(http.retry.max_attempts, 2);
    assert_eq!(http.retry.first_delay, std::time::Duration::from_millis(100));
    assert_eq!(http.retry.max_delay, std::time::Duration::from_secs(60));
    let exec = config.exec().unwrap().options();
    assert_eq!((exec.deadline.as_secs(), exec.concurrency, exec.retry.max_attempts), (32, 4, 5));
}

#[test]
fn config_should_refuse_an_unknown_key_naming_it_and_its_place() {
    let text = "[http]\n[[http.allow]]\nprefix = \"http://h/\"\nmethodz = [\"GET\"]\n";
    assert_eq!(
        refused(text),
        "h.toml:4:1: [[http.allow]] methodz: unknown field `methodz`, expected `prefix` or `methods`"
    );
    assert_eq!(refused("[htpp]\n"), "h.toml:1:2: unknown field `htpp`, expected one of `http`, `exec`, `webhook`");
}

#[test]
fn config_should_refuse_a_bad_pattern_naming_it() {
    let text = "[exec]\n[[exec.allow]]\nprogram = \"/bin/echo\"\nargs = [\"ok\", \"(ok\"]\n";
    assert_eq!(refused(text), "h.toml:4:8: [[exec.allow]] args: `(ok` is not a valid pattern: unclosed group");
}

#[test]
fn config_should_refuse_a_program_that_is_not_an_absolute_path() {
    let text = "[exec]\n[[exec.allow]]\nprogram = \"echo\"\n";
    assert_eq!(
        refused(text),
        "h.toml:3:11: [[exec.allow]] program: `echo`: a program is an absolute path (no search of PATH)"
    );
    let dotted = "[exec]\n[[exec.allow]]\nprogram = \"/usr/bin/../bin/sh\"\n";
    assert!(refused(dotted).contains("a program's path has no `.` or `..`"));
}

#[test]
fn config_should_refuse_a_prefix_that_is_not_http() {
    let text = "[http]\n[[http.allow]]\nprefix = \"file:///etc/\"\nmethods = [\"GET\"]\n";
    assert_eq!(
        refused(text),
        "h.toml:3:10: [[http.allow]] prefix: `file:///etc/`: a prefix is an http:// or https:// URL"
    );
    let userinfo = "[http]\n[[http.allow]]\nprefix = \"http://me@h/\"\nmethods = [\"GET\"]\n";
    assert!(refused(userinfo).contains("a prefix carries no user name or password"));
    let query = "[http]\n[[http.allow]]\nprefix = \"http://h/?a=b\"\nmethods = [\"GET\"]\n";
    assert!(refused(query).contains("a prefix has no query or fragment"));
}

#[test]
fn config_should_refuse_other_bad_values_in_one_line_each() {
    let cases = [
        (
            "[http]\ntimeout = \"10\"\nallow = []\n",
            "h.toml:2:11: [http] timeout: `10` is not a duration such as 250ms, 10s or 2m",
        ),
        (
            "[http]\ntimeout = \"0s\"\nallow = []\n",
            "h.toml:2:11: [http] timeout: `0s`: a duration must be more than zero",
        ),
        ("[http]\nconcurrency = 0\nallow = []\n", "h.toml:2:15: [http] concurrency: concurrency is at least 1"),
        (
            "[http]\nallow = []\nretry = { max_attempts = 0 }\n",
            "h.toml:3:26: [http] retry: max_attempts is at least 1 (1 = never retry)",
        ),
        (
            "[http]\n[[http.allow]]\nprefix = \"http://h/\"\nmethods = [\"G T\"]\n",
            "h.toml:4:11: [[http.allow]] methods: `G T` is not an HTTP method",
        ),
        (
            "[exec]\nretry_on_exit = [0]\nallow = []\n",
            "h.toml:2:17: [exec] retry_on_exit: 0 is not an exit code that means failure (1 to 255)",
        ),
        ("[http]\n", "h.toml:1:1: missing field `allow`"),
        ("[webhook]\nurl = \"http://h/\"\nkinds = []\n", "h.toml: [webhook] kinds: name at least one kind, or \"*\""),
        ("[webhook]\nurl = \"http://h/\"\nkinds = [\"*\", \"push\"]\n", "h.toml: [webhook] kinds: \"*\" stands alone"),
        (
            "[webhook]\nurl = \"http://u:p@h/\"\nkinds = [\"push\"]\n",
            "h.toml:2:7: [webhook] url: `http://u:p@h/`: put credentials in `headers`, not in the URL",
        ),
        (
            "[http]\nallow = []\n[webhook]\nurl = \"http://h/\"\nkinds = [\"http\"]\n",
            "h.toml: [webhook] kinds: `http` is carried out by [http] already",
        ),
        (
            "[http]\nca_file = \"/nonexistent/ca.pem\"\nallow = []\n",
            "h.toml: [http] ca_file: cannot read /nonexistent/ca.pem: I/O error: No such file or directory (os error 2)",
        ),
        ("x = \n", "h.toml:1:5: x: string values must be quoted, expected literal string"),
    ];
    for (text, error) in cases {
        assert_eq!(refused(text), error, "for {text:?}");
    }
}

#[test]
fn config_should_name_a_file_it_cannot_read() {
    let error = Config::load(Path::new("/nonexistent/handlers.toml")).unwrap_err().to_string();
    assert_eq!(error, "/nonexistent/handlers.toml: cannot read it: No such file or directory (os error 2)");
}
