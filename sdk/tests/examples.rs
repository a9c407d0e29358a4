//! Every public item of the SDK shows an example in its documentation: the functions, types,
//! traits and macros a plugin author calls (the bindings' glue, `__`-prefixed, is not API).

use std::path::Path;

#[test]
fn every_public_item_has_an_example() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        let file = path.file_name().unwrap().to_string_lossy().to_string();
        if file == "export.rs" {
            continue; // the export macro's glue, hidden from the docs
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for (index, line) in lines.iter().enumerate() {
            let item = line.trim_start();
            let public = ["pub fn ", "pub struct ", "pub enum ", "pub trait "]
                .iter()
                .any(|p| item.starts_with(p))
                || *line == "#[macro_export]";
            if !public {
                continue;
            }
            // The doc block above the item (and above its attributes).
            let docs: Vec<&str> = lines[..index]
                .iter()
                .rev()
                .map(|l| l.trim_start())
                .take_while(|l| l.starts_with("///") || l.starts_with("#["))
                .collect();
            if !docs.iter().any(|l| l.starts_with("/// ```")) {
                missing.push(format!("{file}:{}: {}", index + 1, item));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "public items without an example:\n{}",
        missing.join("\n")
    );
}
