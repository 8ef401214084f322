//! Binary WIT packages: decoding what a registry serves, naming it, finding what it depends on,
//! printing it as WIT text, building one from a `wit/` directory, and the semver check between
//! two versions of one package.

use anyhow::{anyhow, bail, Context, Result};
use semver::{Version, VersionReq};
use std::collections::BTreeSet;
use std::path::Path;
use wasm_pkg_common::package::PackageRef;
use wasmparser::names::{ComponentName, ComponentNameKind};
use wasmparser::{
    BinaryReader, ComponentExport, ComponentExternName, ComponentExternalKind, ComponentType,
    ComponentTypeDeclaration, InstanceTypeDeclaration, SectionLimited, WasmFeatures,
};
use wit_component::DecodedWasm;
use wit_parser::{PackageId, PackageName, Resolve};
use wtool_compose::input::ArtifactKind;
use wtool_compose::sections::Sections;

pub struct WitPackage {
    pub resolve: Resolve,
    pub id: PackageId,
}

pub enum Decoded {
    Package(Box<WitPackage>),
    Component,
}

/// Decodes a registry artifact; `what` names it in errors (`acme:x@1.0.0 from registry r`).
pub fn decode(bytes: &[u8], what: &str) -> Result<Decoded> {
    // wit-component reads a core module's declared counts before it checks them, and an
    // 18-byte module can make it allocate gigabytes; a core module is neither kind anyway.
    if let Ok(ArtifactKind::CoreModule) = wtool_compose::input::header_kind("", bytes) {
        bail!("{what} is a core WebAssembly module, neither a WIT package nor a component");
    }
    match wtool_compose::input::decode_wit(bytes) {
        Ok(DecodedWasm::WitPackage(resolve, id)) => {
            Ok(Decoded::Package(Box::new(WitPackage { resolve, id })))
        }
        Ok(DecodedWasm::Component(..)) => Ok(Decoded::Component),
        Err(e) => Err(anyhow!(
            "{what} is neither a WIT package nor a component: {e:#}"
        )),
    }
}

/// What a binary WIT package says about itself, read without validating it: its own name and
/// every other package its definitions refer to. That is all following the dependency graph
/// needs, and validating a package whose types nest deeply costs many times more than reading
/// it.
#[derive(Debug, PartialEq, Eq)]
pub struct Outline {
    pub name: PackageName,
    pub deps: Vec<(PackageRef, VersionReq)>,
}

/// `None` when the bytes are not shaped like a WIT package in the current (v2) encoding;
/// decoding them then says what they are.
pub fn outline(bytes: &[u8]) -> Option<Outline> {
    // Component section ids: custom, type and export sections.
    const CUSTOM: u8 = 0;
    const TYPE: u8 = 7;
    const EXPORT: u8 = 11;
    if wtool_compose::input::header_kind("", bytes).ok()? != ArtifactKind::Component {
        return None;
    }
    let mut own = BTreeSet::new();
    let mut named = BTreeSet::new();
    for section in Sections::new(bytes).ok()? {
        let section = section.ok()?;
        let reader = || {
            let mut reader = BinaryReader::new(section.data, section.body.start as u64);
            reader.set_features(WasmFeatures::all());
            reader
        };
        match section.id {
            CUSTOM => {}
            TYPE => {
                wtool_compose::type_nesting::check_section(section.data, section.body.start as u64)
                    .ok()?;
                let types: SectionLimited<ComponentType> = SectionLimited::new(reader()).ok()?;
                for ty in types {
                    // Each top-level type is one interface or world of the package; what it
                    // exports is that interface or world, under the package's own name.
                    let ComponentType::Component(decls) = ty.ok()? else {
                        return None;
                    };
                    for decl in decls.iter() {
                        match decl {
                            ComponentTypeDeclaration::Export { name, .. } => {
                                own.insert(package_of(name)??);
                            }
                            other => referenced_by_component_decl(other, &mut named)?,
                        }
                    }
                }
            }
            EXPORT => {
                let exports: SectionLimited<ComponentExport> =
                    SectionLimited::new(reader()).ok()?;
                for export in exports {
                    let export = export.ok()?;
                    let label = matches!(
                        ComponentName::new(export.name.name, 0).ok()?.kind(),
                        ComponentNameKind::Label(_)
                    );
                    if export.kind != ComponentExternalKind::Type || !label {
                        return None;
                    }
                }
            }
            _ => return None,
        }
    }
    let mut own = own.into_iter();
    let (Some(name), None) = (own.next(), own.next()) else {
        return None;
    };
    let deps = named
        .into_iter()
        .filter(|n| *n != name)
        .map(|n| requirement(&n).ok())
        .collect::<Option<_>>()?;
    Some(Outline { name, deps })
}

