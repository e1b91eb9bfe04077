//! The Workspace API: an actix-web service wire-compatible with the original Node service.

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
