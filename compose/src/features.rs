//! Names of WebAssembly features and the `--features` syntax of `wasm-tools`.
//!
//! Names are wasmparser's `WasmFeatures` flag names in kebab case (`tail-call`, `cm-async`), so
//! that a name wtool prints can be pasted into `--features` of either tool.

use std::fmt;
use wasmparser::WasmFeatures;

/// A single feature that an artifact can be found to use.
///
/// This is a subset of `WasmFeatures`: only the flags that mark a post-MVP proposal whose use
/// can be seen in a binary. Pseudo-features such as `floats` are left out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(into = "&'static str")]
pub enum Feature {
    /// `mutable-global`.
    MutableGlobal,
    /// `saturating-float-to-int`.
    SaturatingFloatToInt,
    /// `sign-extension`.
    SignExtension,
    /// `reference-types`.
    ReferenceTypes,
    /// `multi-value`.
    MultiValue,
    /// `bulk-memory`.
    BulkMemory,
    /// `bulk-memory-opt`.
    BulkMemoryOpt,
    /// `simd`.
    Simd,
    /// `relaxed-simd`.
    RelaxedSimd,
    /// `threads`.
    Threads,
    /// `shared-everything-threads`.
    SharedEverythingThreads,
    /// `tail-call`.
    TailCall,
    /// `multi-memory`.
    MultiMemory,
    /// `exceptions`.
    Exceptions,
    /// `legacy-exceptions`.
    LegacyExceptions,
    /// `memory-6-4`.
    Memory64,
    /// `extended-const`.
    ExtendedConst,
    /// `function-references`.
    FunctionReferences,
    /// `gc`.
    Gc,
    /// `gc-types`.
    GcTypes,
    /// `custom-page-sizes`.
    CustomPageSizes,
    /// `stack-switching`.
    StackSwitching,
    /// `wide-arithmetic`.
    WideArithmetic,
    /// `memory-control`.
    MemoryControl,
    /// `custom-descriptors`.
    CustomDescriptors,
    /// `component-model`.
    ComponentModel,
    /// `cm-async`.
    CmAsync,
    /// `cm-async-stackful`.
    CmAsyncStackful,
    /// `cm-more-async-builtins`.
    CmMoreAsyncBuiltins,
    /// `cm-threading`.
    CmThreading,
    /// `cm-error-context`.
    CmErrorContext,
    /// `cm-fixed-length-lists`.
    CmFixedLengthLists,
    /// `cm-gc`.
    CmGc,
    /// `cm-map`.
    CmMap,
    /// `cm-6-4`.
    Cm64,
    /// `cm-values`.
    CmValues,
}

impl Feature {
    /// Every feature, in the order reports list them.
    pub const ALL: [Feature; 36] = [
        Feature::MutableGlobal,
        Feature::SaturatingFloatToInt,
        Feature::SignExtension,
        Feature::ReferenceTypes,
        Feature::MultiValue,
        Feature::BulkMemory,
        Feature::BulkMemoryOpt,
        Feature::Simd,
        Feature::RelaxedSimd,
        Feature::Threads,
        Feature::SharedEverythingThreads,
        Feature::TailCall,
        Feature::MultiMemory,
        Feature::Exceptions,
        Feature::LegacyExceptions,
        Feature::Memory64,
        Feature::ExtendedConst,
        Feature::FunctionReferences,
        Feature::Gc,
        Feature::GcTypes,
        Feature::CustomPageSizes,
        Feature::StackSwitching,
        Feature::WideArithmetic,
        Feature::MemoryControl,
        Feature::CustomDescriptors,
        Feature::ComponentModel,
        Feature::CmAsync,
        Feature::CmAsyncStackful,
        Feature::CmMoreAsyncBuiltins,
        Feature::CmThreading,
        Feature::CmErrorContext,
        Feature::CmFixedLengthLists,
        Feature::CmGc,
        Feature::CmMap,
        Feature::Cm64,
        Feature::CmValues,
    ];

