//! Workspace Stack: the Workspace API (`api`), its database layer (`db`) and domain types
//! (`domain`), plus `wsctl`, the runner: `cli` → `engine` → `runtime` → `backend` →
//! `health`/`import` → `stack` → `branch` → `db` → `domain` (ARCHITECTURE.md).
//!
//! Dependencies point one way, and `tests/architecture.rs` checks it: no import cycles, and no
//! top-level module uses one above it. The API never depends on the runner.

pub mod api;
pub mod backend;
pub mod branch;
pub mod cli;
pub mod config;
pub mod console;
pub mod db;
pub mod domain;
pub mod engine;
pub mod health;
pub mod import;
pub mod runtime;
pub mod stack;
pub mod telemetry;
