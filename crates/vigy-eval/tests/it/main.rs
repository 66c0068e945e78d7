//! Integration tests of vigy-eval, one binary.
mod budgets;
mod intrinsics;
mod isolation;
mod quotas;
mod support;
