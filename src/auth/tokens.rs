//! Opaque bearer secrets: 256 random bits, base64url, with a prefix that says what they are.
//! Only their SHA-256 is stored; a high-entropy token needs no slow hash.

use argon2::password_hash::rand_core::{OsRng, RngCore};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

/// Agent tokens start with this, so the server can tell them from JWTs without trying both.
pub const AGENT_PREFIX: &str = "rgpu_agent_";
pub const REFRESH_PREFIX: &str = "rgpu_refresh_";

pub fn random_token(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
}

pub fn sha256_hex(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_prefixed_and_hashed() {
        let a = random_token(AGENT_PREFIX);
        let b = random_token(AGENT_PREFIX);
        assert!(a.starts_with(AGENT_PREFIX));
        assert_ne!(a, b);
        assert_eq!(a.len(), AGENT_PREFIX.len() + 43);
        let h = sha256_hex(&a);
        assert_eq!(h.len(), 64);
        assert_eq!(h, sha256_hex(&a));
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