fn referenced_by_component_decl(
    decl: &ComponentTypeDeclaration,
    named: &mut BTreeSet<PackageName>,
) -> Option<()> {
    match decl {
        ComponentTypeDeclaration::Import(import) => named.extend(package_of(&import.name)?),
        ComponentTypeDeclaration::Export { name, .. } => named.extend(package_of(name)?),
        ComponentTypeDeclaration::Type(ty) => referenced_by_type(ty, named)?,
        _ => {}
    }
    Some(())
}

fn referenced_by_type(ty: &ComponentType, named: &mut BTreeSet<PackageName>) -> Option<()> {
    match ty {
        ComponentType::Component(decls) => {
            for decl in decls.iter() {
                referenced_by_component_decl(decl, named)?;
            }
        }
        ComponentType::Instance(decls) => {
            for decl in decls.iter() {
                if let InstanceTypeDeclaration::Type(ty) = decl {
                    referenced_by_type(ty, named)?;
                }
            }
        }
        _ => {}
    }
    Some(())
}

/// The package an import or export name belongs to: `Some(None)` for a plain label, `None`
/// for a name that does not parse.
fn package_of(name: &ComponentExternName) -> Option<Option<PackageName>> {
    let parsed = ComponentName::new(name.name, 0).ok()?;
    Some(match parsed.kind() {
        ComponentNameKind::Interface(i) => {
            // The package is what comes before the first `/`. wasmparser's `namespace()` and
            // `package()` look for the last `:` of the whole name, and a version may hold one
            // too: `a:b/c@0.1:0` made them slice out of bounds (found by fuzzing).
            let (package, _) = i.as_str().split_once('/')?;
            let (namespace, package) = package.rsplit_once(':')?;
            Some(PackageName {
                namespace: namespace.to_string(),
                name: package.to_string(),
                version: i.version(name.version_suffix).ok()?,
            })
        }
        _ => None,
    })
}

/// Whether `bytes` are a binary WIT package (not a component, not garbage). The outline answers
/// for the current encoding without validating; only other shapes are decoded.
pub fn is_wit_package(bytes: &[u8]) -> bool {
    outline(bytes).is_some() || matches!(decode(bytes, "a blob"), Ok(Decoded::Package(_)))
}

/// `id` of `resolve` as WIT text, as `wit/deps/<dir>/package.wit` holds it.
pub fn print_package(resolve: &Resolve, id: PackageId) -> Result<String> {
    let mut printer = wit_component::WitPrinter::default();
    printer.print(resolve, id, &[])?;
    Ok(printer.output.to_string())
}

impl WitPackage {
    pub fn name(&self) -> &PackageName {
        &self.resolve.packages[self.id].name
    }

    /// Every other package the binary embeds: the ones its types refer to, transitively. The
    /// outline's test and the fuzz target hold the outline to it.
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn dependencies(&self) -> Result<Vec<(PackageRef, VersionReq)>> {
        let mut deps = Vec::new();
        for (id, pkg) in self.resolve.packages.iter() {
            if id != self.id {
                deps.push(requirement(&pkg.name)?);
            }
        }
        Ok(deps)
    }

