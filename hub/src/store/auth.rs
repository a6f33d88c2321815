//! Enrolment, tokens, the audit log, and binding an enrolment to its log.

use super::*;

/// Binds the enrolment to `log_id` inside `tx` if it is not bound yet
/// (a first sync, or a first bundle), refusing any other log, and notes the
/// contact. The one place an enrolment gets its log.
pub(super) fn bind_log(tx: &Connection, caller: &Caller, log_id: &str) -> Result<()> {
    match bound_log(tx, caller.node)? {
        Some(bound) if bound != log_id => return Err(HubError::LogMismatch { bound }),
        _ => {}
    }
    tx.execute(
        "UPDATE node SET log_id = ?2, last_sync = ?3 WHERE id = ?1",
        params![caller.node, log_id, now_rfc3339()],
    )?;
    Ok(())
}

/// The log id an enrolment is bound to (`None` before its first handshake).
pub(super) fn bound_log(conn: &Connection, node: i64) -> Result<Option<String>> {
    Ok(
        conn.query_row("SELECT log_id FROM node WHERE id = ?1", [node], |row| {
            row.get(0)
        })?,
    )
}

pub(super) fn token_hash(secret: &[u8]) -> Vec<u8> {
    Sha256::digest(secret).to_vec()
}

impl HubStore {
    /// Enrols a compound (creating or renaming it) and issues a new token;
    /// earlier tokens of the compound are revoked. Returns the token.
    ///
    /// # Errors
    /// [`HubError::InvalidCode`] for a bad code; SQLite errors.
    pub fn enroll(&mut self, code: &str, name: Option<&str>) -> Result<String> {
        let code = code.trim();
        let valid = !code.is_empty()
            && code.len() <= 32
            && code
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid {
            return Err(HubError::InvalidCode(code.to_owned()));
        }
        let secret: [u8; 32] = rand::random();
        let now = now_rfc3339();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        match name {
            Some(name) => tx.execute(
                "INSERT INTO compound (code, name) VALUES (?1, ?2)
                 ON CONFLICT (code) DO UPDATE SET name = excluded.name",
                params![code, name.trim()],
            )?,
            None => tx.execute(
                "INSERT INTO compound (code, name) VALUES (?1, ?1) ON CONFLICT (code) DO NOTHING",
                params![code],
            )?,
        };
        tx.execute(
            "UPDATE node SET revoked_at = ?2 WHERE compound = ?1 AND revoked_at IS NULL",
            params![code, now],
        )?;
        tx.execute(
            "INSERT INTO node (compound, token_hash, issued_at) VALUES (?1, ?2, ?3)",
            params![code, token_hash(&secret), now],
        )?;
        crate::directives::send_current_config(&tx, code, &now)?;
        tx.execute(
            "INSERT INTO audit (at, compound, event, detail) VALUES (?1, ?2, 'enroll', 'new token issued; earlier tokens revoked')",
            params![now, code],
        )?;
        tx.commit()?;
        Ok(lianfang_proto::token::encode(&pb::EnrollmentToken {
            compound: code.to_owned(),
            secret: secret.to_vec(),
            hub_key: lianfang_proto::sign::public_key(&self.signing_key()?).to_vec(),
            hub_ca: crate::tls::ensure(&self.dir)
                .map_err(|e| HubError::Tls(e.to_string()))?
                .ca_der,
        }))
    }

    /// Revokes every token of a compound at once; its node is refused from
    /// its next call. Returns how many tokens were revoked.
    ///
    /// # Errors
    /// [`HubError::UnknownCompound`]; SQLite errors.
    pub fn revoke(&mut self, code: &str) -> Result<usize> {
        let code = code.trim();
        let known: bool = self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM compound WHERE code = ?1)",
            [code],
            |row| row.get(0),
        )?;
        if !known {
            return Err(HubError::UnknownCompound(code.to_owned()));
        }
        let n = self.conn.execute(
            "UPDATE node SET revoked_at = ?2 WHERE compound = ?1 AND revoked_at IS NULL",
            params![code, now_rfc3339()],
        )?;
        self.audit(Some(code), "revoke", &format!("{n} token(s) revoked"))?;
        Ok(n)
    }

    /// Appends an entry to the audit log.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn audit(&self, compound: Option<&str>, event: &str, detail: &str) -> Result<()> {
        self.conn.execute(
            "INSERT INTO audit (at, compound, event, detail) VALUES (?1, ?2, ?3, ?4)",
            params![now_rfc3339(), compound, event, detail],
        )?;
        Ok(())
    }

    /// The audit log, oldest first: (at, compound, event, detail).
    ///
    /// # Errors
    /// SQLite errors.
    pub fn audit_log(&self) -> Result<Vec<AuditEntry>> {
        let mut stmt = self
            .conn
            .prepare("SELECT at, compound, event, detail, \"user\" FROM audit ORDER BY id")?;
        let entries = stmt
            .query_map((), super::compounds::audit_entry)?
            .collect::<Result<_, _>>()?;
        Ok(entries)
    }

    /// Finds the enrolment a token belongs to.
    ///
    /// # Errors
    /// [`HubError::BadToken`] for an unknown, revoked or malformed token.
    pub fn authenticate(&self, token: &str) -> Result<Caller> {
        let token =
            lianfang_proto::token::decode_credential(token).map_err(|_| HubError::BadToken)?;
        let (node, compound): (i64, String) = self
            .conn
            .query_row(
                "SELECT id, compound FROM node WHERE token_hash = ?1 AND revoked_at IS NULL",
                [token_hash(&token.secret)],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()?
            .ok_or(HubError::BadToken)?;
        if compound != token.compound {
            return Err(HubError::TokenCompound {
                token: token.compound,
                stored: compound,
            });
        }
        Ok(Caller { node, compound })
    }
}