    /// The wasmparser flag that must be enabled for a use of this feature to validate.
    pub fn flag(self) -> WasmFeatures {
        use Feature::*;
        match self {
            MutableGlobal => WasmFeatures::MUTABLE_GLOBAL,
            SaturatingFloatToInt => WasmFeatures::SATURATING_FLOAT_TO_INT,
            SignExtension => WasmFeatures::SIGN_EXTENSION,
            ReferenceTypes => WasmFeatures::REFERENCE_TYPES,
            MultiValue => WasmFeatures::MULTI_VALUE,
            BulkMemory => WasmFeatures::BULK_MEMORY,
            BulkMemoryOpt => WasmFeatures::BULK_MEMORY_OPT,
            Simd => WasmFeatures::SIMD,
            RelaxedSimd => WasmFeatures::RELAXED_SIMD,
            Threads => WasmFeatures::THREADS,
            SharedEverythingThreads => WasmFeatures::SHARED_EVERYTHING_THREADS,
            TailCall => WasmFeatures::TAIL_CALL,
            MultiMemory => WasmFeatures::MULTI_MEMORY,
            Exceptions => WasmFeatures::EXCEPTIONS,
            LegacyExceptions => WasmFeatures::LEGACY_EXCEPTIONS,
            Memory64 => WasmFeatures::MEMORY64,
            ExtendedConst => WasmFeatures::EXTENDED_CONST,
            FunctionReferences => WasmFeatures::FUNCTION_REFERENCES,
            Gc => WasmFeatures::GC,
            GcTypes => WasmFeatures::GC_TYPES,
            CustomPageSizes => WasmFeatures::CUSTOM_PAGE_SIZES,
            StackSwitching => WasmFeatures::STACK_SWITCHING,
            WideArithmetic => WasmFeatures::WIDE_ARITHMETIC,
            MemoryControl => WasmFeatures::MEMORY_CONTROL,
            CustomDescriptors => WasmFeatures::CUSTOM_DESCRIPTORS,
            ComponentModel => WasmFeatures::COMPONENT_MODEL,
            CmAsync => WasmFeatures::CM_ASYNC,
            CmAsyncStackful => WasmFeatures::CM_ASYNC_STACKFUL,
            CmMoreAsyncBuiltins => WasmFeatures::CM_MORE_ASYNC_BUILTINS,
            CmThreading => WasmFeatures::CM_THREADING,
            CmErrorContext => WasmFeatures::CM_ERROR_CONTEXT,
            CmFixedLengthLists => WasmFeatures::CM_FIXED_LENGTH_LISTS,
            CmGc => WasmFeatures::CM_GC,
            CmMap => WasmFeatures::CM_MAP,
            Cm64 => WasmFeatures::CM64,
            CmValues => WasmFeatures::CM_VALUES,
        }
    }

    /// The kebab-case name, as `--features` accepts it.
    pub fn name(self) -> &'static str {
        use Feature::*;
        match self {
            MutableGlobal => "mutable-global",
            SaturatingFloatToInt => "saturating-float-to-int",
            SignExtension => "sign-extension",
            ReferenceTypes => "reference-types",
            MultiValue => "multi-value",
            BulkMemory => "bulk-memory",
            BulkMemoryOpt => "bulk-memory-opt",
            Simd => "simd",
            RelaxedSimd => "relaxed-simd",
            Threads => "threads",
            SharedEverythingThreads => "shared-everything-threads",
            TailCall => "tail-call",
            MultiMemory => "multi-memory",
            Exceptions => "exceptions",
            LegacyExceptions => "legacy-exceptions",
            Memory64 => "memory64",
            ExtendedConst => "extended-const",
            FunctionReferences => "function-references",
            Gc => "gc",
            GcTypes => "gc-types",
            CustomPageSizes => "custom-page-sizes",
            StackSwitching => "stack-switching",
            WideArithmetic => "wide-arithmetic",
            MemoryControl => "memory-control",
            CustomDescriptors => "custom-descriptors",
            ComponentModel => "component-model",
            CmAsync => "cm-async",
            CmAsyncStackful => "cm-async-stackful",
            CmMoreAsyncBuiltins => "cm-more-async-builtins",
            CmThreading => "cm-threading",
            CmErrorContext => "cm-error-context",
            CmFixedLengthLists => "cm-fixed-length-lists",
            CmGc => "cm-gc",
            CmMap => "cm-map",
            Cm64 => "cm64",
            CmValues => "cm-values",
        }
    }
}

impl From<Feature> for &'static str {
    fn from(f: Feature) -> Self {
        f.name()
    }
}

impl fmt::Display for Feature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A `--features` list that cannot be applied.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FeatureError {
    /// A name that is neither a feature nor a group.
    #[error("unknown feature `{name}`; valid features are: all, {groups}, {valid}")]
    Unknown {
        /// The name given.
        name: String,
        /// The group names, comma-separated.
        groups: String,
        /// The feature names, comma-separated.
        valid: String,
    },
    /// `-wasm2` and the like: a group can be selected, not removed.
    #[error("cannot disable `{0}`: a spec level can only be selected, as in `--features wasm2`")]
    DisableGroup(String),
}

