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
    let (resolve, world) = match wtool_compose::input::decode_wit(bytes) {
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
    let mut breaks = Vec::new();
    // Whatever the older release exported, the newer one still exports ...
    for (name, gone) in uncovered(&older.exports, &newer.exports) {
        breaks.push(match gone {
            None => format!("it no longer exports `{name}`"),
            Some(gone) => format!("its export `{name}` lost {gone}"),
        });
    }
    // ... and whatever the newer one imports, the older one imported.
    for (name, added) in uncovered(&newer.imports, &older.imports) {
        breaks.push(match added {
            None => format!("it newly imports `{name}`"),
            Some(added) => format!("its import `{name}` now also needs {added}"),
        });
    }
    if breaks.is_empty() {
        return Ok(());
    }
    bail!("{}", breaks.join("; "))
}

/// The items of `items` that `within` lacks (`None`), or lacks functions of (the functions,
/// listed), matching names along their semver track.
fn uncovered<'a>(
    items: &'a BTreeMap<String, BTreeSet<String>>,
    within: &BTreeMap<String, BTreeSet<String>>,
) -> Vec<(&'a str, Option<String>)> {
    let mut found = Vec::new();
    for (name, functions) in items {
        let Some((_, there)) = within.iter().find(|(n, _)| names::matches(n, name)) else {
            found.push((name.as_str(), None));
            continue;
        };
        let missing: Vec<_> = functions
            .difference(there)
            .map(|f| format!("`{f}`"))
            .collect();
        if !missing.is_empty() {
            found.push((name.as_str(), Some(missing.join(", "))));
        }
    }
    found
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
