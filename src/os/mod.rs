//! Process-level Unix work.
pub mod sockopt;
