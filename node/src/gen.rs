//! Deterministic street generator (STUB: being written).