    /// Gives an unversioned package the version it is published under, so two releases of it
    /// can sit side by side for the semver check.
    pub fn assign_version(&mut self, version: &Version) {
        let old = self.resolve.packages[self.id].name.clone();
        if old.version.is_some() {
            return;
        }
        let mut new = old.clone();
        new.version = Some(version.clone());
        self.resolve.packages[self.id].name = new.clone();
        self.resolve.package_names.shift_remove(&old);
        self.resolve.package_names.insert(new, self.id);
    }
}

/// A WIT reference becomes a requirement the way wkg derives it: `@1.2.3` pins `=1.2.3`, no
/// version is `*`.
pub fn requirement(name: &PackageName) -> Result<(PackageRef, VersionReq)> {
    let package: PackageRef = format!("{}:{}", name.namespace, name.name)
        .parse()
        .map_err(|e| anyhow!("`{name}` is not a package name registries accept: {e}"))?;
    let req = match &name.version {
        Some(v) => VersionReq::parse(&format!("={v}"))?,
        None => VersionReq::STAR,
    };
    Ok((package, req))
}

/// `wit/deps/<ns>-<name>-<version>`, the directory name wkg uses.
pub fn deps_dir_name(package: &PackageRef, version: &Version) -> String {
    format!("{}-{}-{version}", package.namespace(), package.name())
}

/// Encodes a WIT directory (its `deps/` included) or a `.wit` file as a binary WIT package.
pub fn build_wit(dir: &Path) -> Result<Vec<u8>> {
    let mut resolve = Resolve::default();
    let (id, _) = resolve
        .push_path(dir)
        .with_context(|| format!("cannot build a WIT package from `{}`", dir.display()))?;
    wit_component::encode(&resolve, id)
        .with_context(|| format!("cannot encode the WIT package in `{}`", dir.display()))
}

