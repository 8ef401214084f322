//! What a component imports and exports, and the rule between two releases of one component
//! in a semver series: what it exports may only grow, and what it imports may only shrink or
//! stay, so that every composition and host that took the older release takes the newer one.

use anyhow::{anyhow, bail, Result};
use std::collections::{BTreeMap, BTreeSet};
use wit_component::DecodedWasm;
use wit_parser::{Resolve, WorldItem, WorldKey};
use wtool_compose::names;

/// A component's imports and exports by name (`ns:pkg/iface@1.2.3`, or a plain name for a
/// function), each with the functions it holds.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Surface {
    pub imports: BTreeMap<String, BTreeSet<String>>,
    pub exports: BTreeMap<String, BTreeSet<String>>,
}

/// The surface of the component in `bytes`; `what` names it in errors.
pub fn of(bytes: &[u8], what: &str) -> Result<Surface> {
    let (resolve, world) = match wit_component::decode(bytes) {
        Ok(DecodedWasm::Component(resolve, world)) => (resolve, world),
        Ok(DecodedWasm::WitPackage(..)) => bail!("{what} is a WIT package, not a component"),
        Err(e) => return Err(anyhow!("{what} is not a component: {e:#}")),
    };
    let world = &resolve.worlds[world];
    Ok(Surface {
        imports: items(&resolve, &world.imports),
        exports: items(&resolve, &world.exports),
    })
}

fn items<'a>(
    resolve: &Resolve,
    items: impl IntoIterator<Item = (&'a WorldKey, &'a WorldItem)>,
) -> BTreeMap<String, BTreeSet<String>> {
    items
        .into_iter()
        .filter_map(|(key, item)| {
            let name = resolve.name_world_key(key);
            let functions = match item {
                WorldItem::Interface { id, .. } => {
                    resolve.interfaces[*id].functions.keys().cloned().collect()
                }
                WorldItem::Function(f) => BTreeSet::from([f.name.clone()]),
                // A type is carried by the interface or function that uses it.
                WorldItem::Type { .. } => return None,
            };
            Some((name, functions))
        })
        .collect()
}

/// Checks that `newer` may replace `older` in one series; the error lists every break.
pub fn check_compatible(older: &Surface, newer: &Surface) -> Result<()> {
    let find = |set: &BTreeMap<String, BTreeSet<String>>, name: &str| {
        set.iter()
            .find(|(n, _)| names::matches(n, name))
            .map(|(_, f)| f.clone())
    };
    let mut breaks = Vec::new();
    for (name, functions) in &older.exports {
        match find(&newer.exports, name) {
            None => breaks.push(format!("it no longer exports `{name}`")),
            Some(now) => {
                let gone: Vec<_> = functions
                    .difference(&now)
                    .map(|f| format!("`{f}`"))
                    .collect();
                if !gone.is_empty() {
                    breaks.push(format!("its export `{name}` lost {}", gone.join(", ")));
                }
            }
        }
    }
    for (name, functions) in &newer.imports {
        match find(&older.imports, name) {
            None => breaks.push(format!("it newly imports `{name}`")),
            Some(before) => {
                let added: Vec<_> = functions
                    .difference(&before)
                    .map(|f| format!("`{f}`"))
                    .collect();
                if !added.is_empty() {
                    breaks.push(format!(
                        "its import `{name}` now also needs {}",
                        added.join(", ")
                    ));
                }
            }
        }
    }
    if breaks.is_empty() {
        return Ok(());
    }
    bail!("{}", breaks.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn surface(imports: &[(&str, &[&str])], exports: &[(&str, &[&str])]) -> Surface {
        let map = |items: &[(&str, &[&str])]| {
            items
                .iter()
                .map(|(n, f)| (n.to_string(), f.iter().map(|s| s.to_string()).collect()))
                .collect()
        };
        Surface {
            imports: map(imports),
            exports: map(exports),
        }
    }

    #[test]
    fn exports_may_grow_and_imports_shrink() {
        let older = surface(
            &[
                ("wasi:cli/stdout@0.2.0", &["get-stdout"]),
                ("x:y/z@1.0.0", &["f"]),
            ],
            &[("example:logging/logger@0.1.0", &["log"])],
        );
        let newer = surface(
            &[("wasi:cli/stdout@0.2.6", &["get-stdout"])],
            &[
                ("example:logging/logger@0.1.3", &["log", "flush"]),
                ("example:logging/extra@0.1.3", &["g"]),
            ],
        );
        check_compatible(&older, &newer).unwrap();
    }

    #[test]
    fn every_break_is_named() {
        let older = surface(
            &[("wasi:cli/stdout@0.2.0", &["get-stdout"])],
            &[
                ("example:logging/logger@0.1.0", &["log", "flush"]),
                ("run", &["run"]),
            ],
        );
        let newer = surface(
            &[
                ("wasi:cli/stdout@0.2.0", &["get-stdout", "extra"]),
                ("wasi:http/handler@0.2.0", &["handle"]),
            ],
            &[("example:logging/logger@0.1.1", &["log"])],
        );
        let e = check_compatible(&older, &newer).unwrap_err().to_string();
        assert!(e.contains("no longer exports `run`"), "{e}");
        assert!(
            e.contains("`example:logging/logger@0.1.0` lost `flush`"),
            "{e}"
        );
        assert!(e.contains("newly imports `wasi:http/handler@0.2.0`"), "{e}");
        assert!(e.contains("now also needs `extra`"), "{e}");
    }

    #[test]
    fn another_track_is_another_interface() {
        let older = surface(&[], &[("example:logging/logger@0.1.0", &["log"])]);
        let newer = surface(&[], &[("example:logging/logger@0.2.0", &["log"])]);
        assert!(check_compatible(&older, &newer).is_err());
    }
}
