//! Validation with `wasmparser`, feature detection and target profiles.
//!
//! One sequential pass over the sections validates everything but function bodies and records
//! the features sections use; the bodies are then validated and scanned in parallel, as
//! `wasm-tools validate` does, since they are most of the work in a large component.

pub(crate) mod chunks;
mod scan;

use crate::features::{flag_names, Feature};
use crate::input::{classify, ArtifactKind, InputError};
use crate::profile::Profile;
use rayon::prelude::*;
use scan::{Hit, ModuleState, SectionScan, Uses, What};
use std::collections::HashMap;
use std::fmt;
use wasmparser::{
    FuncValidatorAllocations, KnownCustom, Name, Parser, Payload, ValidPayload, Validator,
    WasmFeatures,
};

/// What validation found in a valid artifact.
#[derive(Debug, serde::Serialize)]
pub struct Report {
    pub kind: ArtifactKind,
    /// Core modules at every depth (a core module input counts itself).
    pub core_modules: usize,
    /// Components nested inside the input, at every depth.
    pub nested_components: usize,
    /// Function bodies validated, at every depth.
    pub functions: usize,
    /// Post-MVP features the artifact uses, in a fixed order.
    pub features: Vec<FeatureUse>,
}

/// One feature the artifact uses, how often, and its first use in file order.
#[derive(Clone, Debug, serde::Serialize)]
pub struct FeatureUse {
    pub feature: Feature,
    pub count: u64,
    pub first: Location,
}

/// Where in an artifact something is.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Location {
    /// Byte offset in the input file.
    pub offset: u64,
    /// The nested artifact holding it, outermost first; empty for the input itself.
    pub within: Vec<Nesting>,
    /// The function, when the use is in a function body.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function: Option<FunctionRef>,
    /// The instruction, type or section entry.
    pub what: String,
}

/// A module or component inside another, numbered in its parent's order of appearance.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Nesting {
    pub kind: NestedKind,
    pub index: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NestedKind {
    CoreModule,
    Component,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct FunctionRef {
    pub index: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl fmt::Display for Nesting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            NestedKind::CoreModule => write!(f, "core module {}", self.index),
            NestedKind::Component => write!(f, "component {}", self.index),
        }
    }
}

impl fmt::Display for Location {
    /// `return_call in function 12 `foo` of core module 1 of component 0`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.what)?;
        if let Some(func) = &self.function {
            write!(f, " in function {}", func.index)?;
            if let Some(name) = &func.name {
                write!(f, " `{name}`")?;
            }
        }
        for nesting in self.within.iter().rev() {
            write!(f, " of {nesting}")?;
        }
        Ok(())
    }
}

// Errors are made once per run, so their size does not matter.
#[allow(clippy::result_large_err)]
#[derive(Debug, thiserror::Error)]
pub enum ValidateError {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error(
        "`{name}` is {kind} but it is not valid: {message} at offset {offset:#x}{place}. {hint}"
    )]
    Invalid {
        name: String,
        kind: ArtifactKind,
        message: String,
        offset: u64,
        /// ` in function 3 `f` of core module 0`, or empty.
        place: String,
        hint: String,
        /// Features the artifact needs that were not enabled, if that is the problem.
        missing_features: Vec<String>,
    },
}

/// Validates `bytes` (named `name` in messages) with `features` enabled, and finds the
/// post-MVP features it uses.
#[allow(clippy::result_large_err)] // made once per run; see `ValidateError`
pub fn validate(name: &str, bytes: &[u8], features: WasmFeatures) -> Result<Report, ValidateError> {
    let kind = classify(name, bytes)?;
    let mut validator = Validator::new_with_features(features);
    let mut walk = Walk::default();
    let mut uses = Uses::default();
    let mut jobs = Vec::new();
    let invalid = |walk: &Walk, e: wasmparser::BinaryReaderError, func: Option<u32>| {
        invalid_in(name, kind, features, walk, walk.current(), func, e)
    };
    for payload in Parser::new(0).parse_all(bytes) {
        let payload = payload.map_err(|e| invalid(&walk, e, None))?;
        walk.enter(&payload);
        match validator
            .payload(&payload)
            .map_err(|e| invalid(&walk, e, None))?
        {
            ValidPayload::Func(func, body) => jobs.push((walk.current(), func, body)),
            ValidPayload::Ok | ValidPayload::Parser(_) | ValidPayload::End(_) => {}
        }
        let frame = walk.current();
        let mut section = SectionScan {
            uses: &mut uses,
            state: &mut walk.stack.last_mut().expect("inside an artifact").1,
            frame,
        };
        section
            .payload(&payload)
            .map_err(|e| invalid(&walk, e, None))?;
        walk.leave(&payload);
    }

    let functions = jobs.len();
    let outcome = jobs
        .into_par_iter()
        .enumerate()
        .map_init(FuncValidatorAllocations::default, |allocs, (order, job)| {
            let (frame, func, body) = job;
            let mut validator = func.into_validator(std::mem::take(allocs));
            let index = validator.index();
            let result = validator.validate(&body);
            *allocs = validator.into_allocations();
            match result.and_then(|()| scan::function(&body, frame, index)) {
                Ok(uses) => Outcome { uses, error: None },
                Err(e) => Outcome {
                    uses: Uses::default(),
                    error: Some((order, frame, index, e)),
                },
            }
        })
        .reduce(Outcome::default, Outcome::merge);
    if let Some((_, frame, index, e)) = outcome.error {
        return Err(invalid_in(
            name,
            kind,
            features,
            &walk,
            frame,
            Some(index),
            e,
        ));
    }
    let uses = uses.merge(outcome.uses);
    Ok(Report {
        kind,
        core_modules: walk.core_modules,
        nested_components: walk.components.saturating_sub(1),
        functions,
        features: uses
            .into_sorted()
            .into_iter()
            .map(|(feature, count, hit)| FeatureUse {
                feature,
                count,
                first: walk.locate(&hit),
            })
            .collect(),
    })
}

