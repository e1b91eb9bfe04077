//! Neon's own response bodies at 6a35a3e9 (tests/neon/fixtures), with the fixtures' ids
//! replaced by the ones a request names. Everything else is byte for byte what Neon sends.

/// The ids the fixtures were captured with.
pub const TENANT: &str = "8b17e59a7521944fcc7b3604c29e10ad";
pub const ROOT: &str = "8fa7c6a5aaceaacb2c879b932057492e";
pub const BRANCH: &str = "3835b81bbdad412272c552507698acb5";
pub const OTHER: &str = "e2671564deeac3f85823998c06bf2305";

macro_rules! fixture {
    ($path:literal) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/neon/fixtures/",
            $path
        ))
    };
}
pub(crate) use fixture;

/// `body` with the fixture ids replaced, in the order given.
pub fn with_ids(body: &str, ids: &[(&str, &str)]) -> String {
    let mut out = body.to_string();
    // Placeholders first, so that a replacement never matches a later fixture id.
    for (i, (from, _)) in ids.iter().enumerate() {
        out = out.replace(from, &format!("\u{0}{i}\u{0}"));
    }
    for (i, (_, to)) in ids.iter().enumerate() {
        out = out.replace(&format!("\u{0}{i}\u{0}"), to);
    }
    out
}
