//! Running the stack: the state directory, ports, processes, the supervisor, and the
//! backends (plain PostgreSQL, and Neon's state).

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
pub mod supervisor;
pub mod sweep;
pub mod trust;
pub mod upcall;
pub mod user;
