//! The built-in handlers against real servers and real programs, called
//! through `ActionHandler` as the runtime calls them.

mod config;
mod exec;
mod http;
mod install;
mod support;
mod tls;
mod webhook;
