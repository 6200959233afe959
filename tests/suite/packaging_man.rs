//! The man page rstunnel(8): the committed `doc/rstunnel.8` is exactly what
//! `examples/gen_man.rs` makes from `doc/rstunnel.8.in` and the option table
//! today (so the page cannot drift from `rstunnel -help`), it lists every
//! option, and groff / man render it without a warning.
//!
//! The rendering checks are skipped, with a message, when `groff` is not
//! installed (apt package groff-base, listed in scripts/test-deps).

#[path = "../../examples/gen_man.rs"]
mod gen_man;

use crate::common::peers;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn page_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(gen_man::PAGE)
}

#[test]
fn committed_page_is_freshly_generated() {
    let fresh = gen_man::generate().expect("generate the page");
    let committed = std::fs::read_to_string(page_path()).expect("read doc/rstunnel.8");
    if fresh != committed {
        let line = fresh
            .lines()
            .zip(committed.lines())
            .position(|(a, b)| a != b)
            .map(|i| i + 1)
            .unwrap_or_else(|| fresh.lines().count().min(committed.lines().count()) + 1);
        panic!(
            "doc/rstunnel.8 is stale (first difference at line {line}); run\n  \
             cargo run --example gen_man -- doc/rstunnel.8"
        );
    }
}

#[test]
fn page_lists_every_option_and_what_is_refused() {
    let page = gen_man::generate().expect("generate the page");
    let help = rstunnel::cli::help_lines();
    let names: Vec<&str> = help
        .iter()
        .filter_map(|l| l.split_once(" = "))
        .map(|(name, _)| name.trim())
        .filter(|name| !name.is_empty())
        .collect();
    assert!(names.len() > 50, "-help listed only {names:?}");
    for name in &names {
        let entry = format!(".TP\n.B {}\n", name.replace('-', "\\-"));
        assert!(page.contains(&entry), "no entry for {name} in the page");
    }
    // `engine` is refused by the option table; `fips` is not listed by
    // -help, like stunnel 5.68's.
    let engine = page.split(".TP\n.B engine\n").nth(1).expect("engine entry");
    let engine = engine.split(".TP").next().unwrap_or_default();
    assert!(engine.contains("Not supported by rstunnel"), "{engine}");
    let chroot = page.split(".TP\n.B chroot\n").nth(1).expect("chroot entry");
    let chroot = chroot.split(".TP").next().unwrap_or_default();
    assert!(!chroot.contains("Not supported"), "{chroot}");
    for section in [
        "NAME",
        "SYNOPSIS",
        "DESCRIPTION",
        "OPTIONS",
        "DIFFERENCES FROM STUNNEL",
        "FILES",
        "SIGNALS",
        "EXAMPLES",
        "SEE ALSO",
    ] {
        assert!(page.contains(&format!("\n.SH {section}\n")), "no {section}");
    }
    assert!(!page.contains('@'), "a placeholder was left in the page");
}

/// Run `cmd` on the page; return (success, stdout, stderr).
fn render(cmd: &mut Command) -> (bool, String, String) {
    let out = cmd
        .env("LC_ALL", "C.UTF-8")
        .env("MANWIDTH", "80")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn groff_renders_the_page_without_warnings() {
    if !peers::have(
        "groff_renders_the_page_without_warnings",
        "groff",
        "groff-base",
    ) {
        return;
    }
    let (ok, text, err) = render(
        Command::new("groff")
            .args(["-man", "-Tutf8", "-ww", "-P-cbou"])
            .arg(page_path()),
    );
    assert!(ok && err.is_empty(), "groff failed or warned:\n{err}");
    // Justified text: compare with single spaces.
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(text.contains("rstunnel - TLS offloading"), "{text}");
    assert!(text.contains("Not supported by rstunnel"), "{text}");
}

#[test]
fn man_renders_the_page_without_warnings() {
    if !peers::have("man_renders_the_page_without_warnings", "man", "man-db") {
        return;
    }
    let (ok, text, err) = render(
        Command::new("man")
            .args(["--warnings", "-l"])
            .arg(page_path()),
    );
    assert!(ok && err.is_empty(), "man failed or warned:\n{err}");
    for needle in [
        "RSTUNNEL(8)",
        "SIGUSR1",
        "verifyChain",
        "/run/rstunnel/rstunnel.pid",
    ] {
        assert!(text.contains(needle), "no {needle:?} in:\n{text}");
    }
}
