//! Generates the man page `doc/rstunnel.8` from its one source: the prose
//! template `doc/rstunnel.8.in` and the option table, read through
//! `rstunnel::cli::help_lines()` (the `-help` text) and
//! `rstunnel::config::options::lookup` (which options rstunnel refuses).
//!
//! ```sh
//! cargo run --example gen_man -- doc/rstunnel.8   # rewrite the page
//! cargo run --example gen_man                     # print it
//! ```
//!
//! It does not install anything (`make install` copies the committed page)
//! and is not run by the build: `tests/suite/packaging_man.rs` includes this file
//! and fails when the committed page differs from a fresh generation.

use rstunnel::config::options::{lookup, Lookup, Support};

/// Path of the template, relative to the crate root.
pub const TEMPLATE: &str = "doc/rstunnel.8.in";
/// Path of the generated page, relative to the crate root.
pub const PAGE: &str = "doc/rstunnel.8";

/// `-help` prints continuation lines after this many spaces.
const CONTINUATION: &str = "                         ";

/// The page for the crate this was built with.
pub fn generate() -> Result<String, String> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(TEMPLATE);
    let template = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    render(
        &template,
        env!("CARGO_PKG_VERSION"),
        &rstunnel::cli::help_lines(),
    )
}

/// Fill `template`: `@VERSION@` anywhere, and the line `@OPTIONS@` with the
/// option list made from `help` (the `-help` lines).
pub fn render(template: &str, version: &str, help: &[String]) -> Result<String, String> {
    let options = options_section(help)?;
    let mut out = String::new();
    let mut placed = false;
    // The template's leading comment is about the template itself.
    let body = template
        .lines()
        .skip_while(|line| line.starts_with(".\\\""));
    for line in body {
        if line == "@OPTIONS@" {
            out.push_str(&options);
            placed = true;
        } else {
            out.push_str(&line.replace("@VERSION@", version));
            out.push('\n');
        }
    }
    if !placed {
        return Err(format!("{TEMPLATE} has no @OPTIONS@ line"));
    }
    Ok(format!(
        ".\\\" Generated from {TEMPLATE} by examples/gen_man.rs: do not edit.\n{out}"
    ))
}

/// One `.SS` per `-help` block, one `.TP` per option: the name in bold,
/// then its help text (a `-help` continuation line on a line of its own),
/// then
/// what rstunnel refuses.
fn options_section(help: &[String]) -> Result<String, String> {
    /// An option being collected: name, global block or not, help lines.
    struct Entry<'a>(&'a str, bool, Vec<&'a str>);
    fn flush(out: &mut String, entry: Option<Entry<'_>>) {
        let Some(Entry(name, in_global, text)) = entry else {
            return;
        };
        out.push_str(&format!(".TP\n.B {}\n", roff_text(name)));
        for (i, line) in text.iter().enumerate() {
            // A continuation line of `-help` starts a new line of the
            // entry, unless it is indented further (it continues a list).
            if i > 0 && !line.starts_with(' ') {
                out.push_str(".br\n");
            }
            out.push_str(&roff_text(line.trim()));
            out.push('\n');
        }
        if let Some(note) = refusal(name, in_global) {
            out.push_str(&format!(".br\n{note}\n"));
        }
    }

    let mut out = String::new();
    let mut in_global = true;
    let mut entry: Option<Entry> = None;
    let mut options = 0;
    for line in help {
        if line.trim().is_empty() {
            continue;
        }
        if let Some(cont) = line.strip_prefix(CONTINUATION) {
            match entry.as_mut() {
                Some(Entry(_, _, text)) => text.push(cont),
                None => return Err(format!("continuation line before any option: {line:?}")),
            }
            continue;
        }
        flush(&mut out, entry.take());
        if let Some(title) = line.strip_suffix(':') {
            in_global = title.starts_with("Global");
            out.push_str(&format!(".SS \"{}\"\n", roff_text(title)));
            continue;
        }
        let Some((name, text)) = line.split_once(" = ") else {
            return Err(format!("unexpected -help line: {line:?}"));
        };
        options += 1;
        entry = Some(Entry(name.trim(), in_global, vec![text.trim()]));
    }
    flush(&mut out, entry);
    if options == 0 {
        return Err("-help listed no option".to_string());
    }
    Ok(out)
}

/// What rstunnel does not accept of option `name`, from the table.
fn refusal(name: &str, in_global: bool) -> Option<&'static str> {
    match lookup(name, in_global) {
        Lookup::Found(def) => match def.support {
            Support::Implemented => None,
            Support::Refused => Some("\\fINot supported by rstunnel: refused at start\\-up.\\fR"),
            Support::RefusedWhenYes => Some(
                "\\fIrstunnel accepts only \\fBno\\fI; \\fByes\\fI is refused at start\\-up.\\fR",
            ),
        },
        Lookup::NotValidHere => None,
    }
}

/// Text as roff shows it literally: backslashes escaped, `-` as the ASCII
/// minus (so values can be copied), no control character at line start.
fn roff_text(text: &str) -> String {
    let escaped = text.replace('\\', "\\e").replace('-', "\\-");
    if escaped.starts_with('.') || escaped.starts_with('\'') {
        format!("\\&{escaped}")
    } else {
        escaped
    }
}

#[allow(dead_code)]
fn main() -> std::process::ExitCode {
    let page = match generate() {
        Ok(page) => page,
        Err(e) => {
            eprintln!("gen_man: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match std::env::args().nth(1) {
        Some(path) => {
            if let Err(e) = std::fs::write(&path, page) {
                eprintln!("gen_man: cannot write {path}: {e}");
                return std::process::ExitCode::FAILURE;
            }
        }
        None => print!("{page}"),
    }
    std::process::ExitCode::SUCCESS
}
