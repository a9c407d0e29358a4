//! The layers ARCHITECTURE.md lists, enforced: every module of `host/src` imports only from its
//! own layer and the ones below it, no two modules of one layer import each other, and every
//! module is placed in a layer.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

/// The layers, bottom first, as ARCHITECTURE.md lists them under its `layers` marker.
fn layers(root: &Path) -> HashMap<String, usize> {
    let text = std::fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap();
    let list = text
        .split("<!-- layers:")
        .nth(1)
        .expect("ARCHITECTURE.md marks its list of layers");
    let mut layers = HashMap::new();
    for (level, line) in list
        .lines()
        .skip(1)
        .take_while(|line| line.starts_with(|c: char| c.is_ascii_digit()))
        .enumerate()
    {
        for module in line.split('`').skip(1).step_by(2) {
            layers.insert(module.to_string(), level);
        }
    }
    assert!(layers.len() > 10, "{layers:?}");
    layers
}

/// Every `.rs` file under `dir`.
fn sources(dir: &Path, files: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
}

#[test]
fn imports_point_down_the_layers_architecture_md_lists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let src = root.join("host/src");
    let layers = layers(&root);
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut wrong = Vec::new();
    // (importer, imported) pairs of one layer, for the circle check below.
    let mut sideways = BTreeSet::new();
    for file in &files {
        let relative = file.strip_prefix(&src).unwrap();
        let module = relative
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string();
        if matches!(module.as_str(), "lib" | "main") {
            continue;
        }
        let Some(&level) = layers.get(&module) else {
            wrong.push(format!("{module}: not in ARCHITECTURE.md's layers"));
            continue;
        };
        let text = std::fs::read_to_string(file).unwrap();
        for (number, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            for used in code.split("crate::").skip(1) {
                let name: String = used
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                match layers.get(&name) {
                    Some(&theirs) if theirs == level && name != module => {
                        sideways.insert((module.clone(), name));
                    }
                    Some(&theirs) if theirs > level => wrong.push(format!(
                        "{}:{}: `{module}` (layer {}) imports `{name}` (layer {})",
                        relative.display(),
                        number + 1,
                        level + 1,
                        theirs + 1
                    )),
                    _ => {}
                }
            }
        }
    }
    for (a, b) in &sideways {
        if a < b && sideways.contains(&(b.clone(), a.clone())) {
            wrong.push(format!("`{a}` and `{b}` import each other"));
        }
    }
    assert!(
        wrong.is_empty(),
        "imports that point up, or go round in a circle:\n{}",
        wrong.join("\n")
    );
}

/// Lines of `text` before its unit tests (`#[cfg(test)]` at the start of a line).
fn code_lines(text: &str) -> usize {
    text.lines()
        .take_while(|line| !line.starts_with("#[cfg(test)]"))
        .count()
}

/// Files that hold one idea stay readable: no source file of `host/src` over 500 lines before
/// its unit tests, and no end-to-end test file over 600 lines.
#[test]
fn no_file_grows_past_its_bound() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut over = Vec::new();
    for (dir, bound) in [("host/src", 500), ("tests/it", 600)] {
        let mut files = Vec::new();
        sources(&root.join(dir), &mut files);
        for file in files {
            let lines = code_lines(&std::fs::read_to_string(&file).unwrap());
            if lines > bound {
                let name = file.strip_prefix(&root).unwrap().display().to_string();
                over.push(format!("{name}: {lines} lines (bound {bound})"));
            }
        }
    }
    over.sort();
    assert!(
        over.is_empty(),
        "files past their bound:\n{}",
        over.join("\n")
    );
}

/// Handlers parse, authorise, call and answer: no route handler of `host/src/api` (a function
/// under a `#[utoipa::path]`) runs past 40 lines, signature included.
#[test]
fn handlers_stay_thin() {
    let api = Path::new(env!("CARGO_MANIFEST_DIR")).join("../host/src/api");
    let mut files = Vec::new();
    sources(&api, &mut files);
    let mut long = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let mut annotated = false;
        for (at, line) in lines.iter().enumerate() {
            if line.starts_with("#[utoipa::path(") {
                annotated = true;
            } else if annotated && line.contains("async fn ") {
                annotated = false;
                let end = lines[at..].iter().position(|l| *l == "}").unwrap_or(0);
                let name = line.split("fn ").nth(1).unwrap_or(line);
                if end + 1 > 40 {
                    let file = file.file_name().unwrap().to_string_lossy();
                    long.push(format!("{file}: {name} {} lines", end + 1));
                }
            }
        }
    }
    assert!(
        long.is_empty(),
        "handlers over 40 lines:\n{}",
        long.join("\n")
    );
}
