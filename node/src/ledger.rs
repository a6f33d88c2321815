//! Reads compound ledgers (CSV or xlsx) into typed rows (STUB: being written).
