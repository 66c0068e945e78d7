//! Measures the native stack tatara-lisp's reader needs per nesting level.
//!
//! `cargo run -p vigy-types --example reader_stack` prints, for lists and
//! for quote prefixes, the smallest thread stack (to 4 KiB) on which
//! `read_spanned` reads 100, 200 and 400 levels, and the bytes per level.
//! Each probe runs in a child process, because an overflow aborts.

use std::process::Command;

fn source(kind: &str, depth: usize) -> String {
    match kind {
        "list" => format!("{}x{}", "(".repeat(depth), ")".repeat(depth)),
        "quote" => format!("{}x", "'".repeat(depth)),
        "splice" => format!("{}x", ",@".repeat(depth)),
        other => panic!("unknown kind {other}"),
    }
}

/// Child: read `depth` levels of `kind` on a thread of `stack` bytes.
fn probe(kind: &str, depth: usize, stack: usize) {
    let text = source(kind, depth);
    std::thread::Builder::new()
        .stack_size(stack)
        .spawn(move || {
            let forms = tatara_lisp::read_spanned(&text).expect("reads");
            drop(forms);
        })
        .expect("spawn")
        .join()
        .expect("join");
}

/// Whether reading succeeds on `stack` bytes, in a child process.
fn fits(kind: &str, depth: usize, stack: usize) -> bool {
    let me = std::env::current_exe().expect("own path");
    Command::new(me)
        .args(["probe", kind, &depth.to_string(), &stack.to_string()])
        .stderr(std::process::Stdio::null())
        .status()
        .expect("child")
        .success()
}

/// The smallest stack, to 4 KiB, that reads `depth` levels of `kind`.
fn smallest(kind: &str, depth: usize) -> usize {
    let (mut lo, mut hi) = (4 * 1024, 64 * 1024 * 1024);
    while hi - lo > 4 * 1024 {
        let mid = (lo + hi) / 2;
        if fits(kind, depth, mid) { hi = mid } else { lo = mid }
    }
    hi
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("probe") {
        probe(&args[2], args[3].parse().expect("depth"), args[4].parse().expect("stack"));
        return;
    }
    let profile = if cfg!(debug_assertions) { "debug" } else { "release" };
    for kind in ["list", "quote", "splice"] {
        let sizes: Vec<(usize, usize)> = [100, 200, 400].iter().map(|&d| (d, smallest(kind, d))).collect();
        let per_level = (sizes[2].1 - sizes[0].1) / (sizes[2].0 - sizes[0].0);
        let shown: Vec<String> = sizes.iter().map(|(d, s)| format!("{d} levels: {} KiB", s / 1024)).collect();
        println!("{profile} {kind:6} {} ; about {per_level} bytes per level", shown.join(", "));
    }
}
