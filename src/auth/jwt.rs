//! Access tokens: JWT signed with HS256 only (the algorithm is pinned; `alg: none` or any
//! other algorithm is refused), with `exp`, `iss`, `aud` and `sub` required and a small
//! leeway for clock skew. The secret must be at least 32 bytes or the server does not start.

use std::path::Path;

use chrono::Utc;
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::config::{AuthSettings, Secret};
use crate::domain::AccountRole;
use crate::error::{AppError, AppResult};

pub const MIN_SECRET_BYTES: usize = 32;

#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    /// The customer id.
    pub sub: String,
    /// `customer` or `admin`.
    pub role: String,
    pub iss: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    /// `customers.credentials_version` when issued (tokens from before it existed: 0).
    #[serde(default)]
    pub ver: i32,
    /// When issued, in milliseconds (`iat` has whole seconds): a token issued just after a
    /// revocation is told from one issued just before it (`auth::revocations`).
    #[serde(default)]
    pub iat_ms: i64,
}

impl Claims {
    /// When the token was issued, in milliseconds since the epoch.
    pub fn issued_ms(&self) -> i64 {
        if self.iat_ms > 0 {
            self.iat_ms
        } else {
            self.iat.saturating_mul(1000)
        }
    }

    pub fn customer_id(&self) -> AppResult<i64> {
        self.sub.parse().map_err(|_| AppError::Unauthenticated)
    }
}

#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
    access_ttl_secs: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("auth.jwt_secret must be at least {MIN_SECRET_BYTES} bytes (it is {0})")]
    TooShort(usize),
    #[error("cannot read or create the JWT secret file {path}: {source}")]
    File {
        path: String,
        source: std::io::Error,
    },
}

impl JwtKeys {
    pub fn new(secret: &Secret, settings: &AuthSettings) -> Result<Self, SecretError> {
        let bytes = secret.expose().as_bytes();
        if bytes.len() < MIN_SECRET_BYTES {
            return Err(SecretError::TooShort(bytes.len()));
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.set_issuer(&[&settings.issuer]);
        validation.set_audience(&[&settings.audience]);
        validation.leeway = settings.leeway_secs;
        validation.validate_exp = true;
        Ok(Self {
            encoding: EncodingKey::from_secret(bytes),
            decoding: DecodingKey::from_secret(bytes),
            validation,
            issuer: settings.issuer.clone(),
            audience: settings.audience.clone(),
            access_ttl_secs: settings.access_ttl_secs,
        })
    }

    /// Signs an access token for the account at credentials version `version`; returns it
    /// with its expiry (seconds since the epoch).
    pub fn issue(&self, customer_id: i64, admin: bool, version: i32) -> AppResult<(String, i64)> {
        let issued = Utc::now();
        let now = issued.timestamp();
        let claims = Claims {
            sub: customer_id.to_string(),
            role: if admin {
                AccountRole::Admin
            } else {
                AccountRole::Customer
            }
            .as_db()
            .into(),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            exp: now + self.access_ttl_secs,
            iat: now,
            ver: version,
            iat_ms: issued.timestamp_millis(),
        };
        let token = encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| AppError::internal(e.to_string()))?;
        Ok((token, claims.exp))
    }

    /// Verifies signature, algorithm and claims. Every failure is UNAUTHENTICATED.
    pub fn verify(&self, token: &str) -> AppResult<Claims> {
        decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|_| AppError::Unauthenticated)
    }
}

/// The configured secret, or one generated on first start and kept in `data_dir` (with a
/// warning: production should configure `auth.jwt_secret`).
pub fn load_or_create_secret(
    configured: Option<&Secret>,
    data_dir: &Path,
) -> Result<Secret, SecretError> {
    if let Some(secret) = configured.filter(|s| !s.expose().is_empty()) {
        return Ok(secret.clone());
    }
    let path = data_dir.join("jwt_secret");
    let file_err = |source| SecretError::File {
        path: path.display().to_string(),
        source,
    };
    match std::fs::read_to_string(&path) {
        Ok(existing) if !existing.trim().is_empty() => return Ok(Secret::new(existing.trim())),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(file_err(e)),
    }
    std::fs::create_dir_all(data_dir).map_err(file_err)?;
    let secret = super::tokens::random_token("");
    write_private(&path, &secret).map_err(file_err)?;
    tracing::warn!(
        path = %path.display(),
        "no auth.jwt_secret configured: generated one for development; configure REMOTEGPU_AUTH__JWT_SECRET in production"
    );
    Ok(Secret::new(secret))
}

fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?.write_all(contents.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> JwtKeys {
        JwtKeys::new(&Secret::new("x".repeat(32)), &AuthSettings::default()).unwrap()
    }

    #[test]
    fn short_secrets_are_refused() {
        assert!(matches!(
            JwtKeys::new(&Secret::new("short"), &AuthSettings::default()),
            Err(SecretError::TooShort(5))
        ));
    }

    #[test]
    fn issued_tokens_verify() {
        let k = keys();
        let (token, _) = k.issue(7, true, 0).unwrap();
        let claims = k.verify(&token).unwrap();
        assert_eq!(claims.customer_id().unwrap(), 7);
        assert_eq!(claims.role, AccountRole::Admin.as_db());
    }

    #[test]
    fn generated_secret_is_persisted() {
        let dir = tempfile::tempdir().unwrap();
        let a = load_or_create_secret(None, dir.path()).unwrap();
        let b = load_or_create_secret(None, dir.path()).unwrap();
        assert_eq!(a, b);
        assert!(a.expose().len() >= MIN_SECRET_BYTES);
    }
}
