//! The dashboard's people: street-office users (name, role, password hash,
//! the run of wrong passwords that slows an account down), their sessions
//! (only a SHA-256 of each session token is stored), the CSRF secret, and
//! the user's name on audit entries.
//!
//! Hashing passwords (argon2) is the application layer's (`app/users.rs`);
//! this module stores and compares what it is given.

use super::*;

pub(super) const USERS_SQL: &str = "
CREATE TABLE IF NOT EXISTS web_user (
    name          TEXT PRIMARY KEY,
    role          TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    -- Wrong passwords in a row since the last good one.
    failures      INTEGER NOT NULL DEFAULT 0,
    -- No password is checked before this instant (RFC 3339), after failures.
    locked_until  TEXT,
    created_at    TEXT NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS web_session (
    token_hash BLOB PRIMARY KEY,
    \"user\"   TEXT NOT NULL REFERENCES web_user (name) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
) STRICT;
";

/// Adds a column to a table of an older database when it lacks it.
pub(super) fn add_column(conn: &Connection, table: &str, column: &str, decl: &str) -> Result<()> {
    if !conn.column_exists(table, column)? {
        conn.execute_batch(&format!(
            "ALTER TABLE {table} ADD COLUMN \"{column}\" {decl}"
        ))?;
    }
    Ok(())
}

/// A dashboard user as stored (no password hash).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StoredUser {
    pub name: String,
    /// `admin` or `staff`.
    pub role: String,
    pub created_at: String,
    /// Wrong passwords in a row.
    pub failures: u32,
    pub locked_until: Option<String>,
}

/// What a login needs to decide: the stored hash and the throttle state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginState {
    pub role: String,
    pub password_hash: String,
    pub failures: u32,
    pub locked_until: Option<String>,
}

/// The user a live session belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionOwner {
    pub user: String,
    pub role: String,
    pub expires_at: String,
}

const USER_SELECT_SQL: &str =
    "SELECT name, role, created_at, failures, locked_until FROM web_user ORDER BY name";

