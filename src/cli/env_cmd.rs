//! `wsctl env`: prints the engine's variables, one `NAME=value` a line.

use super::EnvArgs;
use crate::stack::state::StateDir;

pub fn env(dir: &StateDir, args: &EnvArgs) -> anyhow::Result<i32> {
    for (name, value) in crate::engine::env::env(dir, args.with_password)? {
        println!("{}", crate::engine::env::line(name, &value, args.export));
    }
    Ok(0)
}
