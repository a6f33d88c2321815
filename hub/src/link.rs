//! Fault-injecting TCP link (being written).
