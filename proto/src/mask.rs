//! Masking of personal data in outputs (being written).
