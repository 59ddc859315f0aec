//! Password hashing: Argon2id, m = 19 MiB, t = 2, p = 1 (OWASP's minimum), PHC string form.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::domain::Password;
use crate::error::{AppError, AppResult};

fn argon2() -> AppResult<Argon2<'static>> {
    let params =
        Params::new(19 * 1024, 2, 1, None).map_err(|e| AppError::internal(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// A hash of a random password, verified against when an account does not exist, so that
/// an unknown account and a wrong password both cost one Argon2 run.
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| {
        let random = crate::auth::tokens::random_token("");
        Password::parse("password", &random)
            .ok()
            .and_then(|p| hash(&p).ok())
            .unwrap_or_default()
    })
}

/// Argon2 runs at once: one per CPU. Each takes 19 MiB and tens of milliseconds of a core, so
/// a burst of sign-ins waits its turn instead of exhausting memory and the blocking pool.
fn argon2_permits() -> &'static tokio::sync::Semaphore {
    static PERMITS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    PERMITS.get_or_init(|| {
        let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        tokio::sync::Semaphore::new(cpus)
    })
}

/// Runs `work` on the blocking pool once an Argon2 permit is free.
async fn bounded<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> AppResult<T> {
    let _permit = argon2_permits()
        .acquire()
        .await
        .map_err(AppError::internal)?;
    tokio::task::spawn_blocking(work)
        .await
        .map_err(AppError::internal)
}

/// [`hash`] on the blocking pool: Argon2 takes tens of milliseconds of CPU and must not hold
/// up the async workers.
pub async fn hash_blocking(password: Password) -> AppResult<String> {
    bounded(move || hash(&password)).await?
}

/// [`verify`] on the blocking pool.
pub async fn verify_blocking(password: &str, stored: &str) -> bool {
    let (password, stored) = (password.to_owned(), stored.to_owned());
    bounded(move || verify(&password, &stored))
        .await
        .unwrap_or(false)
}

/// Failed sign-ins per login name (whether or not the account exists, so the answer says
/// nothing about existence). After [`FREE_FAILURES`] in a row, each further attempt waits
/// out a lock that doubles with every failure (1 s, 2 s, 4 s, … up to 15 min): attempts
/// inside the lock are RATE_LIMITED without running Argon2. A success clears the count.
/// Kept per server process.
#[derive(Debug, Default)]
pub struct LoginThrottle {
    failures: std::sync::Mutex<std::collections::HashMap<String, (u32, std::time::Instant)>>,
}

pub const FREE_FAILURES: u32 = 5;
const MAX_LOCK: std::time::Duration = std::time::Duration::from_secs(900);
/// Names remembered at most; beyond it, entries older than the longest lock are dropped.
const MAX_TRACKED: usize = 100_000;

impl LoginThrottle {
    fn key(login: &str) -> String {
        login.trim().to_lowercase()
    }

    fn lock_for(failures: u32) -> std::time::Duration {
        if failures < FREE_FAILURES {
            return std::time::Duration::ZERO;
        }
        let doublings = (failures - FREE_FAILURES).min(10);
        std::time::Duration::from_secs(1u64 << doublings).min(MAX_LOCK)
    }

    /// RATE_LIMITED while `login` is locked.
    pub fn check(&self, login: &str) -> AppResult<()> {
        let map = self
            .failures
            .lock()
            .map_err(|e| AppError::internal(e.to_string()))?;
        match map.get(&Self::key(login)) {
            Some((n, last)) if last.elapsed() < Self::lock_for(*n) => Err(AppError::RateLimited),
            _ => Ok(()),
        }
    }

    pub fn failed(&self, login: &str) {
        let Ok(mut map) = self.failures.lock() else {
            return;
        };
        if map.len() >= MAX_TRACKED {
            map.retain(|_, (_, last)| last.elapsed() < MAX_LOCK);
        }
        let entry = map
            .entry(Self::key(login))
            .or_insert((0, std::time::Instant::now()));
        entry.0 = entry.0.saturating_add(1);
        entry.1 = std::time::Instant::now();
    }

    pub fn succeeded(&self, login: &str) {
        if let Ok(mut map) = self.failures.lock() {
            map.remove(&Self::key(login));
        }
    }
}

pub fn hash(password: &Password) -> AppResult<String> {
    let salt = SaltString::generate(&mut OsRng);
    argon2()?
        .hash_password(password.expose().as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AppError::internal(e.to_string()))
}

pub fn verify(password: &str, stored: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    argon2().is_ok_and(|a| a.verify_password(password.as_bytes(), &parsed).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_lock_a_login_after_the_free_ones() {
        let t = LoginThrottle::default();
        for _ in 0..FREE_FAILURES - 1 {
            t.failed("Mallory");
            assert!(t.check("mallory").is_ok());
        }
        t.failed("mallory ");
        assert_eq!(
            t.check("MALLORY").unwrap_err().code().as_str(),
            "RATE_LIMITED"
        );
        assert!(t.check("someone-else").is_ok());
        t.succeeded("mallory");
        assert!(t.check("mallory").is_ok());
        assert_eq!(LoginThrottle::lock_for(FREE_FAILURES + 30), MAX_LOCK);
    }

    #[test]
    fn hashes_are_argon2id_with_the_required_parameters() {
        let p = Password::parse("password", "correct horse battery").unwrap();
        let h = hash(&p).unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify("correct horse battery", &h));
        assert!(!verify("wrong horse battery", &h));
        assert_ne!(h, hash(&p).unwrap(), "salted");
    }
}
