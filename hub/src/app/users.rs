//! The dashboard's users and sessions over the store: passwords hashed
//! with argon2 (never stored or logged as typed), the throttle that slows an
//! account down after five wrong passwords in a row, and sessions whose
//! random tokens are stored only as SHA-256 hashes.

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use sha2::{Digest as _, Sha256};

use super::HubApp;
use crate::store::{HubError, StoredUser};

/// How long a session lasts after login.
pub const SESSION_HOURS: i64 = 12;

/// Wrong passwords in a row before an account is slowed down.
pub const FREE_FAILURES: u32 = 5;

/// The first wait after [`FREE_FAILURES`]; it doubles with each further
/// wrong password, up to [`MAX_LOCK_SECS`].
pub const FIRST_LOCK_SECS: i64 = 30;

/// The longest wait.
pub const MAX_LOCK_SECS: i64 = 15 * 60;

/// What a user may do on the dashboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads everything and sends notices, tasks, problems, inspections.
    Staff,
    /// Also manages users, enrolments and configuration.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Staff => "staff",
            Role::Admin => "admin",
        }
    }

    fn parse(s: &str) -> Role {
        if s == "admin" {
            Role::Admin
        } else {
            Role::Staff
        }
    }
}

/// A dashboard user (no password hash).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct User {
    pub name: String,
    pub role: Role,
    pub created_at: String,
    /// Wrong passwords in a row.
    pub failures: u32,
    /// Set while the account is slowed down.
    pub locked_until: Option<String>,
}

impl From<StoredUser> for User {
    fn from(u: StoredUser) -> User {
        User {
            role: Role::parse(&u.role),
            name: u.name,
            created_at: u.created_at,
            failures: u.failures,
            locked_until: u.locked_until,
        }
    }
}

/// Why a user command or a login was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UserError {
    #[error("user name {0:?}: use 1-32 letters, digits, '.', '-' or '_'")]
    BadName(String),
    #[error("the password is too short: use at least {MIN_PASSWORD} characters")]
    ShortPassword,
    #[error("password hashing failed: {0}")]
    Hash(String),
    /// A wrong user name or password (not telling which).
    #[error("wrong user name or password")]
    WrongPassword,
    /// Too many wrong passwords in a row: no password is checked before `until`.
    #[error("too many wrong passwords: try again after {until}")]
    Throttled { until: String, seconds: i64 },
    #[error(transparent)]
    Hub(#[from] HubError),
}

/// Shortest password accepted.
pub const MIN_PASSWORD: usize = 8;

/// A session just opened: the token goes into the cookie, nowhere else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub token: String,
    pub user: String,
    pub role: Role,
    pub expires_at: String,
}

/// The user behind a live session, and the hash the CSRF token binds to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionUser {
    pub name: String,
    pub role: Role,
    /// Hex SHA-256 of the session token: the context of its CSRF tokens.
    pub session_hash: String,
}

fn check_name(name: &str) -> Result<(), UserError> {
    let ok = !name.is_empty()
        && name.chars().count() <= 32
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if ok {
        Ok(())
    } else {
        Err(UserError::BadName(name.to_owned()))
    }
}

fn hash_password(password: &str) -> Result<String, UserError> {
    if password.chars().count() < MIN_PASSWORD {
        return Err(UserError::ShortPassword);
    }
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| UserError::Hash(e.to_string()))
}

fn password_matches(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored).is_ok_and(|hash| {
        Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok()
    })
}

/// The SHA-256 of a session token, as stored.
fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

fn hex(bytes: &[u8]) -> String {
    lianfang_proto::sign::hex_encode(bytes)
}

/// The lock after `failures` wrong passwords in a row (`None`: none yet).
pub fn lock_secs(failures: u32) -> Option<i64> {
    let over = failures.checked_sub(FREE_FAILURES)?;
    Some(
        FIRST_LOCK_SECS
            .saturating_mul(1_i64 << over.min(16))
            .min(MAX_LOCK_SECS),
    )
}

