//! Neon's storage auth (`NeonJWT`): one Ed25519 key pair per stack. The pageserver and the
//! safekeepers check every management call and every compute connection against the public
//! half; wsctl, the pageserver and the compute present tokens signed with the private half.
//!
//! The token is what Neon's `utils::auth` reads at 6a35a3e9: a JWS signed with EdDSA
//! (libs/utils/src/auth.rs:20-21, 214-218) whose payload is `Claims` (:74-88) with a `Scope`
//! (:23-58). Neon validates no registered claim but `exp` when present (:137-148).

use std::path::{Path, PathBuf};

use anyhow::Context;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};

use super::state::{write_atomic, StateDir};

/// Neon's `Scope`, serialized as Neon does (libs/utils/src/auth.rs:23-58).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Tenant,
    TenantEndpoint,
    PageServerApi,
    SafekeeperData,
    #[serde(rename = "generations_api")]
    GenerationsApi,
    Admin,
    Infra,
    Scrubber,
    #[serde(rename = "controller_peer")]
    ControllerPeer,
}

/// Neon's `Claims` (libs/utils/src/auth.rs:74-88): `tenant_id` is always written (null for
/// the blanket scopes), `endpoint_id` only when set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    #[serde(default)]
    pub tenant_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_id: Option<String>,
    pub scope: Scope,
    /// Not Neon's field: jsonwebtoken checks a present `exp` on its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<u64>,
}

impl Claims {
    /// `Claims::new` (libs/utils/src/auth.rs:90-98).
    pub fn new(tenant_id: Option<&str>, scope: Scope) -> Self {
        Claims {
            tenant_id: tenant_id.map(str::to_string),
            endpoint_id: None,
            scope,
            exp: None,
        }
    }
}

/// The private key's file in `secrets/` (0600).
pub const PRIVATE_KEY: &str = "neon-auth-key.pem";

/// The stack's key pair: created on first use, the private half 0600 in `secrets/`.
pub fn signing_key(dir: &StateDir) -> anyhow::Result<SigningKey> {
    let path = dir.secrets_dir().join(PRIVATE_KEY);
    if path.exists() {
        return load(&path);
    }
    let key = SigningKey::generate(&mut rand::rngs::OsRng);
    let pem = key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| anyhow::anyhow!("encoding the Neon auth key: {e}"))?;
    std::fs::create_dir_all(dir.secrets_dir())?;
    // Linked into place, never replaced: two wsctl runs at once end up with the same key.
    let tmp = dir
        .secrets_dir()
        .join(format!(".{PRIVATE_KEY}.{}", std::process::id()));
    write_atomic(&tmp, pem.as_bytes(), 0o600)?;
    let linked = std::fs::hard_link(&tmp, &path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(key),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => load(&path),
        Err(e) => Err(e).with_context(|| format!("writing {}", path.display())),
    }
}

fn load(path: &Path) -> anyhow::Result<SigningKey> {
    let pem =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    SigningKey::from_pkcs8_pem(&pem)
        .map_err(|e| anyhow::anyhow!("{} is not an Ed25519 PKCS#8 key: {e}", path.display()))
        .context("delete it and run `wsctl up` again to make a new one")
}

/// Writes the public half as the SPKI PEM Neon loads (`DecodingKey::from_ed_pem`,
/// libs/utils/src/auth.rs:150-176) and returns its path.
pub fn write_public_key(key: &SigningKey, path: &Path) -> anyhow::Result<PathBuf> {
    let pem = key
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .map_err(|e| anyhow::anyhow!("encoding the Neon auth public key: {e}"))?;
    write_atomic(path, pem.as_bytes(), 0o644)?;
    Ok(path.to_path_buf())
}

/// A token as `encode_from_key_file` makes it (libs/utils/src/auth.rs:214-218).
pub fn mint(key: &SigningKey, claims: &Claims) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"EdDSA"}"#);
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).expect("plain struct"));
    let signed = format!("{header}.{payload}");
    let sig = URL_SAFE_NO_PAD.encode(key.sign(signed.as_bytes()).to_bytes());
    format!("{signed}.{sig}")
}

/// A token for `scope` signed with the stack's key.
pub fn token(dir: &StateDir, tenant_id: Option<&str>, scope: Scope) -> anyhow::Result<String> {
    Ok(mint(&signing_key(dir)?, &Claims::new(tenant_id, scope)))
}

