//! Bundle files: a node's pending changes on a USB stick, sealed with an
//! HMAC-SHA256 keyed by the SHA-256 of its token secret.

use prost::Message as _;
use sha2::{Digest as _, Sha256};

use crate::pb;

/// First bytes of every bundle file.
pub const MAGIC: &[u8] = b"LIANFANG-BUNDLE-1\n";

/// Why a bundle file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BundleError {
    #[error("not a Lianfang bundle (it does not start with the bundle header)")]
    NotABundle,
    #[error("the bundle is truncated or corrupt: {0}")]
    Corrupt(String),
    #[error(
        "the bundle's seal does not match: it was altered, or not made by this compound's enrolled node"
    )]
    BadSeal,
}

/// The key a bundle is sealed with: SHA-256 of the token secret (what the
/// hub stores as the token hash).
pub fn seal_key(secret: &[u8]) -> [u8; 32] {
    Sha256::digest(secret).into()
}

/// HMAC-SHA256 (RFC 2104).
fn hmac(key: &[u8; 32], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    block[..32].copy_from_slice(key);
    let pad = |byte: u8| block.map(|b| b ^ byte);
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

/// Encodes and seals a bundle into file bytes.
pub fn seal(bundle: &pb::Bundle, key: &[u8; 32]) -> Vec<u8> {
    let body = bundle.encode_to_vec();
    let file = pb::BundleFile {
        mac: hmac(key, &body).to_vec(),
        bundle: body,
    };
    let mut bytes = MAGIC.to_vec();
    bytes.extend(file.encode_to_vec());
    bytes
}

/// Reads a bundle file without checking its seal (to learn who it claims
/// to be from); returns the bundle and the file for [`check_seal`].
///
/// # Errors
/// [`BundleError::NotABundle`] or [`BundleError::Corrupt`].
pub fn open(bytes: &[u8]) -> Result<(pb::Bundle, pb::BundleFile), BundleError> {
    let rest = bytes.strip_prefix(MAGIC).ok_or(BundleError::NotABundle)?;
    let file = pb::BundleFile::decode(rest).map_err(|e| BundleError::Corrupt(e.to_string()))?;
    let bundle = pb::Bundle::decode(file.bundle.as_slice())
        .map_err(|e| BundleError::Corrupt(e.to_string()))?;
    Ok((bundle, file))
}

/// Checks a bundle file's seal against the key of the node it claims to be from.
///
/// # Errors
/// [`BundleError::BadSeal`].
pub fn check_seal(file: &pb::BundleFile, key: &[u8; 32]) -> Result<(), BundleError> {
    let expected = hmac(key, &file.bundle);
    // Constant-time comparison: no early exit on the first differing byte.
    let same = file.mac.len() == expected.len()
        && file
            .mac
            .iter()
            .zip(expected)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    if same {
        Ok(())
    } else {
        Err(BundleError::BadSeal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231_style_vector() {
        // HMAC-SHA256 with a 32-byte key of 0x0b and "Hi There" (RFC 4231
        // case 1 uses a 20-byte key; zero-padding to the block makes a
        // 32-byte key of the same 20 bytes plus zeros equivalent).
        let mut key = [0u8; 32];
        key[..20].copy_from_slice(&[0x0b; 20]);
        let mac = hmac(&key, b"Hi There");
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
    }

    #[test]
    fn sealed_bundles_open_and_tampering_is_caught() {
        let key = seal_key(b"secret");
        let bundle = pb::Bundle {
            compound: "HM001".into(),
            log_id: "L".into(),
            created_at: "2020-02-20T08:00:00Z".into(),
            lanes: vec![],
        };
        let bytes = seal(&bundle, &key);
        let (opened, file) = open(&bytes).unwrap();
        assert_eq!(opened, bundle);
        assert_eq!(check_seal(&file, &key), Ok(()));
        assert_eq!(
            check_seal(&file, &seal_key(b"other")),
            Err(BundleError::BadSeal)
        );
        let mut tampered = bytes.clone();
        let at = tampered.windows(5).position(|w| w == b"HM001").unwrap();
        tampered[at + 4] = b'2';
        let (_, file) = open(&tampered).unwrap();
        assert_eq!(check_seal(&file, &key), Err(BundleError::BadSeal));
        assert_eq!(open(b"hello").unwrap_err(), BundleError::NotABundle);
        assert!(matches!(
            open(&bytes[..bytes.len() - 3]),
            Err(BundleError::Corrupt(_))
        ));
    }
}
