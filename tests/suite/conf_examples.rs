//! Every shipped sample (conf/) and every real-world example (tests/conf/
//! valid/, the ../shared/conf-examples files adapted only where stunnel
//! itself would refuse them) passes `rstunnel -test`: syntax and values are
//! checked and each service's TLS policy is built, without opening
//! certificate files or sockets.

use crate::common;

use std::path::Path;
use std::process::Command;

use common::Impl;

fn check(path: &Path) {
    let out = Command::new(Impl::Rstunnel.program())
        .arg("-test")
        .arg(path)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{} failed -test:\n{err}",
        path.display()
    );
    let text = std::fs::read_to_string(path).unwrap();
    for line in text.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            assert!(
                err.contains(&format!("Service [{name}]:")),
                "no policy for [{name}] in:\n{err}"
            );
        }
    }
    assert!(err.contains("security level: "), "{err}");
}

fn all_in(dir: &str) -> Vec<std::path::PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut files: Vec<_> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "conf"))
        .collect();
    files.sort();
    assert!(!files.is_empty());
    files
}

#[test]
fn shipped_samples_pass_the_check() {
    for f in all_in("conf") {
        check(&f);
    }
}

#[test]
fn real_world_examples_pass_the_check() {
    for f in all_in("tests/conf/valid") {
        check(&f);
    }
}
