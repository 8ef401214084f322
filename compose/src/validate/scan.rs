//! Finding which post-MVP features an artifact uses, by looking at what it contains.
//!
//! Validation only says whether the enabled features suffice; to say which ones are needed,
//! and where, every type, import, section entry, instruction and canonical builtin is mapped to
//! the proposal that introduced it. Instructions take their proposal from wasmparser's own
//! operator table (`for_each_visit_operator!`), so new operators cannot be missed silently.

use crate::features::Feature;
use std::borrow::Cow;
use wasmparser::{
    AbstractHeapType, BinaryReaderError, BlockType, CanonicalFunction, CanonicalOption,
    ComponentDefinedType, ComponentType, ComponentTypeDeclaration, ComponentValType,
    CompositeInnerType, ConstExpr, CoreType, DataKind, ElementItems, ElementKind, ExternalKind,
    FuncValidator, FunctionBody, HeapType, InstanceTypeDeclaration, ModuleTypeDeclaration, Payload,
    PrimitiveValType, RecGroup, RefType, TypeRef, ValType, ValidatorResources,
};

type Result<T> = std::result::Result<T, BinaryReaderError>;

/// The first use of a feature, before names are resolved.
#[derive(Clone, Debug)]
pub(crate) struct Hit {
    pub offset: u64,
    /// Index of the artifact (module or component) in the order the parser met them.
    pub frame: usize,
    pub func: Option<u32>,
    pub what: What,
}

#[derive(Clone, Debug)]
pub(crate) enum What {
    /// An instruction, by its `VisitOperator` method name.
    Instr(&'static str),
    Text(Cow<'static, str>),
}

/// How often each feature was seen and where first.
///
/// Kept sparse because one is made per function body, and most bodies use nothing or little.
#[derive(Default, Debug)]
pub(crate) struct Uses(Vec<(Feature, u64, Hit)>);

impl Uses {
    fn hit(&mut self, feature: Feature, make: impl FnOnce() -> Hit) {
        match self.0.iter_mut().find(|(f, _, _)| *f == feature) {
            Some((_, count, _)) => *count += 1,
            None => self.0.push((feature, 1, make())),
        }
    }

    /// Adds `other`'s counts, keeping the earliest hit so that the result does not depend on
    /// the order parallel work finished in.
    pub fn merge(mut self, other: Uses) -> Uses {
        for (feature, count, hit) in other.0 {
            match self.0.iter_mut().find(|(f, _, _)| *f == feature) {
                Some((_, c, h)) => {
                    *c += count;
                    if hit.offset < h.offset {
                        *h = hit;
                    }
                }
                None => self.0.push((feature, count, hit)),
            }
        }
        self
    }

    pub fn into_sorted(mut self) -> Vec<(Feature, u64, Hit)> {
        self.0.sort_by_key(|(f, _, _)| *f);
        self.0
    }
}

/// Per-artifact facts that decide whether a later construct is post-MVP (a second memory,
/// an export of a mutable global).
#[derive(Default)]
pub(crate) struct ModuleState {
    memories: u32,
    tables: u32,
    mutable_globals: Vec<bool>,
}

/// Records the features one section (or section entry) of artifact `frame` uses.
pub(crate) struct SectionScan<'a> {
    pub uses: &'a mut Uses,
    pub state: &'a mut ModuleState,
    pub frame: usize,
    /// Added to the parser's offsets to make them offsets in the input (see `stream::Level`).
    pub shift: u64,
}

impl SectionScan<'_> {
    fn note(&mut self, feature: Feature, offset: u64, what: impl Into<Cow<'static, str>>) {
        let frame = self.frame;
        let offset = offset + self.shift;
        self.uses.hit(feature, || Hit {
            offset,
            frame,
            func: None,
            what: What::Text(what.into()),
        });
    }

    fn valtype(&mut self, ty: ValType, offset: u64, what: &dyn Fn() -> String) {
        valtype_features(ty, &mut |f| self.note(f, offset, what()));
    }