impl HubStore {
    /// Adds a user; refuses a name that exists.
    ///
    /// # Errors
    /// [`HubError::InvalidUser`] when the name is taken; SQLite errors.
    pub fn add_user(&mut self, name: &str, role: &str, password_hash: &str) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let n = tx.execute(
            "INSERT INTO web_user (name, role, password_hash, created_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (name) DO NOTHING",
            params![name, role, password_hash, now_rfc3339()],
        )?;
        if n == 0 {
            return Err(HubError::InvalidUser(format!("user {name} exists already")));
        }
        audit_in(&tx, None, None, "user_add", &format!("{name} ({role})"))?;
        tx.commit()?;
        Ok(())
    }

    /// Every user, by name.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn users(&self) -> Result<Vec<StoredUser>> {
        let mut stmt = self.conn.prepare(USER_SELECT_SQL)?;
        let users = stmt
            .query_map((), |row| {
                Ok(StoredUser {
                    name: row.get(0)?,
                    role: row.get(1)?,
                    created_at: row.get(2)?,
                    failures: row.get(3)?,
                    locked_until: row.get(4)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(users)
    }

    /// Removes a user and ends their sessions. The last admin stays.
    ///
    /// # Errors
    /// [`HubError::InvalidUser`] for an unknown user or the last admin.
    pub fn remove_user(&mut self, name: &str) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let role: Option<String> = tx
            .query_row("SELECT role FROM web_user WHERE name = ?1", [name], |r| {
                r.get(0)
            })
            .optional()?;
        let Some(role) = role else {
            return Err(HubError::InvalidUser(format!("no user {name}")));
        };
        let admins: i64 = tx.query_row(
            "SELECT COUNT(*) FROM web_user WHERE role = 'admin'",
            (),
            |r| r.get(0),
        )?;
        if role == "admin" && admins == 1 {
            return Err(HubError::InvalidUser(format!(
                "{name} is the last admin: add another admin first"
            )));
        }
        tx.execute("DELETE FROM web_session WHERE \"user\" = ?1", [name])?;
        tx.execute("DELETE FROM web_user WHERE name = ?1", [name])?;
        audit_in(&tx, None, None, "user_remove", name)?;
        tx.commit()?;
        Ok(())
    }

    /// Replaces a user's password hash, clears the throttle and ends every
    /// session of theirs.
    ///
    /// # Errors
    /// [`HubError::InvalidUser`] for an unknown user.
    pub fn set_password_hash(&mut self, name: &str, password_hash: &str) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let n = tx.execute(
            "UPDATE web_user SET password_hash = ?2, failures = 0, locked_until = NULL
             WHERE name = ?1",
            params![name, password_hash],
        )?;
        if n == 0 {
            return Err(HubError::InvalidUser(format!("no user {name}")));
        }
        tx.execute("DELETE FROM web_session WHERE \"user\" = ?1", [name])?;
        audit_in(&tx, None, None, "user_passwd", name)?;
        tx.commit()?;
        Ok(())
    }

    /// What a login for `name` compares against (`None`: no such user).
    ///
    /// # Errors
    /// SQLite errors.
    pub fn login_state(&self, name: &str) -> Result<Option<LoginState>> {
        Ok(self
            .conn
            .query_row(
                "SELECT role, password_hash, failures, locked_until FROM web_user WHERE name = ?1",
                [name],
                |row| {
                    Ok(LoginState {
                        role: row.get(0)?,
                        password_hash: row.get(1)?,
                        failures: row.get(2)?,
                        locked_until: row.get(3)?,
                    })
                },
            )
            .optional()?)
    }

    /// Records a wrong password: one more failure in a row, and the lock
    /// the caller computed from it (`None`: not locked yet).
    ///
    /// # Errors
    /// SQLite errors.
    pub fn login_failed(&mut self, name: &str, locked_until: Option<&str>) -> Result<u32> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "UPDATE web_user SET failures = failures + 1, locked_until = ?2 WHERE name = ?1",
            params![name, locked_until],
        )?;
        let failures: u32 = tx
            .query_row(
                "SELECT failures FROM web_user WHERE name = ?1",
                [name],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or(0);
        audit_in(
            &tx,
            Some(name),
            None,
            "login_refused",
            &format!("wrong password ({failures} in a row)"),
        )?;
        tx.commit()?;
        Ok(failures)
    }

    /// Records a good password and opens a session stored by the hash of
    /// its token.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn open_session(&mut self, name: &str, token_hash: &[u8], expires_at: &str) -> Result<()> {
        let now = now_rfc3339();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "UPDATE web_user SET failures = 0, locked_until = NULL WHERE name = ?1",
            [name],
        )?;
        // Expired sessions of anyone are dropped here, so the table stays small.
        tx.execute("DELETE FROM web_session WHERE expires_at <= ?1", [&now])?;
        tx.execute(
            "INSERT INTO web_session (token_hash, \"user\", created_at, expires_at)
             VALUES (?1, ?2, ?3, ?4)",
            params![token_hash, name, now, expires_at],
        )?;
        audit_in(&tx, Some(name), None, "login", "session opened")?;
        tx.commit()?;
        Ok(())
    }

    /// The owner of a live (unexpired) session.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn session_owner(&self, token_hash: &[u8]) -> Result<Option<SessionOwner>> {
        Ok(self
            .conn
            .query_row(
                "SELECT s.\"user\", u.role, s.expires_at FROM web_session s
                 JOIN web_user u ON u.name = s.\"user\"
                 WHERE s.token_hash = ?1 AND s.expires_at > ?2",
                params![token_hash, now_rfc3339()],
                |row| {
                    Ok(SessionOwner {
                        user: row.get(0)?,
                        role: row.get(1)?,
                        expires_at: row.get(2)?,
                    })
                },
            )
            .optional()?)
    }

    /// Ends a session (logout); returns whose it was.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn end_session(&mut self, token_hash: &[u8]) -> Result<Option<String>> {
        let user: Option<String> = self
            .conn
            .query_row(
                "DELETE FROM web_session WHERE token_hash = ?1 RETURNING \"user\"",
                [token_hash],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(user) = &user {
            self.audit_by(user, None, "logout", "session ended")?;
        }
        Ok(user)
    }

    /// The dashboard's CSRF secret, created on first use and kept, so open
    /// forms stay valid across a restart.
    ///
    /// # Errors
    /// SQLite errors, or a corrupt stored secret.
    pub fn web_secret(&self) -> Result<[u8; 32]> {
        let stored: Option<String> = self
            .conn
            .query_row(
                "SELECT value FROM setting WHERE key = 'web_csrf_secret'",
                (),
                |row| row.get(0),
            )
            .optional()?;
        match stored {
            Some(hex) => lianfang_proto::sign::hex_decode(&hex)
                .and_then(|b| b.try_into().ok())
                .ok_or(HubError::CorruptKey),
            None => {
                let secret: [u8; 32] = rand::random();
                self.conn.execute(
                    "INSERT INTO setting (key, value) VALUES ('web_csrf_secret', ?1)
                     ON CONFLICT (key) DO NOTHING",
                    [lianfang_proto::sign::hex_encode(&secret)],
                )?;
                self.web_secret()
            }
        }
    }

    /// Appends an audit entry done by a dashboard user.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn audit_by(
        &self,
        user: &str,
        compound: Option<&str>,
        event: &str,
        detail: &str,
    ) -> Result<()> {
        audit_in(&self.conn, Some(user), compound, event, detail)
    }
}

