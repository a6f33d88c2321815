//! Fuzz regression: every decoder and parser on hostile bytes (being written).
