//! Does a composition satisfy a WIT world? The rule is `wac`'s `targets` check: the component
//! may import only what the world imports (the host provides nothing else), and must export
//! everything the world exports, each with a compatible type. Unlike `wac`, every problem is
//! collected, so one run names them all, and names match on the same semver track as well as
//! exactly (a world at WASI 0.2.12 serves a component built against 0.2.6).

use serde::Serialize;
use std::fmt;
use wac_types::{ItemKind, Package, SubtypeChecker, Type, Types};

/// Why a composition misses its target world, item by item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "problem", rename_all = "kebab-case")]
pub enum Problem {
    /// The composition imports something the world does not offer.
    ExtraImport {
        /// The import.
        name: String,
    },
    /// The world requires an export the composition lacks.
    MissingExport {
        /// The export.
        name: String,
        /// What kind of item it is (`function`, `instance`, ...).
        kind: String,
    },
    /// Both sides have the import but the types do not fit.
    ImportMismatch {
        /// The import.
        name: String,
        /// What differs.
        reason: String,
    },
    /// Both sides have the export but the types do not fit.
    ExportMismatch {
        /// The export.
        name: String,
        /// What differs.
        reason: String,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::ExtraImport { name } => {
                write!(f, "imports `{name}`, which the world does not provide")
            }
            Problem::MissingExport { name, kind } => {
                write!(
                    f,
                    "does not export {kind} `{name}`, which the world requires"
                )
            }
            Problem::ImportMismatch { name, reason } => {
                write!(
                    f,
                    "import `{name}` has a type the world does not match: {reason}"
                )
            }
            Problem::ExportMismatch { name, reason } => {
                write!(
                    f,
                    "export `{name}` has a type the world does not match: {reason}"
                )
            }
        }
    }
}

/// Why the target check could not run.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// The composition does not decode.
    #[error("the composition could not be read for the target check: {0:#}")]
    Composition(anyhow::Error),
    /// The WIT package does not decode.
    #[error("{package} could not be read as a WIT package: {detail:#}")]
    Package {
        /// The package, as messages name it.
        package: String,
        /// What the decoder said.
        detail: anyhow::Error,
    },
    /// The package has no world of that name.
    #[error("{}", no_world(.package, .world, .worlds))]
    NoSuchWorld {
        /// The package, as messages name it.
        package: String,
        /// The world asked for.
        world: String,
        /// The worlds it has.
        worlds: Vec<String>,
    },
}