    pub fn payload(&mut self, payload: &Payload<'_>) -> Result<()> {
        match payload {
            Payload::Version {
                encoding: wasmparser::Encoding::Component,
                range,
                ..
            } => self.note(Feature::ComponentModel, range.start, "a component"),
            Payload::TypeSection(reader) => {
                let mut index = 0;
                for group in reader.clone() {
                    let group = group?;
                    let offset = reader.range().start;
                    index += self.rec_group(&group, index, offset);
                }
            }
            Payload::ImportSection(reader) => {
                for import in reader.clone().into_imports_with_offsets() {
                    let (offset, import) = import?;
                    let name = || format!("import `{}` `{}`", import.module, import.name);
                    match import.ty {
                        TypeRef::Memory(ty) => self.memory(ty, offset, &name),
                        TypeRef::Table(ty) => self.table(ty, offset, &name),
                        TypeRef::Global(ty) => {
                            self.state.mutable_globals.push(ty.mutable);
                            if ty.mutable {
                                self.note(
                                    Feature::MutableGlobal,
                                    offset,
                                    format!("mutable global {}", name()),
                                );
                            }
                            self.global(ty, offset, &name);
                        }
                        TypeRef::Tag(_) => self.note(Feature::Exceptions, offset, name()),
                        _ => {}
                    }
                }
            }
            Payload::TableSection(reader) => {
                for table in reader.clone().into_iter_with_offsets() {
                    let (offset, table) = table?;
                    let index = self.state.tables;
                    self.table(table.ty, offset, &|| format!("table {index}"));
                    if let wasmparser::TableInit::Expr(expr) = table.init {
                        self.note(
                            Feature::FunctionReferences,
                            offset,
                            format!("an initializer of table {index}"),
                        );
                        self.const_expr(&expr)?;
                    }
                }
            }
            Payload::MemorySection(reader) => {
                for memory in reader.clone().into_iter_with_offsets() {
                    let (offset, memory) = memory?;
                    let index = self.state.memories;
                    self.memory(memory, offset, &|| format!("memory {index}"));
                }
            }
            Payload::TagSection(reader) => {
                let offset = reader.range().start;
                self.note(Feature::Exceptions, offset, "the tag section");
            }
            Payload::GlobalSection(reader) => {
                for global in reader.clone().into_iter_with_offsets() {
                    let (offset, global) = global?;
                    let index = self.state.mutable_globals.len();
                    self.state.mutable_globals.push(global.ty.mutable);
                    self.global(global.ty, offset, &|| format!("global {index}"));
                    self.const_expr(&global.init_expr)?;
                }
            }
            Payload::ExportSection(reader) => {
                for export in reader.clone().into_iter_with_offsets() {
                    let (offset, export) = export?;
                    let mutable = self.state.mutable_globals.get(export.index as usize);
                    if export.kind == ExternalKind::Global && mutable == Some(&true) {
                        let what = format!("export of mutable global `{}`", export.name);
                        self.note(Feature::MutableGlobal, offset, what);
                    }
                }
            }
            Payload::ElementSection(reader) => {
                for element in reader.clone() {
                    let element = element?;
                    let offset = element.range.start;
                    match &element.kind {
                        ElementKind::Passive => {
                            self.note(Feature::BulkMemory, offset, "a passive element segment")
                        }
                        ElementKind::Declared => self.note(
                            Feature::ReferenceTypes,
                            offset,
                            "a declarative element segment",
                        ),
                        ElementKind::Active { offset_expr, .. } => self.const_expr(offset_expr)?,
                    }
                    if let ElementItems::Expressions(ty, exprs) = element.items {
                        if ty != RefType::FUNCREF {
                            let what = || "an element segment of a non-funcref type".to_string();
                            self.valtype(ValType::Ref(ty), offset, &what);
                        }
                        for expr in exprs {
                            self.const_expr(&expr?)?;
                        }
                    }
                }
            }
            Payload::DataCountSection { range, .. } => {
                self.note(Feature::BulkMemory, range.start, "the data count section")
            }
            Payload::DataSection(reader) => {
                for data in reader.clone() {
                    let data = data?;
                    match data.kind {
                        DataKind::Passive => self.note(
                            Feature::BulkMemory,
                            data.range.start,
                            "a passive data segment",
                        ),
                        DataKind::Active { offset_expr, .. } => self.const_expr(&offset_expr)?,
                    }
                }
            }
            Payload::CoreTypeSection(reader) => {
                for ty in reader.clone() {
                    self.core_type(&ty?, reader.range().start);
                }
            }
            Payload::ComponentTypeSection(reader) => {
                for ty in reader.clone() {
                    self.component_type(&ty?, reader.range().start);
                }
            }
            Payload::ComponentImportSection(reader) => {
                for import in reader.clone() {
                    if let wasmparser::ComponentTypeRef::Value(_) = import?.ty {
                        let what = "a value import";
                        self.note(Feature::CmValues, reader.range().start, what);
                    }
                }
            }
            Payload::ComponentStartSection { range, .. } => {
                self.note(Feature::CmValues, range.start, "a component start function")
            }
            Payload::ComponentCanonicalSection(reader) => {
                for canon in reader.clone() {
                    self.canonical(&canon?, reader.range().start);
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Returns how many type indices the group defines.
    fn rec_group(&mut self, group: &RecGroup, first: u32, offset: u64) -> u32 {
        if group.is_explicit_rec_group() {
            self.note(Feature::Gc, offset, format!("a rec group at type {first}"));
        }
        let mut count = 0;
        for (i, sub) in group.types().enumerate() {
            let index = first + i as u32;
            let what = || format!("type {index}");
            if !sub.is_final || sub.supertype_idx.is_some() {
                self.note(Feature::Gc, offset, format!("subtyping in type {index}"));
            }
            let composite = &sub.composite_type;
            if composite.shared {
                self.note(Feature::SharedEverythingThreads, offset, what());
            }
            if composite.descriptor_idx.is_some() || composite.describes_idx.is_some() {
                self.note(Feature::CustomDescriptors, offset, what());
            }
            match &composite.inner {
                CompositeInnerType::Func(func) => {
                    if func.results().len() > 1 {
                        let what = format!("type {index} with {} results", func.results().len());
                        self.note(Feature::MultiValue, offset, what);
                    }
                    for ty in func.params().iter().chain(func.results()) {
                        self.valtype(*ty, offset, &what);
                    }
                }
                CompositeInnerType::Array(_) => {
                    self.note(Feature::Gc, offset, format!("array type {index}"))
                }
                CompositeInnerType::Struct(_) => {
                    self.note(Feature::Gc, offset, format!("struct type {index}"))
                }
                CompositeInnerType::Cont(_) => self.note(
                    Feature::StackSwitching,
                    offset,
                    format!("continuation type {index}"),
                ),
            }
            count += 1;
        }
        count
    }

    fn memory(&mut self, ty: wasmparser::MemoryType, offset: u64, name: &dyn Fn() -> String) {
        self.state.memories += 1;
        if self.state.memories == 2 {
            self.note(
                Feature::MultiMemory,
                offset,
                format!("a second memory, {}", name()),
            );
        }
        if ty.memory64 {
            self.note(Feature::Memory64, offset, format!("64-bit {}", name()));
        }
        if ty.shared {
            self.note(Feature::Threads, offset, format!("shared {}", name()));
        }
        if ty.page_size_log2.is_some() {
            let what = format!("custom page size of {}", name());
            self.note(Feature::CustomPageSizes, offset, what);
        }
    }

    fn table(&mut self, ty: wasmparser::TableType, offset: u64, name: &dyn Fn() -> String) {
        self.state.tables += 1;
        if self.state.tables == 2 {
            let what = format!("a second table, {}", name());
            self.note(Feature::ReferenceTypes, offset, what);
        }
        if ty.table64 {
            self.note(Feature::Memory64, offset, format!("64-bit {}", name()));
        }
        if ty.shared {
            let what = format!("shared {}", name());
            self.note(Feature::SharedEverythingThreads, offset, what);
        }
        if ty.element_type != RefType::FUNCREF {
            self.valtype(ValType::Ref(ty.element_type), offset, name);
        }
    }

    fn global(&mut self, ty: wasmparser::GlobalType, offset: u64, name: &dyn Fn() -> String) {
        if ty.shared {
            let what = format!("shared {}", name());
            self.note(Feature::SharedEverythingThreads, offset, what);
        }
        self.valtype(ty.content_type, offset, name);
    }

    fn const_expr(&mut self, expr: &ConstExpr<'_>) -> Result<()> {
        let mut scan = OpScan {
            uses: self.uses,
            frame: self.frame,
            func: None,
            offset: 0,
            shift: self.shift,
            in_const: true,
        };
        scan.run(expr.get_operators_reader())
    }

    fn core_type(&mut self, ty: &CoreType<'_>, offset: u64) {
        match ty {
            CoreType::Rec(group) => {
                self.rec_group(group, 0, offset);
            }
            CoreType::Module(decls) => {
                for decl in decls.iter() {
                    if let ModuleTypeDeclaration::Type(group) = decl {
                        self.rec_group(group, 0, offset);
                    }
                }
            }
        }
    }

    fn component_type(&mut self, ty: &ComponentType<'_>, offset: u64) {
        match ty {
            ComponentType::Defined(defined) => self.defined_type(defined, offset),
            ComponentType::Func(func) => {
                if func.async_ {
                    self.note(Feature::CmAsync, offset, "an async function type");
                }
                let params = func.params.iter().map(|(_, t)| t);
                for ty in params.chain(func.result.as_ref()) {
                    self.component_valtype(ty, offset);
                }
            }
            ComponentType::Component(decls) => {
                for decl in decls.iter() {
                    match decl {
                        ComponentTypeDeclaration::CoreType(t) => self.core_type(t, offset),
                        ComponentTypeDeclaration::Type(t) => self.component_type(t, offset),
                        _ => {}
                    }
                }
            }
            ComponentType::Instance(decls) => {
                for decl in decls.iter() {
                    match decl {
                        InstanceTypeDeclaration::CoreType(t) => self.core_type(t, offset),
                        InstanceTypeDeclaration::Type(t) => self.component_type(t, offset),
                        _ => {}
                    }
                }
            }
            ComponentType::Resource { .. } => {}
        }
    }

    fn defined_type(&mut self, ty: &ComponentDefinedType<'_>, offset: u64) {
        use ComponentDefinedType as D;
        let mut inner: Vec<&ComponentValType> = Vec::new();
        match ty {
            D::Stream(t) => {
                self.note(Feature::CmAsync, offset, "a `stream` type");
                inner.extend(t);
            }
            D::Future(t) => {
                self.note(Feature::CmAsync, offset, "a `future` type");
                inner.extend(t);
            }
            D::FixedLengthList(t, _) => {
                self.note(
                    Feature::CmFixedLengthLists,
                    offset,
                    "a fixed-length list type",
                );
                inner.push(t);
            }
            D::Map(k, v) => {
                self.note(Feature::CmMap, offset, "a `map` type");
                inner.extend([k, v]);
            }
            D::Primitive(p) => self.primitive(*p, offset),
            D::Record(fields) => inner.extend(fields.iter().map(|(_, t)| t)),
            D::Variant(cases) => inner.extend(cases.iter().filter_map(|c| c.ty.as_ref())),
            D::List(t) | D::Option(t) => inner.push(t),
            D::Tuple(ts) => inner.extend(ts.iter()),
            D::Result { ok, err } => inner.extend(ok.iter().chain(err)),
            D::Flags(_) | D::Enum(_) | D::Own(_) | D::Borrow(_) => {}
        }
        for t in inner {
            self.component_valtype(t, offset);
        }
    }

    fn component_valtype(&mut self, ty: &ComponentValType, offset: u64) {
        if let ComponentValType::Primitive(p) = ty {
            self.primitive(*p, offset);
        }
    }

    fn primitive(&mut self, ty: PrimitiveValType, offset: u64) {
        if ty == PrimitiveValType::ErrorContext {
            self.note(Feature::CmErrorContext, offset, "the `error-context` type");
        }
    }

    fn canonical(&mut self, canon: &CanonicalFunction, offset: u64) {
        let Some((feature, name)) = canonical_feature(canon) else {
            return;
        };
        self.note(feature, offset, format!("canonical builtin `{name}`"));
        let options: &[CanonicalOption] = match canon {
            CanonicalFunction::Lift { options, .. }
            | CanonicalFunction::Lower { options, .. }
            | CanonicalFunction::TaskReturn { options, .. }
            | CanonicalFunction::StreamRead { options, .. }
            | CanonicalFunction::StreamWrite { options, .. }
            | CanonicalFunction::FutureRead { options, .. }
            | CanonicalFunction::FutureWrite { options, .. } => options,
            _ => &[],
        };
        for option in options {
            match option {
                CanonicalOption::Async | CanonicalOption::Callback(_) => self.note(
                    Feature::CmAsync,
                    offset,
                    format!("the async option of `{name}`"),
                ),
                CanonicalOption::Gc | CanonicalOption::CoreType(_) => {
                    self.note(Feature::CmGc, offset, format!("the gc option of `{name}`"))
                }
                _ => {}
            }
        }
    }
}

/// The proposal behind a canonical builtin, and its name in the text format. Lift and lower
/// return the base component model so that their options are still looked at.
fn canonical_feature(canon: &CanonicalFunction) -> Option<(Feature, &'static str)> {
    use CanonicalFunction as C;
    use Feature::*;
    Some(match canon {
        C::Lift { .. } => (ComponentModel, "canon lift"),
        C::Lower { .. } => (ComponentModel, "canon lower"),
        C::ResourceNew { .. } | C::ResourceDrop { .. } | C::ResourceRep { .. } => return None,
        C::ThreadSpawnRef { .. } => (SharedEverythingThreads, "thread.spawn-ref"),
        C::ThreadSpawnIndirect { .. } => (SharedEverythingThreads, "thread.spawn-indirect"),
        C::ThreadAvailableParallelism => (SharedEverythingThreads, "thread.available-parallelism"),
        C::BackpressureInc => (CmAsync, "backpressure.inc"),
        C::BackpressureDec => (CmAsync, "backpressure.dec"),
        C::TaskReturn { .. } => (CmAsync, "task.return"),
        C::TaskCancel => (CmAsync, "task.cancel"),
        C::ContextGet { .. } => (CmAsync, "context.get"),
        C::ContextSet { .. } => (CmAsync, "context.set"),
        C::ThreadYield { .. } => (CmAsync, "thread.yield"),
        C::SubtaskDrop => (CmAsync, "subtask.drop"),
        C::SubtaskCancel { .. } => (CmAsync, "subtask.cancel"),
        C::StreamNew { .. } => (CmAsync, "stream.new"),
        C::StreamRead { .. } => (CmAsync, "stream.read"),
        C::StreamWrite { .. } => (CmAsync, "stream.write"),
        C::StreamCancelRead { .. } => (CmAsync, "stream.cancel-read"),
        C::StreamCancelWrite { .. } => (CmAsync, "stream.cancel-write"),
        C::StreamDropReadable { .. } => (CmAsync, "stream.drop-readable"),
        C::StreamDropWritable { .. } => (CmAsync, "stream.drop-writable"),
        C::FutureNew { .. } => (CmAsync, "future.new"),
        C::FutureRead { .. } => (CmAsync, "future.read"),
        C::FutureWrite { .. } => (CmAsync, "future.write"),
        C::FutureCancelRead { .. } => (CmAsync, "future.cancel-read"),
        C::FutureCancelWrite { .. } => (CmAsync, "future.cancel-write"),
        C::FutureDropReadable { .. } => (CmAsync, "future.drop-readable"),
        C::FutureDropWritable { .. } => (CmAsync, "future.drop-writable"),
        C::ErrorContextNew { .. } => (CmErrorContext, "error-context.new"),
        C::ErrorContextDebugMessage { .. } => (CmErrorContext, "error-context.debug-message"),
        C::ErrorContextDrop => (CmErrorContext, "error-context.drop"),
        C::WaitableSetNew => (CmAsync, "waitable-set.new"),
        C::WaitableSetWait { .. } => (CmAsync, "waitable-set.wait"),
        C::WaitableSetPoll { .. } => (CmAsync, "waitable-set.poll"),
        C::WaitableSetDrop => (CmAsync, "waitable-set.drop"),
        C::WaitableJoin => (CmAsync, "waitable.join"),
        C::ThreadIndex => (CmThreading, "thread.index"),
        C::ThreadNewIndirect { .. } => (CmThreading, "thread.new-indirect"),
        C::ThreadResumeLater => (CmThreading, "thread.resume-later"),
        C::ThreadSuspend { .. } => (CmThreading, "thread.suspend"),
        C::ThreadSuspendThenResume { .. } => (CmThreading, "thread.suspend-then-resume"),
        C::ThreadYieldThenResume { .. } => (CmThreading, "thread.yield-then-resume"),
        C::ThreadSuspendThenPromote { .. } => (CmThreading, "thread.suspend-then-promote"),
        C::ThreadYieldThenPromote { .. } => (CmThreading, "thread.yield-then-promote"),
    })
}

/// The features a value type needs beyond the MVP's `i32 i64 f32 f64`.
fn valtype_features(ty: ValType, f: &mut dyn FnMut(Feature)) {
    match ty {
        ValType::I32 | ValType::I64 | ValType::F32 | ValType::F64 => {}
        ValType::V128 => f(Feature::Simd),
        ValType::Ref(rt) => reftype_features(rt, f),
    }
}

fn reftype_features(rt: RefType, f: &mut dyn FnMut(Feature)) {
    f(Feature::ReferenceTypes);
    if !rt.is_nullable() {
        f(Feature::FunctionReferences);
    }
    match rt.heap_type() {
        HeapType::Concrete(_) => f(Feature::FunctionReferences),
        HeapType::Exact(_) => f(Feature::CustomDescriptors),
        HeapType::Abstract { shared, ty } => {
            if shared {
                f(Feature::SharedEverythingThreads);
            }
            use AbstractHeapType as A;
            match ty {
                A::Func => {}
                // `externref` is reference-types, but wasmparser gates it, like every type a
                // collector manages, behind `gc-types` (which wasmtime's Winch lacks).
                A::Extern => f(Feature::GcTypes),
                A::Exn | A::NoExn => f(Feature::Exceptions),
                A::Cont | A::NoCont => f(Feature::StackSwitching),
                A::NoFunc => f(Feature::Gc),
                A::Any | A::Eq | A::I31 | A::Struct | A::Array | A::None | A::NoExtern => {
                    f(Feature::Gc);
                    f(Feature::GcTypes);
                }
            }
        }
    }
}

/// Validates one function body and, when `scan` is given (the uses to add to, the body's frame
/// and the shift of its offsets), records the features it uses in the same visit: every
/// operator is decoded once, and both the validator's visitor and the scan see it.
pub(crate) fn validate_body(
    func: &mut FuncValidator<ValidatorResources>,
    body: &FunctionBody<'_>,
    scan: Option<(&mut Uses, usize, u64)>,
) -> Result<()> {
    let Some((uses, frame, shift)) = scan else {
        return func.validate(body);
    };
    let index = func.index();
    let mut reader = body.get_binary_reader();
    for _ in 0..reader.read_var_u32()? {
        let offset = reader.original_position();
        let count: u32 = reader.read()?;
        let ty: ValType = reader.read()?;
        func.define_locals(offset, count, ty)?;
        let at = body.range().start + shift;
        valtype_features(ty, &mut |feature| {
            uses.hit(feature, || Hit {
                offset: at,
                frame,
                func: Some(index),
                what: What::Text("a local".into()),
            })
        });
    }
    reader.set_features(*func.features());
    let mut scan = OpScan {
        uses,
        frame,
        func: Some(index),
        offset: 0,
        shift,
        in_const: false,
    };
    while !reader.eof() {
        let offset = reader.original_position();
        scan.offset = offset + shift;
        let mut both = Both {
            validator: func.visitor(offset),
            scan: &mut scan,
        };
        reader.visit_operator(&mut both)??;
    }
    reader.finish_expression(&func.visitor(reader.original_position()))
}

/// An operator visitor that records, for every instruction, the proposal that introduced it.
struct OpScan<'u> {
    uses: &'u mut Uses,
    frame: usize,
    func: Option<u32>,
    /// Offset in the input of the instruction being visited.
    offset: u64,
    /// Added to the reader's offsets to make them offsets in the input.
    shift: u64,
    /// Constant expressions have their own rule: arithmetic there is `extended-const`.
    in_const: bool,
}

impl OpScan<'_> {
    fn run(&mut self, mut reader: wasmparser::OperatorsReader<'_>) -> Result<()> {
        while !reader.eof() {
            self.offset = reader.original_position() + self.shift;
            reader.visit_operator(self)?;
        }
        Ok(())
    }

    fn op(&mut self, feature: Option<Feature>, visit: &'static str) {
        let feature = match feature {
            // wasmparser files these under bulk-memory, but gates them on the smaller
            // `bulk-memory-opt` that `lime1` has.
            Some(Feature::BulkMemory)
                if matches!(visit, "visit_memory_copy" | "visit_memory_fill") =>
            {
                Some(Feature::BulkMemoryOpt)
            }
            None if self.in_const && is_extended_const(visit) => Some(Feature::ExtendedConst),
            other => other,
        };
        if let Some(feature) = feature {
            let (offset, frame, func) = (self.offset, self.frame, self.func);
            let in_const = self.in_const;
            self.uses.hit(feature, || Hit {
                offset,
                frame,
                func,
                what: if in_const {
                    let name = instruction_name(visit);
                    What::Text(format!("{name} in a constant expression").into())
                } else {
                    What::Instr(visit)
                },
            });
        }
    }

    fn blockty(&mut self, ty: BlockType, visit: &'static str) {
        match ty {
            BlockType::Empty => {}
            BlockType::Type(ty) => {
                let mut found = Vec::new();
                valtype_features(ty, &mut |f| found.push(f));
                for f in found {
                    self.op(Some(f), visit);
                }
            }
            BlockType::FuncType(_) => self.op(Some(Feature::MultiValue), visit),
        }
    }
}

fn is_extended_const(visit: &str) -> bool {
    matches!(
        visit,
        "visit_i32_add"
            | "visit_i32_sub"
            | "visit_i32_mul"
            | "visit_i64_add"
            | "visit_i64_sub"
            | "visit_i64_mul"
    )
}

/// The feature behind each `@proposal` label of wasmparser's operator table.
macro_rules! proposal_feature {
    (mvp) => {
        None
    };
    (sign_extension) => {
        Some(Feature::SignExtension)
    };
    (saturating_float_to_int) => {
        Some(Feature::SaturatingFloatToInt)
    };
    (bulk_memory) => {
        Some(Feature::BulkMemory)
    };
    (reference_types) => {
        Some(Feature::ReferenceTypes)
    };
    (tail_call) => {
        Some(Feature::TailCall)
    };
    (threads) => {
        Some(Feature::Threads)
    };
    (simd) => {
        Some(Feature::Simd)
    };
    (relaxed_simd) => {
        Some(Feature::RelaxedSimd)
    };
    (exceptions) => {
        Some(Feature::Exceptions)
    };
    (legacy_exceptions) => {
        Some(Feature::LegacyExceptions)
    };
    (function_references) => {
        Some(Feature::FunctionReferences)
    };
    (gc) => {
        Some(Feature::Gc)
    };
    (shared_everything_threads) => {
        Some(Feature::SharedEverythingThreads)
    };
    (stack_switching) => {
        Some(Feature::StackSwitching)
    };
    (wide_arithmetic) => {
        Some(Feature::WideArithmetic)
    };
    (memory_control) => {
        Some(Feature::MemoryControl)
    };
    (custom_descriptors) => {
        Some(Feature::CustomDescriptors)
    };
}

macro_rules! define_visit {
    ($( @$proposal:ident $op:ident $({ $($arg:ident: $argty:ty),* })? => $visit:ident ($($ann:tt)*))*) => {
        $( define_visit!(one @$proposal $op $({ $($arg: $argty),* })? => $visit); )*
    };
    // Block types can carry multiple values or new value types.
    (one @$proposal:ident $op:ident { blockty: $ty:ty } => $visit:ident) => {
        fn $visit(&mut self, blockty: $ty) {
            self.blockty(blockty, stringify!($visit));
            self.op(proposal_feature!($proposal), stringify!($visit));
        }
    };
    (one @$proposal:ident $op:ident $({ $($arg:ident: $argty:ty),* })? => $visit:ident) => {
        fn $visit(&mut self $($(, _: $argty)*)?) {
            self.op(proposal_feature!($proposal), stringify!($visit));
        }
    };
}

impl<'a> wasmparser::VisitOperator<'a> for OpScan<'_> {
    type Output = ();

    fn simd_visitor(
        &mut self,
    ) -> Option<&mut dyn wasmparser::VisitSimdOperator<'a, Output = Self::Output>> {
        Some(self)
    }

