//! A plan written as a WAC document, so that a user can start from a `--plug`/`--wire` command
//! line and edit the graph by hand. The document binds the inputs in the order the composer
//! builds its graph (see `composition::wire`), so composing it gives the same bytes.

use crate::plan::{InputId, Plan};
use std::fmt::{self, Write};

/// Words the WAC grammar reserves; an identifier spelled like one is written `%word`.
const KEYWORDS: &[&str] = &[
    "as",
    "bool",
    "borrow",
    "char",
    "constructor",
    "enum",
    "export",
    "f32",
    "f64",
    "flags",
    "func",
    "import",
    "include",
    "interface",
    "let",
    "list",
    "new",
    "option",
    "own",
    "package",
    "record",
    "resource",
    "result",
    "s16",
    "s32",
    "s64",
    "s8",
    "static",
    "string",
    "targets",
    "tuple",
    "type",
    "u16",
    "u32",
    "u64",
    "u8",
    "use",
    "variant",
    "with",
    "world",
];

/// The package name a WAC document declares for itself.
pub const DOCUMENT_PACKAGE: &str = "wtool:composition";

/// One package a document instantiates, and the input it stands for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DocumentPackage {
    /// The package name in the document (`plug:logger`).
    pub name: String,
    /// The input's position among the inputs (the socket first).
    pub input: InputId,
}

/// A composition as a WAC document.
#[derive(Clone, Debug)]
pub struct WacDocument {
    /// The packages the document instantiates, in the inputs' order: each must be given to
    /// `wac` (or `wtool compose FILE.wac`) as `--dep NAME=FILE`.
    pub packages: Vec<DocumentPackage>,
    /// The inputs left out because nothing uses them.
    pub unused: Vec<InputId>,
    body: String,
}

impl WacDocument {
    /// The document for `plan`: `names` holds each input's package name and instance
    /// identifier, `exports` what the composition exports, by instance and name, in order.
    pub fn new(plan: &Plan, names: &[(&str, &str)], exports: &[(InputId, String)]) -> Self {
        let id = |input: InputId| identifier(names[input.index()].1);
        let mut body = String::new();
        for input in plan.instantiation_order() {
            let links: Vec<_> = plan.links.iter().filter(|l| l.consumer == input).collect();
            let open = plan.unfilled.iter().any(|u| u.consumer == input);
            let package = names[input.index()].0;
            let _ = write!(body, "let {} = new {package} {{", id(input));
            if links.is_empty() && !open {
                body.push_str("};\n");
                continue;
            }
            if links.is_empty() {
                body.push_str(" ... };\n");
                continue;
            }
            body.push('\n');
            for link in links {
                let _ = writeln!(
                    body,
                    "  {}: {}[{}],",
                    quoted(&link.import),
                    id(link.provider),
                    quoted(&link.export)
                );
            }
            if open {
                body.push_str("  ...\n");
            }
            body.push_str("};\n");
        }
        body.push('\n');
        for (input, name) in exports {
            let _ = writeln!(body, "export {}[{}];", id(*input), quoted(name));
        }
        let mut used: Vec<InputId> = plan.used.clone();
        used.sort();
        WacDocument {
            packages: used
                .iter()
                .map(|&input| DocumentPackage {
                    name: names[input.index()].0.to_string(),
                    input,
                })
                .collect(),
            unused: (0..names.len())
                .map(|i| {
                    if i == 0 {
                        InputId::SOCKET
                    } else {
                        InputId::plug(i - 1)
                    }
                })
                .filter(|input| !plan.is_used(*input))
                .collect(),
            body,
        }
    }
}

impl fmt::Display for WacDocument {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "package {DOCUMENT_PACKAGE};\n")?;
        f.write_str(&self.body)
    }
}

fn identifier(name: &str) -> String {
    if KEYWORDS.contains(&name) {
        format!("%{name}")
    } else {
        name.to_string()
    }
}

fn quoted(name: &str) -> String {
    format!("\"{name}\"")
}
