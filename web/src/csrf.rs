//! CSRF tokens: the hidden `csrf` field of every form.
//!
//! A token is `hex(sha256(secret ‖ 0x00 ‖ context))`: the server keeps one
//! random secret, and binds tokens to a context it chooses (the dashboard:
//! the session; the compound's page: a fixed context, since it has no
//! login and only its own origin can read the token from a page). Another
//! origin cannot read our pages, so it cannot learn a token; the check is
//! in constant time.

use sha2::{Digest, Sha256};

/// The server's CSRF secret.
#[derive(Clone)]
pub struct Secret([u8; 32]);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("csrf::Secret(..)")
    }
}

impl Secret {
    /// A fresh random secret.
    pub fn random() -> Self {
        Self(rand::random())
    }

    /// A secret kept elsewhere (e.g. in the data directory, so that forms
    /// open in a browser stay valid across a restart).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The token for `context`.
    pub fn token(&self, context: &str) -> String {
        let mut h = Sha256::new();
        h.update(self.0);
        h.update([0u8]);
        h.update(context.as_bytes());
        hex(&h.finalize())
    }

    /// Whether `given` (the form's field; `None` when absent) is the token
    /// for `context`.
    pub fn verify(&self, context: &str, given: Option<&str>) -> bool {
        let Some(given) = given else { return false };
        constant_time_eq(self.token(context).as_bytes(), given.as_bytes())
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// Equal contents, in time that depends on the lengths only.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_bind_secret_and_context() {
        let s = Secret::random();
        let t = s.token("session-a");
        assert_eq!(t.len(), 64);
        assert!(s.verify("session-a", Some(&t)));
        assert!(!s.verify("session-b", Some(&t)));
        assert!(!s.verify("session-a", None));
        assert!(!s.verify("session-a", Some("")));
        assert!(!Secret::random().verify("session-a", Some(&t)));
    }
}
