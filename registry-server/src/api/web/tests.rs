//! Pages rendered from seeded views: escaping, yanked marks, search and suggestions.

use super::{pages, views::*};
use crate::service::describe::{describe, Described, Metadata};
use std::sync::Arc;

const HOSTILE: &str = r#"
package example:evil@1.0.0;

/// <script>alert(1)</script>
interface sneaky {
    /// </code></pre><img src=x onerror=alert(1)>
    f: func();
}

world plug {
    export sneaky;
    import wasi:cli/stdout@0.2.0;
}
"#;

const STDOUT: &str = "package wasi:cli@0.2.0;\ninterface stdout { write: func(s: string); }\n";

fn hostile() -> Described {
    let mut resolve = wit_parser::Resolve::default();
    resolve.push_str("stdout.wit", STDOUT).unwrap();
    let pkg = resolve.push_str("evil.wit", HOSTILE).unwrap();
    let bytes = wit_component::encode(&resolve, pkg).unwrap();
    describe("example:evil", &bytes)
}

fn release(version: &str, yanked: bool) -> ReleaseRow {
    ReleaseRow {
        version: version.into(),
        yanked,
        yanked_at: yanked.then(|| "2026-01-02T00:00:00Z".into()),
        yanked_by: None,
        digest: Some(format!("sha256:{:064}", 0)),
        size: Some(10),
        published: "2026-01-01T00:00:00Z".into(),
        signed_by: "sha256:key".into(),
    }
}

#[test]
fn describes_a_wit_package() {
    let d = hostile();
    assert_eq!(d.kind, "wit-package");
    assert_eq!(d.interfaces, ["example:evil/sneaky"]);
    assert_eq!(d.worlds[0].name, "plug");
    assert_eq!(d.worlds[0].imports, ["wasi:cli/stdout@0.2.0"]);
    assert_eq!(d.dependencies[0].package, "wasi:cli");
    assert!(d
        .wit
        .as_deref()
        .unwrap()
        .contains("<script>alert(1)</script>"));
}

#[test]
fn search_matches_interfaces_by_short_and_full_name() {
    let d = hostile();
    assert!(d.mentions_interface("sneaky"));
    assert!(d.mentions_interface("EXAMPLE:evil/sneaky"));
    assert!(d.mentions_interface("stdout"));
    assert!(!d.mentions_interface("logger"));
}

#[test]
fn version_page_escapes_wit_and_marks_yanked() {
    let view = VersionView {
        name: "example:evil".into(),
        version: "1.0.0".into(),
        release: release("1.0.0", true),
        content: Some(Arc::new(hostile())),
        dependencies: vec![DependencyLink {
            package: "wasi:cli".into(),
            version: Some("0.2.0".into()),
            href: Some("/wasi:cli@0.2.0".into()),
        }],
        commands: Commands {
            wtool_fetch: "wtool fetch example:evil@1.0.0".into(),
            wtool_compose: "c".into(),
            wkg_get: "w".into(),
            oci_reference: "o".into(),
        },
        oci_manifest_digest: None,
    };
    let html = pages::version(&view).into_string();
    assert!(!html.contains("<script>alert"), "{html}");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!html.contains("<img src=x"));
    assert!(html.contains("yank-mark"));
    assert!(html.contains("href=\"/wasi:cli@0.2.0\""));
    assert_eq!(html.matches("<script").count(), 1, "only the embedded file");
}

#[test]
fn package_page_marks_yanked_rows_and_escapes_metadata() {
    let view = PackageView {
        name: "example:evil".into(),
        latest: Some("2.0.0".into()),
        meta: Metadata {
            description: Some("<b>x</b>".into()),
            licenses: Some("MIT".into()),
            source: Some("\"><script>".into()),
            homepage: None,
            authors: None,
        },
        releases: vec![release("2.0.0", false), release("1.0.0", true)],
        page: Page {
            page: 1,
            pages: 1,
            total: 2,
        },
        oci: crate::service::oci::OciPackageView {
            repository: "example/evil".into(),
            tags: Vec::new(),
        },
    };
    let html = pages::package(&view).into_string();
    assert_eq!(html.matches("class=\"yanked\"").count(), 1);
    assert!(html.contains("&lt;b&gt;x&lt;/b&gt;"));
    assert!(html.contains("&quot;&gt;&lt;script&gt;"));
}

#[test]
fn not_found_suggests_and_escapes() {
    let view = NotFoundView {
        status: 404,
        message: "no package or page `<x>`".into(),
        suggestion: Some("example:logging".into()),
    };
    let html = pages::not_found(&view).into_string();
    assert!(html.contains("&lt;x&gt;"));
    assert!(html.contains("href=\"/example:logging\""));
}
