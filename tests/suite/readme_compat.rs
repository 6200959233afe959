//! The README's compatibility table stays true: it lists every option of the
//! option table exactly once, and says "refused" exactly for the options the
//! reader refuses.

use rstunnel::config::options::{self, Support};

fn table_rows() -> Vec<(String, String)> {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let start = readme
        .find("| option | status | notes |")
        .expect("compatibility table");
    readme[start..]
        .lines()
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            (cells[1].trim_matches('`').to_string(), cells[2].to_string())
        })
        .collect()
}

#[test]
fn every_option_is_listed_once_with_its_status() {
    let rows = table_rows();
    for def in options::all() {
        let matching: Vec<_> = rows.iter().filter(|(name, _)| name == def.name).collect();
        assert_eq!(
            matching.len(),
            1,
            "README lists `{}` {} times",
            def.name,
            matching.len()
        );
        let status = &matching[0].1;
        let expected = match def.support {
            Support::Refused => "refused",
            Support::RefusedWhenYes => "`no` only",
            Support::Implemented => status.as_str(),
        };
        assert_eq!(status, expected, "README status of `{}`", def.name);
        if def.support == Support::Implemented {
            assert!(
                status == "yes" || status == "differs",
                "`{}`: {status}",
                def.name
            );
        }
    }
    for (name, _) in &rows {
        assert!(
            options::all().any(|d| d.name == name),
            "README lists unknown option `{name}`"
        );
    }
}

/// The README's Windows-only table lists exactly the options the reader
/// accepts and ignores as stunnel-for-Windows-only, each as "ignored".
#[test]
fn windows_only_options_are_listed_as_ignored() {
    use rstunnel::config::windows::WINDOWS_ONLY_OPTIONS;
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let start = readme
        .find("| option | status | why |")
        .expect("Windows-only table");
    let rows: Vec<(String, String)> = readme[start..]
        .lines()
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            (cells[1].trim_matches('`').to_string(), cells[2].to_string())
        })
        .collect();
    let listed: Vec<&str> = rows.iter().map(|(name, _)| name.as_str()).collect();
    let known: Vec<&str> = WINDOWS_ONLY_OPTIONS.iter().map(|o| o.name).collect();
    assert_eq!(listed, known);
    assert!(
        rows.iter().all(|(_, status)| status == "ignored"),
        "{rows:?}"
    );
}
