//! The SDK carries its own copy of the WIT (so that it builds from a git or registry dependency,
//! not only inside a Herald checkout); this keeps the copy identical to the repository's `wit/`,
//! which the host is built from.

use std::path::Path;

#[test]
fn the_sdks_wit_is_the_repositorys() {
    let sdk = Path::new(env!("CARGO_MANIFEST_DIR"));
    let read = |path: &Path| {
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    };
    let ours = read(&sdk.join("wit/plugin.wit"));
    let hosts = read(&sdk.join("../wit/plugin.wit"));
    assert!(
        ours == hosts,
        "sdk/wit/plugin.wit differs from wit/plugin.wit: copy it (cp wit/plugin.wit sdk/wit/)"
    );
}
