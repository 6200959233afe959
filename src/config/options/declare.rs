//! How an option is declared: one entry in `table.rs` gives the field it
//! writes, the field's type and typed default, the option's name, the parser,
//! the `-help` text and the `-version` default text. The [`options!`] macro
//! turns the entries into the section structs (`Global`, `ServiceOptions`,
//! which the model carries as they are), their `Default`, and the rows that the reader, `-help`,
//! `-version`, the man page and the README's compatibility test read.
//!
//! This file is a leaf: it knows no option, no section struct and no
//! parser; `table.rs` instantiates it.

/// Where an option may appear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Only before the first `[section]`.
    Global,
    /// Anywhere; in the global section it is the default for every section.
    Service,
}

/// Whether rstunnel does what the option asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    Implemented,
    /// Any use fails with `option NAME is not supported by rstunnel`.
    Refused,
    /// `NAME = no` (stunnel's default) is accepted, `NAME = yes` is refused.
    RefusedWhenYes,
}

/// Why a value or a section was rejected: stunnel's reason, plus the
/// err-level lines it logs before it (e.g. `Required ticketKeySecret is 16
/// or 32 byte hexadecimal key` before `Failed to read ticketKeySecret`).
/// The reader adds `file:line: "raw":`, the section end `Service [NAME]:`
/// (or the line of `option`, when a section-end check blames one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub before: Vec<String>,
    pub reason: String,
    /// A section-end check's verdict on one option: the reader reports it
    /// at the line that set the option (rstunnel's extensions name
    /// `file:line`; stunnel's own checks keep `Service [NAME]:`).
    pub option: Option<&'static str>,
}

impl Failure {
    pub fn with_before(before: impl Into<String>, reason: impl Into<String>) -> Self {
        Failure {
            before: vec![before.into()],
            reason: reason.into(),
            option: None,
        }
    }

    /// A section-end failure reported at the line of `option`.
    pub fn at_option(option: &'static str, reason: impl Into<String>) -> Self {
        Failure {
            before: Vec::new(),
            reason: reason.into(),
            option: Some(option),
        }
    }
}

impl From<&str> for Failure {
    fn from(reason: &str) -> Self {
        Failure {
            before: Vec::new(),
            reason: reason.to_string(),
            option: None,
        }
    }
}

impl From<String> for Failure {
    fn from(reason: String) -> Self {
        Failure {
            before: Vec::new(),
            reason,
            option: None,
        }
    }
}

/// What an option line writes: the global section's values and the values
/// of the section being read (the global section's own service-level
/// values while `in_global`). `G` and `S` are the raw section structs.
pub struct Target<'a, G, S> {
    pub global: &'a mut G,
    pub service: &'a mut S,
    /// Service-level options with a global meaning (`debug`, `service`,
    /// `setuid`, `setgid`) look at where they are.
    pub in_global: bool,
}

/// How the reader applies a line.
pub enum Apply<G: 'static, S: 'static> {
    /// Parse the value into the sections.
    Value(fn(&mut Target<'_, G, S>, &str) -> Result<(), Failure>),
    /// `include = DIR`: executed by the reader itself (it reads files).
    Include,
    /// Refused options never reach a parser.
    Nothing,
}

impl<G, S> Clone for Apply<G, S> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<G, S> Copy for Apply<G, S> {}

/// One option, as the reader and the printers see it.
pub struct OptionDef<G: 'static, S: 'static> {
    /// Spelling used by `-help` and in messages (matched case-insensitively).
    pub name: &'static str,
    pub scope: Scope,
    /// `-help` text: the first line follows `name = `, the others are
    /// continuation lines printed after 25 spaces.
    pub help: &'static [&'static str],
    /// `-version` default lines (`name = TEXT` each); empty = not printed.
    pub defaults: &'static [&'static str],
    pub apply: Apply<G, S>,
    pub support: Support,
    /// Printed by `-help`: false for aliases (`curve`, `session`), for
    /// `fips` (hidden by stunnel 5.68's non-FIPS help) and for refused
    /// 5.75-only options.
    pub listed: bool,
}

