//! The README's examples, read by the tests that run them: the fenced blocks of a section.

use std::path::Path;

/// The fenced code blocks of one `## section` of the README, as (info string, body).
pub(crate) fn readme_blocks(section: &str) -> Vec<(String, String)> {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .unwrap();
    let heading = format!("## {section}");
    let mut blocks = Vec::new();
    let mut lines = readme
        .lines()
        .skip_while(|l| *l != heading)
        .skip(1)
        .take_while(|l| !l.starts_with("## "));
    while let Some(line) = lines.next() {
        let Some(info) = line.strip_prefix("```") else {
            continue;
        };
        let body: Vec<&str> = lines
            .by_ref()
            .take_while(|l| !l.starts_with("```"))
            .collect();
        blocks.push((info.to_string(), body.join("\n") + "\n"));
    }
    assert!(
        !blocks.is_empty(),
        "the README has no section {heading:?} with code"
    );
    blocks
}

/// The blocks of a README section whose info string names a file (`file=NAME`): (name, body).
pub(crate) fn readme_files(section: &str) -> Vec<(String, String)> {
    readme_blocks(section)
        .into_iter()
        .filter_map(|(info, body)| {
            info.split_whitespace()
                .find_map(|word| word.strip_prefix("file="))
                .map(|name| (name.to_string(), body))
        })
        .collect()
}
