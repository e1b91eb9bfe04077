//! Neon backend state: tenant and timeline ids generated once per stack and kept in
//! `state.json`, so that `up` after `down` reattaches the same data.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NeonState {
    pub tenant_id: String,
    pub timeline_id: String,
    pub safekeepers: u8,
}

/// A Neon id: 16 random bytes as 32 lowercase hex characters.
pub fn generate_id() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_32_lowercase_hex() {
        let id = super::generate_id();
        assert_eq!(id.len(), 32);
        assert!(id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        assert_ne!(id, super::generate_id());
    }
}