/// The features a report uses that `profile` does not support.
pub fn violations<'r>(report: &'r Report, profile: &Profile) -> Vec<&'r FeatureUse> {
    report
        .features
        .iter()
        .filter(|u| !profile.features.contains(u.feature.flag()))
        .collect()
}

/// Result of the parallel phase: merged feature uses and the first failure in function order.
#[derive(Default)]
struct Outcome {
    uses: Uses,
    error: Option<(usize, usize, u32, wasmparser::BinaryReaderError)>,
}

impl Outcome {
    fn merge(self, other: Outcome) -> Outcome {
        let error = match (self.error, other.error) {
            (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
            (a, b) => a.or(b),
        };
        Outcome {
            uses: self.uses.merge(other.uses),
            error,
        }
    }
}

/// Keeps track of which nested module or component the parser is in.
#[derive(Default)]
struct Walk {
    /// Every artifact met so far, by frame number.
    frames: Vec<Frame>,
    /// Open artifacts: frame number and the facts gathered about it.
    stack: Vec<(usize, ModuleState)>,
    /// Set by a module or component section; taken by the `Version` payload that follows.
    pending: Option<Nesting>,
    core_modules: usize,
    components: usize,
}

struct Frame {
    parent: Option<usize>,
    nesting: Option<Nesting>,
    modules: u32,
    components: u32,
    function_names: HashMap<u32, String>,
}

impl Walk {
    fn current(&self) -> usize {
        self.stack.last().map_or(0, |(id, _)| *id)
    }

    fn enter(&mut self, payload: &Payload<'_>) {
        match payload {
            Payload::Version { encoding, .. } => {
                let parent = self.stack.last().map(|(id, _)| *id);
                match encoding {
                    wasmparser::Encoding::Module => self.core_modules += 1,
                    wasmparser::Encoding::Component => self.components += 1,
                }
                self.frames.push(Frame {
                    parent,
                    nesting: self.pending.take(),
                    modules: 0,
                    components: 0,
                    function_names: HashMap::new(),
                });
                self.stack
                    .push((self.frames.len() - 1, ModuleState::default()));
            }
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => {
                let current = self.current();
                let frame = &mut self.frames[current];
                let (kind, counter) = match payload {
                    Payload::ModuleSection { .. } => (NestedKind::CoreModule, &mut frame.modules),
                    _ => (NestedKind::Component, &mut frame.components),
                };
                self.pending = Some(Nesting {
                    kind,
                    index: *counter,
                });
                *counter += 1;
            }
            Payload::CustomSection(section) => {
                // Function names for messages; a malformed name section is only a missed name.
                if let KnownCustom::Name(reader) = section.as_known() {
                    let current = self.current();
                    for name in reader.into_iter().flatten() {
                        if let Name::Function(map) = name {
                            let names = &mut self.frames[current].function_names;
                            for naming in map.into_iter().flatten() {
                                names.insert(naming.index, naming.name.to_string());
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }

    fn leave(&mut self, payload: &Payload<'_>) {
        if let Payload::End(_) = payload {
            self.stack.pop();
        }
    }

    fn within(&self, mut frame: usize) -> Vec<Nesting> {
        let mut path = Vec::new();
        while let Some(f) = self.frames.get(frame) {
            path.extend(f.nesting.clone());
            match f.parent {
                Some(parent) => frame = parent,
                None => break,
            }
        }
        path.reverse();
        path
    }

    fn function(&self, frame: usize, index: u32) -> FunctionRef {
        let name = self
            .frames
            .get(frame)
            .and_then(|f| f.function_names.get(&index).cloned());
        FunctionRef { index, name }
    }

    fn locate(&self, hit: &Hit) -> Location {
        Location {
            offset: hit.offset,
            within: self.within(hit.frame),
            function: hit.func.map(|i| self.function(hit.frame, i)),
            what: match &hit.what {
                What::Instr(visit) => scan::instruction_name(visit),
                What::Text(text) => text.to_string(),
            },
        }
    }
}

fn invalid_in(
    name: &str,
    kind: ArtifactKind,
    features: WasmFeatures,
    walk: &Walk,
    frame: usize,
    func: Option<u32>,
    e: wasmparser::BinaryReaderError,
) -> ValidateError {
    // Rendered like a use with no `what`: ` in function 3 `f` of core module 0`.
    let mut place = Location {
        offset: e.offset(),
        within: walk.within(frame),
        function: func.map(|i| walk.function(frame, i)),
        what: String::new(),
    }
    .to_string();
    if let Some(rest) = place.strip_prefix(" of ") {
        place = format!(" in {rest}");
    }
    let missing_features = e.missing_wasm_feature().map(flag_names).unwrap_or_default();
    let hint = match missing_features.as_slice() {
        // Some disabled features surface as decoding errors rather than feature errors.
        [] if features != WasmFeatures::default() => "It may use a feature the selected \
               feature set leaves out: validate it with the default features and `--target` \
               to see what it uses and where"
            .to_string(),
        [] => "Its producer emitted invalid WebAssembly: rebuild it with an up-to-date \
               toolchain, and report the problem to the producer if it persists"
            .to_string(),
        names => format!(
            "It needs `{0}`, which is not enabled: pass `--features {0}` if your runtime \
             supports it, or rebuild the input without it",
            names.join(",")
        ),
    };
    ValidateError::Invalid {
        name: name.to_string(),
        kind,
        message: e.message().to_string(),
        offset: e.offset(),
        place,
        hint,
        missing_features,
    }
}
