//! The shape of src/: no two files import each other in a circle
//! (`scripts/import-cycles`, which also prints every edge with `--edges`).

use std::process::Command;

/// Circles allowed today: none. A new one fails with its files listed.
const KNOWN: &[&str] = &[];

#[test]
fn no_file_imports_another_in_a_circle() {
    let out = Command::new("scripts/import-cycles")
        .output()
        .expect("run scripts/import-cycles (python3)");
    let found: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    let known: Vec<String> = KNOWN
        .iter()
        .map(|k| k.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(
        found, known,
        "import circles changed (left: now, right: the known list); \
         `scripts/import-cycles --edges` shows every edge"
    );
}
