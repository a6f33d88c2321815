//! Crash tests: kill -9 of node and hub processes (being written).
