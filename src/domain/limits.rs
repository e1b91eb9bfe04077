//! Size limits that keep what one request can make the API hold in memory small. The original
//! had none beyond its 10 MB body limit (and could not store metadata at all: any non-empty
//! object was a 500), so these only refuse what no known client sends.
//!
//! Chosen so that a default page (100 items) of items written through the API always fits in
//! one list response: an item is at most ~55 KB as stored (title 200 and description 2,000
//! UTF-16 units, 100 tags of 50, 32 KiB of metadata), 100 of them ~5.5 MB < [`PAGE_MAX_BYTES`].

/// Request bodies: 1 MiB (the original: 10 MB). The largest valid item body is ~0.3 MB even
/// with every character escaped.
pub const BODY_LIMIT: usize = 1024 * 1024;
/// `metadata`, as compact JSON.
pub const METADATA_MAX_BYTES: usize = 32 * 1024;
/// Tags per item.
pub const TAGS_MAX: usize = 100;
/// A list page ends before the item that would take the text its items carry past this (it
/// always holds at least one item): data imported from elsewhere may be far larger than what
/// the API accepts, and a page is built in memory. Rows are read as they arrive, so the rest
/// of a cut page is never held.
pub const PAGE_MAX_BYTES: usize = 8 * 1024 * 1024;

/// The compact JSON size of a value, without building the text.
pub fn json_size(value: &impl serde::Serialize) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // Writing to a counter cannot fail, and a Value always serialises.
    let _ = serde_json::to_writer(&mut count, value);
    count.0
}

#[cfg(test)]
mod tests {
    #[test]
    fn json_size_is_the_compact_length() {
        let v = serde_json::json!({"a": [1, "é"], "b": null});
        assert_eq!(super::json_size(&v), v.to_string().len());
    }
}
