//! Which custom sections stay, and recording in `producers` that wtool processed the file.

use crate::sections::{FrameError, Sections, PREAMBLE};
use serde::Serialize;
use std::collections::BTreeMap;
use wasm_encoder::Encode;

/// How much to strip besides what optimization makes stale.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strip {
    /// Only what binaryen's rewrite makes stale: DWARF and source maps of optimized modules,
    /// and their `name` sections unless names are kept.
    #[default]
    Nothing,
    /// Also all debug information: DWARF, source maps and (unless kept) `name` sections.
    Debug,
    /// Every custom section but `component-type`, `producers` and `dylink.0`.
    All,
}

/// What a custom section is, for deciding whether it stays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Class {
    /// Needed to use the artifact: `dylink.0`, `component-type*`.
    Essential,
    Producers,
    /// `name` (`component-name` in components): function and other names.
    Names,
    /// DWARF, source maps: describe code offsets, so stale once code changes.
    Debug,
    /// Anything else (`target_features`, `wtool-provenance`, ...).
    Other,
}

pub(crate) fn class(name: &str) -> Class {
    match name {
        "dylink.0" => Class::Essential,
        n if n.starts_with("component-type") => Class::Essential,
        "producers" => Class::Producers,
        "name" | "component-name" => Class::Names,
        "sourceMappingURL" | "external_debug_info" => Class::Debug,
        n if n.starts_with(".debug_") => Class::Debug,
        _ => Class::Other,
    }
}

/// Whether a custom section of an artifact whose code is not rewritten stays.
pub(crate) fn keeps(name: &str, strip: Strip, keep_names: bool) -> bool {
    match class(name) {
        Class::Essential | Class::Producers => true,
        Class::Names => keep_names || strip < Strip::Debug,
        Class::Debug => strip < Strip::Debug,
        Class::Other => strip < Strip::All,
    }
}

/// Custom sections removed, by name.
#[derive(Debug, Default, Clone)]
pub(crate) struct Tally(BTreeMap<String, (usize, usize)>);

impl Tally {
    pub fn add(&mut self, name: &str, bytes: usize) {
        let entry = self.0.entry(name.to_string()).or_default();
        entry.0 += 1;
        entry.1 += bytes;
    }

    pub fn merge(&mut self, other: &Tally) {
        for (name, (count, bytes)) in &other.0 {
            let entry = self.0.entry(name.clone()).or_default();
            entry.0 += count;
            entry.1 += bytes;
        }
    }

    pub fn into_sorted(self) -> Vec<super::StrippedSection> {
        self.0
            .into_iter()
            .map(|(name, (count, bytes))| super::StrippedSection { name, count, bytes })
            .collect()
    }
}

/// A core module's sections, split for binaryen: `code` holds every non-custom section and the
/// custom sections binaryen must see (`dylink.0`, which must stay first, and `name` when kept);
/// `after` the custom sections to append to binaryen's output, in order.
pub(crate) struct Split {
    pub code: Vec<u8>,
    pub after: Vec<(String, Vec<u8>)>,
    pub stripped: Tally,
}

pub(crate) fn split_module(
    module: &[u8],
    strip: Strip,
    keep_names: bool,
) -> Result<Split, FrameError> {
    let mut split = Split {
        code: module[..PREAMBLE.min(module.len())].to_vec(),
        after: Vec::new(),
        stripped: Tally::default(),
    };
    for section in Sections::new(module)? {
        let section = section?;
        let raw = &module[section.range.clone()];
        let Some(custom) = section.custom() else {
            split.code.extend_from_slice(raw);
            continue;
        };
        let custom = custom?;
        let name = custom.name();
        let size = section.data.len();
        match class(name) {
            Class::Essential => split.code.extend_from_slice(raw),
            Class::Names if keep_names => split.code.extend_from_slice(raw),
            // Stale once binaryen rewrites the code.
            Class::Names | Class::Debug => split.stripped.add(name, size),
            Class::Producers => split.after.push((name.to_string(), custom.data().to_vec())),
            Class::Other if strip < Strip::All => {
                split.after.push((name.to_string(), custom.data().to_vec()))
            }
            Class::Other => split.stripped.add(name, size),
        }
    }
    Ok(split)
}

