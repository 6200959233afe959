//! Every stunnel option, declared once (`table.rs`, with the grammar in
//! `declare.rs`): the field it writes in the raw section structs, its typed
//! default, its parser, its `-help` and `-version` texts. The reader looks
//! names up here; `-help`, `-version`, the man page and the README's
//! compatibility test are generated from or checked against the same rows
//! (as stunnel's `options.c` does with its per-option commands).
//!
//! Parsers live in `values` (shared: booleans, numbers, paths) and in the
//! family files (`global`, `net`, `tls`, `verify`, `timeouts`),
//! which know neither the table nor the section structs: they take a value
//! (and, for options that update a field, that field). Rules that need the
//! whole section (endpoints, certificate, SNI primary…) are in `resolve`.

pub mod declare;
pub mod global;
pub mod net;
mod table;
pub mod timeouts;
pub mod tls;
pub mod values;
pub mod verify;

pub use declare::{Failure, Scope, Support};
pub use table::{all, Apply, Global, OptionDef, ServiceOptions, Target};

/// Result of looking a name up for the section being read.
pub enum Lookup {
    Found(&'static OptionDef),
    /// stunnel's `Specified option name is not valid here`: unknown, or a
    /// global-only option after the first `[section]`.
    NotValidHere,
}

/// Find `name` (case-insensitively). In the global section, global-only
/// options are tried first, then service-level ones (stunnel's order).
pub fn lookup(name: &str, in_global: bool) -> Lookup {
    let found = all()
        .filter(|d| d.name.eq_ignore_ascii_case(name))
        .find(|d| in_global || d.scope == Scope::Service);
    match found {
        Some(def) => Lookup::Found(def),
        None => Lookup::NotValidHere,
    }
}

/// The message for a refused option.
pub fn refused_reason(def: &OptionDef) -> String {
    format!("option {} is not supported by rstunnel", def.name)
}

#[cfg(test)]
mod tests;