    wasmparser::for_each_visit_operator!(define_visit);
}

impl<'a> wasmparser::VisitSimdOperator<'a> for OpScan<'_> {
    wasmparser::for_each_visit_simd_operator!(define_visit);
}

/// The validator's operator visitor with the feature scan beside it: each `visit_*` call is
/// seen by the scan, then answered by the validator.
struct Both<'s, 'u, V> {
    validator: V,
    scan: &'s mut OpScan<'u>,
}

macro_rules! define_both {
    ($( @$proposal:ident $op:ident $({ $($arg:ident: $argty:ty),* })? => $visit:ident ($($ann:tt)*))*) => {
        $( define_both!(one @$proposal $op $({ $($arg: $argty),* })? => $visit); )*
    };
    (one @$proposal:ident $op:ident { blockty: $ty:ty } => $visit:ident) => {
        fn $visit(&mut self, blockty: $ty) -> Self::Output {
            self.scan.blockty(blockty, stringify!($visit));
            if let Some(feature) = proposal_feature!($proposal) {
                self.scan.op(Some(feature), stringify!($visit));
            }
            self.validator.$visit(blockty)
        }
    };
    (one @$proposal:ident $op:ident $({ $($arg:ident: $argty:ty),* })? => $visit:ident) => {
        fn $visit(&mut self $($(, $arg: $argty)*)?) -> Self::Output {
            if let Some(feature) = proposal_feature!($proposal) {
                self.scan.op(Some(feature), stringify!($visit));
            }
            self.validator.$visit($($($arg),*)?)
        }
    };
}

