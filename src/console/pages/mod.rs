//! One module per page. Each reads what it shows through the engine (or the state
//! directory's files, as `wsctl status` does) when it is requested.

pub mod branches;
pub mod imports;
pub mod logs;
pub mod migrations;
pub mod overview;