/// Reads an SPKI PEM public key.
pub fn read_public_key(path: &Path) -> anyhow::Result<VerifyingKey> {
    let pem =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    VerifyingKey::from_public_key_pem(&pem)
        .map_err(|e| anyhow::anyhow!("{} is not an Ed25519 public key: {e}", path.display()))
}

/// Checks a token as Neon's `JwtAuth::decode` does: EdDSA only, a valid signature, Claims in
/// the payload, `exp` if present not passed (jsonwebtoken's default leeway of 60 s).
pub fn verify(key: &VerifyingKey, token: &str) -> Result<Claims, String> {
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("not a compact JWS".into());
    };
    let decode = |x: &str| URL_SAFE_NO_PAD.decode(x).map_err(|e| e.to_string());
    let header: serde_json::Value =
        serde_json::from_slice(&decode(h)?).map_err(|e| e.to_string())?;
    if header["alg"] != "EdDSA" {
        return Err("InvalidAlgorithm".into());
    }
    let sig = Signature::from_slice(&decode(s)?).map_err(|e| e.to_string())?;
    key.verify(format!("{h}.{p}").as_bytes(), &sig)
        .map_err(|_| "InvalidSignature".to_string())?;
    let claims: Claims = serde_json::from_slice(&decode(p)?).map_err(|e| e.to_string())?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    if claims.exp.is_some_and(|exp| exp + 60 < now) {
        return Err("ExpiredSignature".into());
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Neon's own test vector (libs/utils/src/auth.rs:230-269): its key and its token.
    const NEON_PUB: &str = "-----BEGIN PUBLIC KEY-----\n\
        MCowBQYDK2VwAyEARYwaNBayR+eGI0iXB4s3QxE3Nl2g1iWbr6KtLWeVD/w=\n\
        -----END PUBLIC KEY-----\n";
    const NEON_PRIV: &str = "-----BEGIN PRIVATE KEY-----\n\
        MC4CAQAwBQYDK2VwBCIEID/Drmc1AA6U/znNRWpF3zEGegOATQxfkdWxitcOMsIH\n\
        -----END PRIVATE KEY-----\n";
    const NEON_TOKEN: &str = "eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCJ9.eyJzY29wZSI6InRlbmFudCIsInRlbmFudF9pZCI6IjNkMWY3NTk1YjQ2ODIzMDMwNGUwYjczY2VjYmNiMDgxIiwiaXNzIjoibmVvbi5jb250cm9scGxhbmUiLCJpYXQiOjE2Nzg0NDI0Nzl9.rNheBnluMJNgXzSTTJoTNIGy4P_qe0JUHl_nVEGuDCTgHOThPVr552EnmKccrCKquPeW3c2YUk0Y9Oh4KyASAw";

    #[test]
    fn neon_test_token_verifies_and_ours_verify_with_neon_key() {
        let public = VerifyingKey::from_public_key_pem(NEON_PUB).unwrap();
        let claims = verify(&public, NEON_TOKEN).unwrap();
        assert_eq!(
            claims,
            Claims::new(Some("3d1f7595b468230304e0b73cecbcb081"), Scope::Tenant)
        );
        let private = SigningKey::from_pkcs8_pem(NEON_PRIV).unwrap();
        assert_eq!(private.verifying_key(), public);
        let ours = mint(&private, &Claims::new(None, Scope::PageServerApi));
        assert_eq!(verify(&public, &ours).unwrap().scope, Scope::PageServerApi);
        let other = SigningKey::generate(&mut rand::rngs::OsRng);
        let forged = mint(&other, &Claims::new(None, Scope::PageServerApi));
        assert!(verify(&public, &forged).is_err());
    }

    #[test]
    fn claims_serialize_as_neon_does() {
        let c = Claims::new(None, Scope::SafekeeperData);
        assert_eq!(
            serde_json::to_string(&c).unwrap(),
            r#"{"tenant_id":null,"scope":"safekeeperdata"}"#
        );
        for (s, name) in [
            (Scope::PageServerApi, "\"pageserverapi\""),
            (Scope::GenerationsApi, "\"generations_api\""),
            (Scope::TenantEndpoint, "\"tenantendpoint\""),
        ] {
            assert_eq!(serde_json::to_string(&s).unwrap(), name);
        }
    }
}
