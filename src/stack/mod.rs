//! The running parts of a stack: the state directory, ports, processes, what the supervisor
//! and the watcher (`runtime`) share, and PostgreSQL's and Neon's configs and state.

pub mod compute_hba;
pub mod connection;
pub mod console;
pub mod containers;
pub mod control;
pub mod hold;
pub mod neon;
pub mod neon_auth;
pub mod ports;
pub mod postgres;
pub mod process;
pub mod state;
pub mod state_lock;
pub mod sweep;
pub mod trust;
pub mod upcall;
pub mod user;
