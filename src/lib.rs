//! Workspace Stack: the Workspace API (`api`), its database layer (`db`) and domain types
//! (`domain`), plus the pieces `wsctl` uses to run the stack (`stack`).
//!
//! Dependencies point one way: `api` and `stack` use `db`, which uses `domain`. The API never
//! depends on the runner.

pub mod api;
pub mod backend;
pub mod branch;
pub mod cli;
pub mod config;
pub mod db;
pub mod domain;
pub mod engine;
pub mod health;
pub mod import;
pub mod runtime;
pub mod stack;
pub mod telemetry;
