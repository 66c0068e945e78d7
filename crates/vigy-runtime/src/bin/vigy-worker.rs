//! A stand-alone vigy worker, for embedders (and test suites) that prefer
//! not to re-execute their own binary: point
//! `RuntimeBuilder::worker_program` or `$VIGY_WORKER_PROGRAM` at it.

fn main() {
    if !vigy_runtime::run_if_worker() {
        eprintln!("vigy-worker evaluates vigy ticks for a runtime that starts it; it is not run by hand");
        std::process::exit(2);
    }
}