/// Appends an audit entry on `conn` (inside the caller's transaction).
pub(super) fn audit_in(
    conn: &Connection,
    user: Option<&str>,
    compound: Option<&str>,
    event: &str,
    detail: &str,
) -> Result<()> {
    conn.execute(
        "INSERT INTO audit (at, compound, event, detail, \"user\") VALUES (?1, ?2, ?3, ?4, ?5)",
        params![now_rfc3339(), compound, event, detail, user],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, HubStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::test_store(dir.path());
        (dir, store)
    }

    #[test]
    fn users_sessions_and_the_last_admin() {
        let (_dir, mut store) = store();
        store.add_user("wang", "admin", "h1").unwrap();
        store.add_user("li", "staff", "h2").unwrap();
        assert!(matches!(
            store.add_user("li", "staff", "h3"),
            Err(HubError::InvalidUser(_))
        ));
        let names: Vec<String> = store.users().unwrap().into_iter().map(|u| u.name).collect();
        assert_eq!(names, ["li", "wang"]);
        let far = "2999-01-01T00:00:00Z";
        store.open_session("li", b"t1", far).unwrap();
        store
            .open_session("li", b"t0", "2000-01-01T00:00:00Z")
            .unwrap();
        assert_eq!(store.session_owner(b"t1").unwrap().unwrap().user, "li");
        assert_eq!(store.session_owner(b"t0").unwrap(), None, "expired");
        store.set_password_hash("li", "h4").unwrap();
        assert_eq!(
            store.session_owner(b"t1").unwrap(),
            None,
            "passwd ends sessions"
        );
        store.open_session("li", b"t2", far).unwrap();
        assert_eq!(store.end_session(b"t2").unwrap().as_deref(), Some("li"));
        assert_eq!(store.session_owner(b"t2").unwrap(), None);
        assert!(store.remove_user("wang").is_err(), "the last admin stays");
        store.remove_user("li").unwrap();
        assert_eq!(store.login_state("li").unwrap(), None);
        assert_eq!(store.login_failed("wang", None).unwrap(), 1);
        assert_eq!(store.login_state("wang").unwrap().unwrap().failures, 1);
        store.open_session("wang", b"t3", far).unwrap();
        assert_eq!(store.login_state("wang").unwrap().unwrap().failures, 0);
        let events: Vec<String> = store
            .audit_log()
            .unwrap()
            .into_iter()
            .map(|e| e.event)
            .collect();
        assert!(events.contains(&"login_refused".to_owned()), "{events:?}");
        assert_eq!(store.web_secret().unwrap(), store.web_secret().unwrap());
    }
}
