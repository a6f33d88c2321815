//! Enrolment tokens: `lf1.` followed by the base64url (no padding) of an
//! [`pb::EnrollmentToken`]. The hub stores only a hash of the secret.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use prost::Message as _;

use crate::pb;

const PREFIX: &str = "lf1.";
/// The form a node presents on each call: only what the hub checks.
const CREDENTIAL_PREFIX: &str = "lfc1.";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("token must start with \"{PREFIX}\"")]
    Prefix,
    #[error("token is not valid base64url")]
    Base64,
    #[error("token does not decode")]
    Decode,
    #[error("token lacks its compound, secret or hub key")]
    Incomplete,
}

/// Encodes a token for printing.
pub fn encode(token: &pb::EnrollmentToken) -> String {
    format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(token.encode_to_vec()))
}

/// Decodes a token as typed or pasted (surrounding whitespace ignored).
///
/// # Errors
/// [`TokenError`] saying which part is wrong.
pub fn decode(s: &str) -> Result<pb::EnrollmentToken, TokenError> {
    let body = s.trim().strip_prefix(PREFIX).ok_or(TokenError::Prefix)?;
    let bytes = URL_SAFE_NO_PAD
        .decode(body)
        .map_err(|_| TokenError::Base64)?;
    let token = pb::EnrollmentToken::decode(bytes.as_slice()).map_err(|_| TokenError::Decode)?;
    if token.compound.is_empty() || token.secret.len() < 16 || token.hub_key.len() != 32 {
        return Err(TokenError::Incomplete);
    }
    Ok(token)
}

/// The credential a node presents on each call (`authorization: Bearer`):
/// the token without the hub's key and certificate, which the hub does not
/// need to be told, so every call's headers are some 500 bytes smaller.
pub fn credential(token: &pb::EnrollmentToken) -> String {
    let bare = pb::EnrollmentToken {
        compound: token.compound.clone(),
        secret: token.secret.clone(),
        hub_key: Vec::new(),
        hub_ca: Vec::new(),
    };
    format!(
        "{CREDENTIAL_PREFIX}{}",
        URL_SAFE_NO_PAD.encode(bare.encode_to_vec())
    )
}

/// What a caller presents, as a credential or a whole token: the compound
/// and the secret.
///
/// # Errors
/// [`TokenError`] saying which part is wrong.
pub fn decode_credential(s: &str) -> Result<pb::EnrollmentToken, TokenError> {
    let s = s.trim();
    let Some(body) = s.strip_prefix(CREDENTIAL_PREFIX) else {
        return decode(s);
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(body)
        .map_err(|_| TokenError::Base64)?;
    let token = pb::EnrollmentToken::decode(bytes.as_slice()).map_err(|_| TokenError::Decode)?;
    if token.compound.is_empty() || token.secret.len() < 16 {
        return Err(TokenError::Incomplete);
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_errors() {
        let token = pb::EnrollmentToken {
            compound: "HM001".into(),
            secret: vec![7; 32],
            hub_key: vec![1; 32],
            hub_ca: vec![2; 8],
        };
        let s = encode(&token);
        assert_eq!(decode(&format!(" {s}\n")), Ok(token.clone()));
        assert_eq!(decode("xx"), Err(TokenError::Prefix));
        assert_eq!(decode("lf1.!!"), Err(TokenError::Base64));

        // The credential carries the compound and secret, and is shorter.
        let credential = credential(&token);
        assert!(credential.len() < s.len());
        let presented = decode_credential(&credential).unwrap();
        assert_eq!(
            (presented.compound.as_str(), presented.secret.as_slice()),
            ("HM001", &[7; 32][..])
        );
        assert_eq!(
            decode_credential(&s),
            Ok(token),
            "a whole token still serves"
        );
        assert_eq!(decode_credential("lfc1.!!"), Err(TokenError::Base64));
        assert!(
            decode(&credential).is_err(),
            "a credential is not a token to init with"
        );
    }
}