/// Checks that `newer` keeps every interface of `older` usable: nothing removed or changed,
/// additions allowed (`wit-component`'s structural semver check, run with the newer version in
/// the provider's seat).
pub fn check_compatible(older: &WitPackage, newer: &WitPackage) -> Result<()> {
    let older_name = older.name().clone();
    let newer_name = newer.name().clone();
    let older_ifaces: Vec<String> = older.resolve.packages[older.id]
        .interfaces
        .keys()
        .cloned()
        .collect();
    let newer_pkg = &newer.resolve.packages[newer.id];
    let removed: Vec<&String> = older_ifaces
        .iter()
        .filter(|i| !newer_pkg.interfaces.contains_key(*i))
        .collect();
    if !removed.is_empty() {
        bail!(
            "{newer_name} removes interface(s) {} that {older_name} has",
            removed
                .iter()
                .map(|i| format!("`{i}`"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if older_ifaces.is_empty() {
        return Ok(());
    }
    let mut merged = newer.resolve.clone();
    merged
        .merge(older.resolve.clone())
        .context("cannot load both versions side by side")?;
    let exports = |name: &PackageName| -> String {
        let base = format!("{}:{}", name.namespace, name.name);
        older_ifaces
            .iter()
            .map(|i| match &name.version {
                Some(v) => format!("  export {base}/{i}@{v};\n"),
                None => format!("  export {base}/{i};\n"),
            })
            .collect()
    };
    let probe = format!(
        "package wtool:semver-probe;\nworld newer {{\n{}}}\nworld older {{\n{}}}\n",
        exports(&newer_name),
        exports(&older_name)
    );
    let probe_pkg = merged.push_str("semver-probe.wit", &probe)?;
    let newer_world = merged.select_world(&[probe_pkg], Some("newer"))?;
    let older_world = merged.select_world(&[probe_pkg], Some("older"))?;
    wit_component::semver_check(merged, newer_world, older_world).map_err(|e| {
        anyhow!(
            "{newer_name} is not compatible with {older_name}:\n  {}",
            describe_mismatch(&format!("{e:#}"))
        )
    })
}

/// The checker phrases its finding in terms of the probe components it builds; keep only the
/// lines about the package's own items, without binary offsets.
fn describe_mismatch(raw: &str) -> String {
    let lines: Vec<String> = raw
        .lines()
        .flat_map(|l| l.split(": "))
        .filter(|l| {
            !l.contains("semver-compatible with the previous world")
                && !l.contains("import `older`")
                && !l.contains("import `newer`")
        })
        .map(|l| match l.find(" (at offset") {
            Some(i) => l[..i].to_string(),
            None => l.to_string(),
        })
        .collect();
    lines.join("\n  ")
}

/// The versions a new release must stay compatible with: its semver track, as compose matches
/// interface names (`X.*` for X ≥ 1, `0.Y.*` for Y ≥ 1, and `0.0.Z` alone).
pub fn same_series(a: &Version, b: &Version) -> bool {
    wtool_compose::names::same_track(a, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_core_module_is_refused_before_decoding() {
        // Found by fuzzing: a type section that claims 2^32-1 entries.
        let bytes = b"\0asm\x01\0\0\0\x01\xff\xff\xff\xff\x08\x0f\x60\0\0";
        let e = decode(bytes, "`x.wasm`").err().unwrap().to_string();
        assert!(e.contains("core WebAssembly module"), "{e}");
    }

    fn pkg(text: &str) -> WitPackage {
        let mut resolve = Resolve::default();
        let id = resolve.push_str("t.wit", text).unwrap();
        WitPackage { resolve, id }
    }

    #[test]
    fn additions_pass_and_changes_fail() {
        let v1 = pkg("package a:b@1.0.0; interface i { f: func(x: u32); }");
        let v11 =
            pkg("package a:b@1.1.0; interface i { f: func(x: u32); g: func(); } interface j {}");
        let broken = pkg("package a:b@1.2.0; interface i { f: func(x: string); }");
        let removed = pkg("package a:b@1.3.0; interface k {}");
        check_compatible(&v1, &v11).unwrap();
        assert!(check_compatible(&v1, &broken).is_err());
        let err = check_compatible(&v1, &removed).unwrap_err().to_string();
        assert!(err.contains("`i`"), "{err}");
    }

    #[test]
    fn outline_agrees_with_decoding() {
        // The repository root: this file is also compiled into the fuzz replay test, whose crate
        // sits elsewhere.
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .ancestors()
            .find(|d| d.join("fixtures/targets").is_dir())
            .expect("the repository root");
        let listed = |deps: Vec<(PackageRef, VersionReq)>| {
            let mut list: Vec<String> = deps.iter().map(|(n, r)| format!("{n} {r}")).collect();
            list.sort();
            list
        };
        // Worlds that import and export foreign interfaces, interfaces that use foreign
        // types, and a package without dependencies.
        for dir in [
            "fixtures/targets",
            "fixtures/wit/logging-0.2.0",
            "tests/cli/fetch/inputs/cycle/a",
            "tests/cli/fetch/inputs/cycle/c",
            "tests/cli/fetch/inputs/types",
        ] {
            let bytes = build_wit(&root.join(dir)).unwrap();
            let Decoded::Package(decoded) = decode(&bytes, dir).unwrap() else {
                panic!("{dir} is not a package");
            };
            let outline = outline(&bytes).unwrap_or_else(|| panic!("{dir}: no outline"));
            assert_eq!(&outline.name, decoded.name(), "{dir}");
            assert_eq!(
                listed(outline.deps),
                listed(decoded.dependencies().unwrap()),
                "{dir}"
            );
        }
        let component = std::fs::read(root.join("fixtures/components/logger.wasm")).unwrap();
        assert_eq!(outline(&component), None);
        assert_eq!(outline(b"\0asm garbage"), None);
    }

    #[test]
    fn series() {
        let v = |s: &str| s.parse::<Version>().unwrap();
        assert!(same_series(&v("1.2.0"), &v("1.0.0")));
        assert!(!same_series(&v("2.0.0"), &v("1.0.0")));
        assert!(same_series(&v("0.2.1"), &v("0.2.0")));
        assert!(!same_series(&v("0.3.0"), &v("0.2.0")));
        assert!(!same_series(&v("0.0.2"), &v("0.0.1")));
    }
}
