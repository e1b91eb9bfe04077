//! Domain types. Everything here is pure: inputs are parsed from JSON into types that can only
//! hold valid values, and the errors mirror the field/message/code triples the original
//! service's Zod schemas produced, so existing clients see the same `errors[]`.

// Parsing request data must never panic: no unwrap/expect outside tests.
#![deny(clippy::unwrap_used, clippy::expect_used)]

pub mod category;
pub mod item;
pub mod limits;
pub mod validation;

pub use category::{CategoryName, CategoryPatch, Change, NewCategory};
pub use item::{ItemFilter, ItemId, ItemPatch, NewItem, Priority, Status};
pub use validation::{FieldError, ValidationErrors};