/// The module with the custom sections `strip` removes taken out, every other byte as it was.
pub(crate) fn strip_module(
    module: &[u8],
    strip: Strip,
    keep_names: bool,
    stripped: &mut Tally,
) -> Result<Vec<u8>, FrameError> {
    let mut out = module[..PREAMBLE.min(module.len())].to_vec();
    for section in Sections::new(module)? {
        let section = section?;
        if let Some(custom) = section.custom() {
            let name = custom?.name();
            if !keeps(name, strip, keep_names) {
                stripped.add(name, section.data.len());
                continue;
            }
        }
        out.extend_from_slice(&module[section.range]);
    }
    Ok(out)
}

/// Size of a custom section's name and data.
pub(crate) fn section_size(section: &wasmparser::CustomSectionReader<'_>) -> usize {
    let range = section.range();
    (range.end - range.start) as usize
}

/// Appends a custom section to a module or component.
pub(crate) fn push_custom(out: &mut Vec<u8>, name: &str, data: &[u8]) {
    out.push(0);
    wasm_encoder::CustomSection {
        name: name.into(),
        data: data.into(),
    }
    .encode(out);
}

/// The data of a `producers` section: `existing` (if any, and readable) with
/// `processed-by: wtool <version>` added.
pub(crate) fn producers_with_wtool(existing: Option<&[u8]>) -> Vec<u8> {
    let mut fields: Vec<(String, Vec<(String, String)>)> = Vec::new();
    if let Some(data) = existing {
        let reader = wasmparser::BinaryReader::new(data, 0);
        if let Ok(section) = wasmparser::ProducersSectionReader::new(reader) {
            for field in section.into_iter().flatten() {
                let values = field
                    .values
                    .into_iter()
                    .flatten()
                    .map(|v| (v.name.to_string(), v.version.to_string()))
                    .collect();
                fields.push((field.name.to_string(), values));
            }
        }
    }
    let version = env!("CARGO_PKG_VERSION").to_string();
    match fields.iter_mut().find(|(name, _)| name == "processed-by") {
        Some((_, values)) => match values.iter_mut().find(|(name, _)| name == "wtool") {
            Some(value) => value.1 = version,
            None => values.push(("wtool".into(), version)),
        },
        None => fields.push(("processed-by".into(), vec![("wtool".into(), version)])),
    }
    let mut data = Vec::new();
    (fields.len() as u32).encode(&mut data);
    for (name, values) in &fields {
        name.as_str().encode(&mut data);
        (values.len() as u32).encode(&mut data);
        for (value, version) in values {
            value.as_str().encode(&mut data);
            version.as_str().encode(&mut data);
        }
    }
    data
}

/// A core module with `processed-by: wtool` in its producers section.
pub(crate) fn add_processed_by(module: &[u8]) -> Vec<u8> {
    let mut out = module[..PREAMBLE.min(module.len())].to_vec();
    let mut existing = None;
    let Ok(sections) = Sections::new(module) else {
        return module.to_vec();
    };
    for section in sections {
        let Ok(section) = section else {
            return module.to_vec();
        };
        if let Some(Ok(custom)) = section.custom() {
            if custom.name() == "producers" && existing.is_none() {
                existing = Some(custom.data().to_vec());
                continue;
            }
        }
        out.extend_from_slice(&module[section.range]);
    }
    push_custom(
        &mut out,
        "producers",
        &producers_with_wtool(existing.as_deref()),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_sections_go_with_strip_debug_and_names_stay_when_kept() {
        assert!(keeps(".debug_info", Strip::Nothing, false));
        assert!(!keeps(".debug_info", Strip::Debug, false));
        assert!(!keeps("name", Strip::Debug, false));
        assert!(keeps("name", Strip::All, true));
        assert!(keeps("target_features", Strip::Debug, false));
        assert!(!keeps("target_features", Strip::All, false));
        for essential in ["component-type:wit-bindgen:0.41.0", "producers", "dylink.0"] {
            assert!(keeps(essential, Strip::All, false), "{essential}");
        }
    }

    #[test]
    fn producers_gain_wtool_once() {
        let data = producers_with_wtool(None);
        let again = producers_with_wtool(Some(&data));
        assert_eq!(data, again);
        let text = String::from_utf8_lossy(&data);
        assert!(
            text.contains("processed-by") && text.contains("wtool"),
            "{text}"
        );
    }
}
