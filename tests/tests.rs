//! End-to-end tests: real hub and nodes over gRPC on 127.0.0.1, real SQLite
//! files in temp dirs, the real binaries where the interface is the point.
//! No mocks of our own components.

mod architecture;
mod cli;
mod convergence;
mod crash;
mod dashboard;
mod dayledger;
mod daylog;
mod directives;
mod federation;
mod fuzz;
mod interop;
mod ledger;
mod links;
mod log_oracle;
mod meeting;
mod node_page;
mod protocol;
mod registry;
mod resilience;
mod security;
mod simulation;
mod skew;
mod sync;
mod web_guard;
mod worker;
