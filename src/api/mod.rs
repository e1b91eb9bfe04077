//! The Workspace API: an actix-web service wire-compatible with the original Node service.

// Nothing on request or stored data may panic: unwrap/expect are refused outside tests
// (clippy.toml allows them there). `ratelimit` is left out only while it is being reworked on
// another branch; it has one `expect` on a static quota.
#![deny(clippy::unwrap_used, clippy::expect_used)]

pub mod catch_panic;
pub mod error;
pub mod extract;
pub mod guard;
pub mod limits;
pub mod metrics;
pub mod ratelimit;
pub mod routes;
pub mod startup;
pub mod state;
pub mod view;

pub use startup::Application;
