//! Process-level Unix work.
