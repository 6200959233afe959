//! Every `tests/conf/invalid/NAME.conf` must fail with the lines in
//! `NAME.expected` (stunnel's exact error lines, `{file}` standing for the
//! file's absolute path). The same fixtures are checked against stunnel4
//! itself in `config_differential.rs`.

use std::path::{Path, PathBuf};

use rstunnel::config::{self, Source};

fn fixtures() -> Vec<PathBuf> {
    let mut all: Vec<PathBuf> = std::fs::read_dir("tests/conf/invalid")
        .expect("fixture dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "conf"))
        .collect();
    all.sort();
    all
}

fn expected(conf: &Path, shown_path: &str) -> Vec<String> {
    let text = std::fs::read_to_string(conf.with_extension("expected")).expect("expected file");
    text.lines()
        .map(|l| l.replace("{file}", shown_path))
        .collect()
}

#[test]
fn every_invalid_fixture_fails_with_stunnels_lines() {
    let list = fixtures();
    assert!(list.len() >= 15, "only {} fixtures", list.len());
    let mut failures = Vec::new();
    for conf in &list {
        let abs = std::fs::canonicalize(conf).expect("realpath");
        let want = expected(conf, abs.to_str().expect("utf8"));
        match config::load(&Source::File(conf.clone())) {
            Ok(_) => failures.push(format!("{}: parsed without error", conf.display())),
            Err(e) if e.lines() != want => failures.push(format!(
                "{}:\n  want {:?}\n  got  {:?}",
                conf.display(),
                want,
                e.lines()
            )),
            Err(_) => {}
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn descriptor_source_shows_the_number_as_path() {
    // stunnel's `-fd N`: messages name the descriptor number.
    let file = std::fs::File::open("tests/conf/invalid/no-equals.conf").expect("open");
    use std::os::fd::AsRawFd;
    let fd = file.as_raw_fd();
    let err = config::load(&Source::Fd(fd)).expect_err("invalid");
    assert_eq!(
        err.to_string(),
        format!("{fd}:4: \"this line has no equals\": No '=' found")
    );
}

#[test]
fn missing_file_and_bad_descriptor() {
    let err = config::load(&Source::File("no-such-file.conf".into())).expect_err("missing");
    assert_eq!(
        err.lines(),
        vec![
            "Invalid configuration file name \"no-such-file.conf\"".to_string(),
            "realpath: No such file or directory (2)".to_string()
        ]
    );
    assert!(!err.show_syntax);
    let err = config::load(&Source::Fd(-1)).expect_err("bad fd");
    assert_eq!(err.to_string(), "Cannot open configuration file");
    assert!(err.show_syntax);
    let err = config::load(&Source::File("tests/conf".into())).expect_err("a directory");
    assert_eq!(err.to_string(), "Cannot open configuration file");
}