macro_rules! define_both_simd {
    ($( @$proposal:ident $op:ident $({ $($arg:ident: $argty:ty),* })? => $visit:ident ($($ann:tt)*))*) => {
        $(
            fn $visit(&mut self $($(, $arg: $argty)*)?) -> Self::Output {
                self.scan.op(proposal_feature!($proposal), stringify!($visit));
                match self.validator.simd_visitor() {
                    Some(v) => v.$visit($($($arg),*)?),
                    // `simd_visitor` below only answers when the validator's does.
                    None => unreachable!("SIMD operator without a SIMD visitor"),
                }
            }
        )*
    };
}

impl<'a, V> wasmparser::VisitOperator<'a> for Both<'_, '_, V>
where
    V: wasmparser::VisitOperator<'a, Output = Result<()>>,
{
    type Output = Result<()>;

    fn simd_visitor(
        &mut self,
    ) -> Option<&mut dyn wasmparser::VisitSimdOperator<'a, Output = Self::Output>> {
        self.validator.simd_visitor()?;
        Some(self)
    }

    wasmparser::for_each_visit_operator!(define_both);
}

impl<V: wasmparser::FrameStack> wasmparser::FrameStack for Both<'_, '_, V> {
    fn current_frame(&self) -> Option<wasmparser::FrameKind> {
        self.validator.current_frame()
    }
}

impl<'a, V> wasmparser::VisitSimdOperator<'a> for Both<'_, '_, V>
where
    V: wasmparser::VisitOperator<'a, Output = Result<()>>,
{
    wasmparser::for_each_visit_simd_operator!(define_both_simd);
}

/// The text-format spelling of an instruction from its visitor method name, close enough to
/// find it in `wasm-tools print` output (`visit_i32_trunc_sat_f32_s` → `i32.trunc_sat_f32_s`).
pub(crate) fn instruction_name(visit: &str) -> String {
    let name = visit.strip_prefix("visit_").unwrap_or(visit);
    const PREFIXES: [&str; 22] = [
        "i32", "i64", "f32", "f64", "v128", "i8x16", "i16x8", "i32x4", "i64x2", "f32x4", "f64x2",
        "memory", "table", "ref", "local", "global", "elem", "data", "struct", "array", "any",
        "extern",
    ];
    match name.split_once('_') {
        Some((prefix, rest)) if PREFIXES.contains(&prefix) => format!("{prefix}.{rest}"),
        _ => name.to_string(),
    }
}