/// Named feature sets that replace the current set when given to `--features`.
pub const GROUPS: [(&str, WasmFeatures); 5] = [
    ("mvp", WasmFeatures::WASM1),
    ("wasm1", WasmFeatures::WASM1),
    ("wasm2", WasmFeatures::WASM2),
    ("wasm3", WasmFeatures::WASM3),
    ("lime1", WasmFeatures::LIME1),
];

/// Every flag name wasmparser knows, in kebab case, in wasmparser's order.
///
/// Flags such as `reference-types` contain the bits of smaller ones (`call-indirect-overlong`),
/// which bitflags' name iterator then skips; looking at each bit alone recovers those.
pub fn all_flag_names() -> Vec<String> {
    let mut names: Vec<&'static str> = WasmFeatures::all().iter_names().map(|(n, _)| n).collect();
    for bit in 0..64 {
        for (name, _) in WasmFeatures::from_bits_retain(1 << bit).iter_names() {
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    names
        .iter()
        .map(|n| n.to_lowercase().replace('_', "-"))
        .collect()
}

/// Looks a kebab-case flag name up in wasmparser's table.
pub fn flag_by_name(name: &str) -> Option<WasmFeatures> {
    if name.contains('_') || name.chars().any(|c| c.is_ascii_uppercase()) {
        return None;
    }
    WasmFeatures::from_name(&name.replace('-', "_").to_uppercase())
}

/// Applies `--features` arguments to wasmparser's default set, left to right, the way
/// `wasm-tools` does: each argument is a comma-separated list of `name`, `-name`, `all`,
/// `-all`, or a group (`wasm2`) that replaces the whole set.
pub fn parse_features<S: AsRef<str>>(args: &[S]) -> Result<WasmFeatures, FeatureError> {
    let mut set = WasmFeatures::default();
    for part in args
        .iter()
        .flat_map(|a| a.as_ref().split(','))
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        let (enable, name) = match part.strip_prefix('-') {
            Some(name) => (false, name),
            None => (true, part),
        };
        if name == "all" {
            set = if enable {
                WasmFeatures::all()
            } else {
                WasmFeatures::empty()
            };
        } else if let Some(flag) = flag_by_name(name) {
            set.set(flag, enable);
        } else if let Some((_, group)) = GROUPS.iter().find(|(n, _)| *n == name) {
            if !enable {
                return Err(FeatureError::DisableGroup(name.to_string()));
            }
            set = *group;
        } else {
            return Err(FeatureError::Unknown {
                name: name.to_string(),
                groups: GROUPS.map(|(n, _)| n).join(", "),
                valid: all_flag_names().join(", "),
            });
        }
    }
    Ok(set)
}

/// The names of the flags in `set`, for messages and JSON.
pub fn flag_names(set: WasmFeatures) -> Vec<String> {
    all_flag_names()
        .into_iter()
        .filter(|n| flag_by_name(n).is_some_and(|f| set.contains(f)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_feature_name_parses_to_its_flag() {
        for feature in Feature::ALL {
            assert_eq!(
                flag_by_name(feature.name()),
                Some(feature.flag()),
                "{feature}"
            );
        }
    }

    #[test]
    fn nested_flags_are_listed() {
        let names = all_flag_names();
        assert!(names.contains(&"call-indirect-overlong".to_string()));
        assert!(names.contains(&"reference-types".to_string()));
        assert!(names.contains(&"tail-call".to_string()));
    }

    #[test]
    fn default_is_wasmparser_default() {
        assert_eq!(parse_features::<&str>(&[]), Ok(WasmFeatures::default()));
    }

    #[test]
    fn lists_apply_left_to_right() {
        let set = parse_features(&["wasm2,tail-call", "-simd"]).unwrap();
        assert!(set.tail_call());
        assert!(!set.simd());
        assert!(set.bulk_memory());
        assert!(!set.gc());
        assert_eq!(parse_features(&["-all"]), Ok(WasmFeatures::empty()));
        assert_eq!(parse_features(&["all"]), Ok(WasmFeatures::all()));
    }

    #[test]
    fn unknown_names_list_the_valid_ones() {
        let err = parse_features(&["tail-calls"]).unwrap_err().to_string();
        assert!(err.contains("unknown feature `tail-calls`"), "{err}");
        assert!(err.contains("tail-call,"), "{err}");
        assert!(err.contains("wasm3"), "{err}");
        assert!(parse_features(&["TAIL_CALL"]).is_err());
    }

    #[test]
    fn groups_cannot_be_disabled() {
        assert_eq!(
            parse_features(&["-wasm2"]),
            Err(FeatureError::DisableGroup("wasm2".into()))
        );
    }
}
