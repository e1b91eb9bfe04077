//! API integration tests: real HTTP against a real PostgreSQL (see helpers.rs).

mod browser;
mod categories;
mod contract;
mod health;
mod helpers;
mod hostile;
mod items;
mod memory;
mod middleware;
mod openapi;
mod process;
mod schema;
mod stored_values;
