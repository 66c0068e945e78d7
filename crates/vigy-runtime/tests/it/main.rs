//! The runtime end to end, on real SQLite files and real time.
mod actions;
mod faults;
mod leases;
mod lifecycle;
mod processes;
mod quotas;
mod schedules;
mod service;
mod support;
mod virtual_time;
