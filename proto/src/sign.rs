//! Signatures on the hub's down log (ed25519).
//!
//! The hub signs each entry over a domain tag, the compound, the entry's
//! sequence number and the encoded message, so a node accepts an entry only
//! if the hub made it for this compound at this place in the log.

use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};

use crate::pb;

const DOMAIN: &[u8] = b"lianfang/down/v1\0";

fn signed_bytes(compound: &str, seq: u64, message: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(DOMAIN.len() + compound.len() + 9 + message.len());
    bytes.extend_from_slice(DOMAIN);
    bytes.extend_from_slice(compound.as_bytes());
    bytes.push(0);
    bytes.extend_from_slice(&seq.to_be_bytes());
    bytes.extend_from_slice(message);
    bytes
}

/// A signing key from its 32 secret bytes.
pub fn signing_key(secret: &[u8; 32]) -> SigningKey {
    SigningKey::from_bytes(secret)
}

/// The public key bytes of a signing key.
pub fn public_key(key: &SigningKey) -> [u8; 32] {
    key.verifying_key().to_bytes()
}

/// Signs entry `seq` of `compound`'s down log.
pub fn sign_entry(key: &SigningKey, compound: &str, seq: u64, message: Vec<u8>) -> pb::DownEntry {
    let signature = key.sign(&signed_bytes(compound, seq, &message));
    pb::DownEntry {
        seq,
        message,
        signature: signature.to_bytes().to_vec(),
    }
}

/// Why a down entry was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the hub key stored at init is not a valid ed25519 public key")]
    BadKey,
    #[error("down entry {seq} carries a malformed signature")]
    Malformed { seq: u64 },
    #[error(
        "down entry {seq} failed signature verification: not made by this node's hub for this compound"
    )]
    Forged { seq: u64 },
}

/// Checks that `entry` was signed by `hub_key` for `compound`.
///
/// # Errors
/// [`VerifyError`] naming the entry.
pub fn verify_entry(
    hub_key: &[u8],
    compound: &str,
    entry: &pb::DownEntry,
) -> Result<(), VerifyError> {
    let key_bytes: [u8; 32] = hub_key.try_into().map_err(|_| VerifyError::BadKey)?;
    let key = VerifyingKey::from_bytes(&key_bytes).map_err(|_| VerifyError::BadKey)?;
    let signature = Signature::from_slice(&entry.signature)
        .map_err(|_| VerifyError::Malformed { seq: entry.seq })?;
    key.verify(
        &signed_bytes(compound, entry.seq, &entry.message),
        &signature,
    )
    .map_err(|_| VerifyError::Forged { seq: entry.seq })
}

/// Bytes of a hex string, or `None` if it is not hex.
pub fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Lower-case hex of bytes (keys at rest).
pub fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_verify_only_where_they_were_signed() {
        let key = signing_key(&[7; 32]);
        let public = public_key(&key);
        let entry = sign_entry(&key, "HM001", 3, b"notice".to_vec());
        assert_eq!(verify_entry(&public, "HM001", &entry), Ok(()));
        assert_eq!(
            verify_entry(&public, "HM002", &entry),
            Err(VerifyError::Forged { seq: 3 })
        );
        let moved = pb::DownEntry {
            seq: 4,
            ..entry.clone()
        };
        assert_eq!(
            verify_entry(&public, "HM001", &moved),
            Err(VerifyError::Forged { seq: 4 })
        );
        let mut tampered = entry.clone();
        tampered.message[0] ^= 1;
        assert!(verify_entry(&public, "HM001", &tampered).is_err());
        let other = public_key(&signing_key(&[8; 32]));
        assert!(verify_entry(&other, "HM001", &entry).is_err());
        assert_eq!(
            verify_entry(&[1, 2], "HM001", &entry),
            Err(VerifyError::BadKey)
        );
    }
}
