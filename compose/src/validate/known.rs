//! Function bodies already found valid, so that content which repeats them is not validated
//! again. A new release of a component usually keeps most of its code: componentize-py's
//! interpreter, a language runtime, the WASI adapter. Validating function bodies is most of the
//! time a registry spends on an upload, and those bodies do not change between releases.
//!
//! A body's validity depends only on the body, its index, the features enabled, and the
//! sections of its module before the code section (types, imports, functions, tables,
//! memories, globals, elements, the data count): that is everything its operators can refer
//! to. So a body is known by the SHA-256 of those, and a digest that matches is as good as
//! validating the body again. Custom sections are left out, since they cannot change validity.
//!
//! Memory is bounded: digests are kept in two generations of at most `per_generation` each.
//! When the current one fills, it becomes the previous one and the oldest is dropped; a
//! digest found in the previous generation moves back into the current one.

use sha2::{Digest as _, Sha256};
use std::collections::HashSet;
use std::sync::Mutex;
use wasmparser::WasmFeatures;

/// The digest that stands for one valid function body in its module.
pub(crate) type BodyKey = [u8; 32];

/// A shared, bounded set of function bodies known to be valid; see the module docs.
#[derive(Debug)]
pub struct KnownBodies {
    per_generation: usize,
    generations: Mutex<Generations>,
}

#[derive(Debug, Default)]
struct Generations {
    current: HashSet<BodyKey>,
    previous: HashSet<BodyKey>,
}

impl KnownBodies {
    /// A set that keeps up to twice `per_generation` digests (32 bytes each, plus the set's
    /// overhead).
    pub fn new(per_generation: usize) -> Self {
        Self {
            per_generation: per_generation.max(1),
            generations: Mutex::default(),
        }
    }

    /// How many bodies are known.
    pub fn len(&self) -> usize {
        let g = self.lock();
        g.current.len() + g.previous.len()
    }

    /// Whether no body is known.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn contains(&self, key: &BodyKey) -> bool {
        let mut g = self.lock();
        if g.current.contains(key) {
            return true;
        }
        if g.previous.remove(key) {
            self.add(&mut g, *key);
            return true;
        }
        false
    }

    pub(crate) fn insert_all(&self, keys: impl IntoIterator<Item = BodyKey>) {
        let mut g = self.lock();
        for key in keys {
            self.add(&mut g, key);
        }
    }

    fn add(&self, g: &mut Generations, key: BodyKey) {
        if g.current.len() >= self.per_generation {
            g.previous = std::mem::take(&mut g.current);
        }
        g.current.insert(key);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Generations> {
        // A panic elsewhere while the lock was held leaves a set that is still sound.
        self.generations
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The digest of a module's sections before its code section, as they stream past.
#[derive(Clone, Debug)]
pub(crate) enum Context {
    /// Still before the code section.
    Hashing(Sha256),
    /// At or past the code section.
    Known([u8; 32]),
}

impl Context {
    pub(crate) fn new(features: WasmFeatures) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(features.bits().to_le_bytes());
        Self::Hashing(hasher)
    }

    /// Takes in one section (its id, size and contents, as in the input).
    pub(crate) fn section(&mut self, raw: &[u8]) {
        if let Self::Hashing(hasher) = self {
            hasher.update((raw.len() as u64).to_le_bytes());
            hasher.update(raw);
        }
    }

    /// The code section starts: nothing after it can change what a body may refer to.
    pub(crate) fn close(&mut self) {
        if let Self::Hashing(hasher) = self {
            *self = Self::Known(std::mem::take(hasher).finalize().into());
        }
    }

    /// The key of the body of function `index`, its bytes as in the input.
    pub(crate) fn key(&self, index: u32, raw: &[u8]) -> Option<BodyKey> {
        let Self::Known(context) = self else {
            return None;
        };
        let mut hasher = Sha256::new();
        hasher.update(context);
        hasher.update(index.to_le_bytes());
        hasher.update(raw);
        Some(hasher.finalize().into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> BodyKey {
        [n; 32]
    }

    #[test]
    fn the_oldest_generation_goes_and_a_hit_is_kept() {
        let known = KnownBodies::new(2);
        known.insert_all([key(1), key(2)]);
        // The third starts a new generation; 1 and 2 are now the previous one.
        known.insert_all([key(3)]);
        assert!(
            known.contains(&key(1)),
            "moved back into the current generation"
        );
        // 3 and 1 fill the current generation; 4 pushes them into the previous one, and 2,
        // which was never asked for again, is dropped.
        known.insert_all([key(4), key(5)]);
        assert!(!known.contains(&key(2)));
        assert!(known.contains(&key(4)));
        assert!(known.len() <= 4);
    }

    #[test]
    fn keys_depend_on_the_context_the_index_and_the_body() {
        let context = |sections: &[&[u8]]| {
            let mut c = Context::new(WasmFeatures::default());
            for s in sections {
                c.section(s);
            }
            c.close();
            c
        };
        let a = context(&[b"\x01\x04\x01\x60\x00\x00"]);
        let b = context(&[b"\x01\x05\x01\x60\x00\x01\x7f"]);
        assert_eq!(a.key(0, b"\x02\x00\x0b"), a.key(0, b"\x02\x00\x0b"));
        assert_ne!(a.key(0, b"\x02\x00\x0b"), b.key(0, b"\x02\x00\x0b"));
        assert_ne!(a.key(0, b"\x02\x00\x0b"), a.key(1, b"\x02\x00\x0b"));
        assert_ne!(a.key(0, b"\x02\x00\x0b"), a.key(0, b"\x03\x00\x01\x0b"));
        // Sections split differently are different contexts.
        assert_ne!(
            context(&[b"ab", b"c"]).key(0, b""),
            context(&[b"a", b"bc"]).key(0, b"")
        );
        let mut open = Context::new(WasmFeatures::default());
        open.section(b"x");
        assert_eq!(open.key(0, b""), None, "no key before the code section");
        let mut other = Context::new(WasmFeatures::all());
        other.section(b"\x01\x04\x01\x60\x00\x00");
        other.close();
        assert_ne!(
            other.key(0, b""),
            a.key(0, b""),
            "features are part of the context"
        );
    }
}