impl<G, S> OptionDef<G, S> {
    pub const fn new(name: &'static str, scope: Scope, apply: Apply<G, S>) -> Self {
        let support = match apply {
            Apply::Nothing => Support::Refused,
            _ => Support::Implemented,
        };
        OptionDef {
            name,
            scope,
            help: &[],
            defaults: &[],
            apply,
            support,
            listed: true,
        }
    }
    pub const fn help(mut self, help: &'static [&'static str]) -> Self {
        self.help = help;
        self
    }
    pub const fn default_text(mut self, defaults: &'static [&'static str]) -> Self {
        self.defaults = defaults;
        self
    }
    pub const fn unlisted(mut self) -> Self {
        self.listed = false;
        self
    }
    pub const fn refused_when_yes(mut self) -> Self {
        self.support = Support::RefusedWhenYes;
        self
    }
}

/// Declare one raw section struct and its options. Entries end with `;`:
///
/// ```text
/// /// doc
/// field: Type = default => ("name", APPLY, modifier(..), ..);   a field and its option
/// field: Type = default;                                          a field no single option sets
/// => ("name", APPLY, modifier(..), ..);                           an option without a field of its own
/// ```
///
/// APPLY is one of `set(field, parser)` (`field = parser(value)?`),
/// `push(field, parser)` (append to a list), `update(field, f)`
/// (`f(&mut field, value)`), `check(parser)` (validate, store nothing),
/// `apply(f)` (`f(&mut Target, value)`, for options that write several
/// fields), `include`, `refused`. Modifiers are [`OptionDef`]'s builders:
/// `help(&[..])`, `default_text(&[..])`, `unlisted()`, `refused_when_yes()`.
/// `field` may be a path into a nested struct (`timeouts.busy`).
#[macro_export]
macro_rules! declare_section {
    (
        $(#[$smeta:meta])*
        pub struct $Struct:ident, written as $target:ident, scope $scope:ident, rows $ROWS:ident {
            $( $( $(#[$fmeta:meta])* $field:ident : $ty:ty = $default:expr )? $( => $row:tt )? ; )*
        }
    ) => {
        $(#[$smeta])*
        #[derive(Debug, Clone, PartialEq)]
        pub struct $Struct {
            $( $( $(#[$fmeta])* pub $field: $ty, )? )*
        }

        impl Default for $Struct {
            fn default() -> Self {
                $Struct { $( $( $field: $default, )? )* }
            }
        }

        /// The options of this scope, in `stunnel -help` order.
        pub static $ROWS: &[OptionDef] = &[
            $( $( $crate::declare_section!(@row $target $scope $row), )? )*
        ];
    };

    (@row $t:ident $scope:ident ($name:literal, $($rest:tt)*)) => {
        $crate::declare_section!(@apply $t $scope $name [] $($rest)*)
    };

    // Collect the APPLY tokens up to the first top-level comma.
    (@apply $t:ident $scope:ident $name:literal [$($apply:tt)*] $(, $($mods:tt)*)?) => {
        $crate::declare_section!(@chain (OptionDef::new(
            $name,
            $crate::config::options::declare::Scope::$scope,
            $crate::declare_section!(@how $t $($apply)*),
        )) $($($mods)*)?)
    };
    (@apply $t:ident $scope:ident $name:literal [$($apply:tt)*] $next:tt $($rest:tt)*) => {
        $crate::declare_section!(@apply $t $scope $name [$($apply)* $next] $($rest)*)
    };

    // Apply the modifiers (builder calls) one by one.
    (@chain ($e:expr)) => { $e };
    (@chain ($e:expr) $m:ident $args:tt $(, $($rest:tt)*)?) => {
        $crate::declare_section!(@chain ($e.$m $args) $($($rest)*)?)
    };

    (@how $t:ident set($($field:ident).+, $parse:expr)) => {
        Apply::Value(|t: &mut Target<'_>, v: &str| {
            t.$t.$($field).+ = ($parse)(v)?;
            Ok(())
        })
    };
    (@how $t:ident push($($field:ident).+, $parse:expr)) => {
        Apply::Value(|t: &mut Target<'_>, v: &str| {
            t.$t.$($field).+.push(($parse)(v)?);
            Ok(())
        })
    };
    (@how $t:ident update($($field:ident).+, $f:expr)) => {
        Apply::Value(|t: &mut Target<'_>, v: &str| ($f)(&mut t.$t.$($field).+, v))
    };
    (@how $t:ident check($parse:expr)) => {
        Apply::Value(|_: &mut Target<'_>, v: &str| ($parse)(v).map(|_| ()))
    };
    (@how $t:ident apply($f:expr)) => {
        Apply::Value($f)
    };
    (@how $t:ident include) => {
        Apply::Include
    };
    (@how $t:ident refused) => {
        Apply::Nothing
    };
}
