//! Log setup: human-readable on a terminal, JSON lines otherwise (or when asked), level from
//! `WORKSPACE_API_LOG_LEVEL`, `LOG_LEVEL` or `RUST_LOG`.

use std::io::IsTerminal;

use tracing_subscriber::{fmt, EnvFilter};

use crate::config::LogFormat;

pub fn init(format: LogFormat) {
    let level = ["WORKSPACE_API_LOG_LEVEL", "LOG_LEVEL", "RUST_LOG"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| "info".into());
    let filter = EnvFilter::try_new(&level).unwrap_or_else(|_| EnvFilter::new("info"));
    let json = match format {
        LogFormat::Json => true,
        LogFormat::Pretty => false,
        LogFormat::Auto => !std::io::stderr().is_terminal(),
    };
    let builder = fmt().with_env_filter(filter).with_writer(std::io::stderr);
    // try_init: tests spawn many apps in one process and only the first may install it.
    let _ = if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init()
    } else {
        builder.with_target(false).try_init()
    };
}

/// JSON lines into `file` (`up --foreground` writes the supervisor's log as the detached
/// supervisor does, whose stderr is that file).
pub fn init_json_to(file: std::fs::File) {
    let level = ["WORKSPACE_API_LOG_LEVEL", "LOG_LEVEL", "RUST_LOG"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| "info".into());
    let filter = EnvFilter::try_new(&level).unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = fmt()
        .with_env_filter(filter)
        .with_writer(std::sync::Mutex::new(file))
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .try_init();
}
