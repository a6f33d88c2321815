//! Convergence under any batch order (being written).