fn no_world(package: &str, world: &str, worlds: &[String]) -> String {
    let mut msg = format!("{package} has no world named `{world}`");
    if worlds.is_empty() {
        msg.push_str("; it defines no worlds at all");
    } else {
        msg.push_str(&format!(
            "; its worlds are: {}",
            worlds
                .iter()
                .map(|w| format!("`{w}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    msg
}

/// Checks `component` against `world` of the binary WIT package `package_bytes` (as
/// `wit-component` encodes it); `package` describes that package in messages (`ns:pkg@1.0.0
/// from registry r`). An empty list means
/// the composition satisfies the world.
pub fn check(
    component: Vec<u8>,
    package: &str,
    package_bytes: &[u8],
    world: &str,
) -> Result<Vec<Problem>, TargetError> {
    let mut types = Types::default();
    crate::input::walk_all(package_bytes).map_err(|e| TargetError::Package {
        package: package.to_string(),
        detail: e.into(),
    })?;
    let target = Package::from_bytes(package, None, package_bytes.to_vec(), &mut types).map_err(
        |detail| TargetError::Package {
            package: package.to_string(),
            detail,
        },
    )?;
    let world_id = match target.definitions().get(world) {
        Some(ItemKind::Type(Type::World(id))) => *id,
        _ => {
            return Err(TargetError::NoSuchWorld {
                package: package.to_string(),
                world: world.to_string(),
                worlds: target
                    .definitions()
                    .iter()
                    .filter(|(_, kind)| matches!(kind, ItemKind::Type(Type::World(_))))
                    .map(|(name, _)| name.clone())
                    .collect(),
            })
        }
    };
    let composed = Package::from_bytes("composition", None, component, &mut types)
        .map_err(TargetError::Composition)?;

    let world = &types[world_id];
    let actual = &types[composed.ty()];
    // Interfaces a world pulls in through `use` are imports the host provides as well.
    let implicit = world.implicit_imported_interfaces(&types);
    let mut cache = Default::default();
    let mut checker = SubtypeChecker::new(&mut cache);
    let mut problems = Vec::new();

    // The host provides the world's imports, so each is checked as a subtype of what the
    // composition expects: the inverted direction.
    checker.invert();
    for (name, kind) in &actual.imports {
        // A host that offers a newer version on the same semver track serves the import too,
        // as runtimes link `@0.2.6` to `@0.2.9`.
        let offered = implicit
            .get(name.as_str())
            .or_else(|| crate::names::lookup(&world.imports, name).map(|(_, kind)| kind));
        let Some(offered) = offered else {
            problems.push(Problem::ExtraImport { name: name.clone() });
            continue;
        };
        if let Err(e) = checker.is_subtype(offered.promote(), &types, *kind, &types) {
            problems.push(Problem::ImportMismatch {
                name: name.clone(),
                reason: format!("{e:#}"),
            });
        }
    }
    checker.revert();

    for (name, expected) in &world.exports {
        let Some((_, kind)) = crate::names::lookup(&actual.exports, name) else {
            problems.push(Problem::MissingExport {
                name: name.clone(),
                kind: expected.desc(&types).to_string(),
            });
            continue;
        };
        if let Err(e) = checker.is_subtype(*kind, &types, expected.promote(), &types) {
            problems.push(Problem::ExportMismatch {
                name: name.clone(),
                reason: format!("{e:#}"),
            });
        }
    }
    Ok(problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wit_package(src: &str) -> Vec<u8> {
        let mut resolve = wit_parser::Resolve::default();
        let id = resolve.push_str("target.wit", src).unwrap();
        wit_component::encode(&resolve, id).unwrap()
    }

    fn component(wat: &str) -> Vec<u8> {
        wat::parse_str(wat).unwrap()
    }

    const WORLD: &str = r#"
        package test:target;
        interface log { log: func(msg: string); }
        world service {
            import log;
            export run: func() -> u32;
        }
    "#;

    #[test]
    fn a_component_that_fits_has_no_problems() {
        let c = component(
            r#"(component
                (import "test:target/log" (instance (export "log" (func (param "msg" string)))))
                (core module $m (func (export "run") (result i32) i32.const 1))
                (core instance $i (instantiate $m))
                (func (export "run") (result u32) (canon lift (core func $i "run"))))"#,
        );
        assert_eq!(
            check(c, "test:target", &wit_package(WORLD), "service").unwrap(),
            []
        );
    }

    #[test]
    fn every_problem_is_named() {
        let c = component(
            r#"(component
                (import "test:target/log" (instance (export "log" (func (param "msg" u32)))))
                (import "wasi:cli/stdout@0.2.0" (instance)))"#,
        );
        let problems = check(c, "test:target", &wit_package(WORLD), "service").unwrap();
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(
            matches!(&problems[0], Problem::ImportMismatch { name, .. } if name == "test:target/log")
        );
        assert_eq!(
            problems[1],
            Problem::ExtraImport {
                name: "wasi:cli/stdout@0.2.0".into()
            }
        );
        assert_eq!(
            problems[2],
            Problem::MissingExport {
                name: "run".into(),
                kind: "function".into()
            }
        );
    }

    #[test]
    fn an_unknown_world_lists_the_real_ones() {
        let c = component("(component)");
        let err = check(c, "test:target", &wit_package(WORLD), "servic").unwrap_err();
        assert_eq!(
            err.to_string(),
            "test:target has no world named `servic`; its worlds are: `service`"
        );
    }
}
