//! What `wtool fetch` leaves in a project: the lock's entries and the packages in `wit/deps`.

use std::path::Path;

/// Every locked version in `project/wkg.lock` as (name, requirement, version, digest), in file
/// order; the lock must be wkg's version 1.
pub fn lock_entries(project: &Path) -> Vec<(String, String, String, String)> {
    let text = std::fs::read_to_string(project.join("wkg.lock")).expect("a wkg.lock");
    let lock: toml::Value = toml::from_str(&text).expect("a TOML lock");
    assert_eq!(lock["version"].as_integer(), Some(1), "wkg's lock version");
    let mut out = Vec::new();
    for p in lock["packages"].as_array().expect("a packages array") {
        for v in p["versions"].as_array().expect("a versions array") {
            let field = |table: &toml::Value, key: &str| {
                table[key].as_str().expect("a string field").to_string()
            };
            out.push((
                field(p, "name"),
                field(v, "requirement"),
                field(v, "version"),
                field(v, "digest"),
            ));
        }
    }
    out
}

/// The directory names under `project/wit/deps`, sorted.
pub fn deps(project: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(project.join("wit/deps"))
        .expect("a wit/deps directory")
        .map(|e| {
            e.expect("a readable entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}