fn rfc3339(at: chrono::DateTime<chrono::Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

impl HubApp {
    /// Adds a dashboard user with a password (hashed here).
    ///
    /// # Errors
    /// A bad name, a short password, a name taken.
    pub fn add_user(&self, name: &str, role: Role, password: &str) -> Result<(), UserError> {
        check_name(name)?;
        let hash = hash_password(password)?;
        Ok(self.store().add_user(name, role.as_str(), &hash)?)
    }

    /// Every dashboard user, by name.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn users(&self) -> Result<Vec<User>, HubError> {
        Ok(self.store().users()?.into_iter().map(User::from).collect())
    }

    /// Removes a user and ends their sessions; the last admin stays.
    ///
    /// # Errors
    /// An unknown user, or the last admin.
    pub fn remove_user(&self, name: &str) -> Result<(), HubError> {
        self.store().remove_user(name)
    }

    /// Sets a user's password, clears the throttle, ends their sessions.
    ///
    /// # Errors
    /// An unknown user or a short password.
    pub fn set_password(&self, name: &str, password: &str) -> Result<(), UserError> {
        let hash = hash_password(password)?;
        Ok(self.store().set_password_hash(name, &hash)?)
    }

    /// Checks a password and opens a session. After [`FREE_FAILURES`]
    /// wrong passwords in a row the account waits ([`lock_secs`]) and no
    /// password is checked until then; a good password resets the count.
    /// An unknown user costs the same hashing as a known one.
    ///
    /// # Errors
    /// [`UserError::WrongPassword`], [`UserError::Throttled`].
    pub fn login(&self, name: &str, password: &str) -> Result<Session, UserError> {
        let now = crate::now();
        let state = self.store().login_state(name)?;
        let Some(state) = state else {
            // Spend the time a real check takes, so timing does not tell
            // which names exist.
            let _ = password_matches(password, dummy_hash());
            return Err(UserError::WrongPassword);
        };
        if let Some(until) = &state.locked_until
            && let Ok(until_at) = chrono::DateTime::parse_from_rfc3339(until)
            && until_at > now
        {
            return Err(UserError::Throttled {
                until: until.clone(),
                seconds: (until_at.with_timezone(&chrono::Utc) - now).num_seconds() + 1,
            });
        }
        if !password_matches(password, &state.password_hash) {
            let lock = lock_secs(state.failures + 1)
                .map(|secs| rfc3339(now + chrono::Duration::seconds(secs)));
            self.store().login_failed(name, lock.as_deref())?;
            return Err(match lock {
                Some(until) => UserError::Throttled {
                    seconds: lock_secs(state.failures + 1).unwrap_or(0),
                    until,
                },
                None => UserError::WrongPassword,
            });
        }
        let token = hex(&rand::random::<[u8; 32]>());
        let expires_at = rfc3339(now + chrono::Duration::hours(SESSION_HOURS));
        self.store()
            .open_session(name, &token_hash(&token), &expires_at)?;
        Ok(Session {
            token,
            user: name.to_owned(),
            role: Role::parse(&state.role),
            expires_at,
        })
    }

    /// The user of a live session token (`None`: unknown, expired or ended).
    ///
    /// # Errors
    /// SQLite errors.
    pub fn session(&self, token: &str) -> Result<Option<SessionUser>, HubError> {
        let hash = token_hash(token);
        Ok(self.store().session_owner(&hash)?.map(|owner| SessionUser {
            name: owner.user,
            role: Role::parse(&owner.role),
            session_hash: hex(&hash),
        }))
    }

    /// Ends a session; returns whose it was.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn logout(&self, token: &str) -> Result<Option<String>, HubError> {
        self.store().end_session(&token_hash(token))
    }

    /// The dashboard's CSRF secret (kept in the database).
    ///
    /// # Errors
    /// SQLite errors.
    pub fn web_secret(&self) -> Result<[u8; 32], HubError> {
        self.store().web_secret()
    }

    /// Writes what a dashboard user did to the audit log.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn audit_by(
        &self,
        user: &str,
        compound: Option<&str>,
        event: &str,
        detail: &str,
    ) -> Result<(), HubError> {
        self.store().audit_by(user, compound, event, detail)
    }
}

/// An argon2 hash of a random password, verified against for unknown users.
fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| hash_password(&hex(&rand::random::<[u8; 16]>())).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_throttle_starts_after_five_and_doubles_to_a_cap() {
        assert_eq!(lock_secs(4), None);
        assert_eq!(lock_secs(5), Some(30));
        assert_eq!(lock_secs(6), Some(60));
        assert_eq!(lock_secs(7), Some(120));
        assert_eq!(lock_secs(40), Some(MAX_LOCK_SECS));
    }

    #[test]
    fn passwords_are_hashed_sessions_open_and_end() {
        let dir = tempfile::tempdir().unwrap();
        let app = HubApp::new(dir.path(), crate::store::test_store(dir.path()));
        assert!(matches!(
            app.add_user("wang", Role::Admin, "short"),
            Err(UserError::ShortPassword)
        ));
        assert!(matches!(
            app.add_user("wang li", Role::Admin, "long enough"),
            Err(UserError::BadName(_))
        ));
        app.add_user("wang", Role::Admin, "花木街道2020").unwrap();
        let users = app.users().unwrap();
        assert_eq!(users[0].role, Role::Admin);
        assert!(matches!(
            app.login("wang", "wrong password"),
            Err(UserError::WrongPassword)
        ));
        assert!(matches!(
            app.login("nobody", "花木街道2020"),
            Err(UserError::WrongPassword)
        ));
        let session = app.login("wang", "花木街道2020").unwrap();
        assert_eq!(session.token.len(), 64);
        let user = app.session(&session.token).unwrap().unwrap();
        assert_eq!(user.name, "wang");
        assert_ne!(user.session_hash, session.token, "only the hash is kept");
        assert_eq!(app.logout(&session.token).unwrap().as_deref(), Some("wang"));
        assert_eq!(app.session(&session.token).unwrap(), None);
        for _ in 0..4 {
            assert!(matches!(
                app.login("wang", "wrong password"),
                Err(UserError::WrongPassword)
            ));
        }
        assert!(matches!(
            app.login("wang", "wrong password"),
            Err(UserError::Throttled { .. })
        ));
        // Locked: even the right password waits.
        assert!(matches!(
            app.login("wang", "花木街道2020"),
            Err(UserError::Throttled { .. })
        ));
        app.set_password("wang", "新的密码新的密码").unwrap();
        assert!(
            app.login("wang", "新的密码新的密码").is_ok(),
            "passwd clears the lock"
        );
    }
}
