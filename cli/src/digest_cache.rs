//! sha256 digests of input files remembered between runs. Every composition records the digest
//! of each input (its provenance section), and hashing a large input costs as much as the rest
//! of a small composition; rebuilding against the same dependencies should not pay it again.
//!
//! An entry names the file's identity, size and timestamps, and is trusted only while all of
//! them are unchanged. File timestamps are coarse (a kernel tick), so a file rewritten twice
//! within one tick at the same size would look unchanged: entries are therefore only written
//! for files last modified well before they were hashed, as git does for its index.
//!
//! The cache is an optimization only: any failure to read or write it is ignored.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Smaller files hash faster than their entry can be read.
const MIN_SIZE: u64 = 256 << 10;
/// How long a file must have been left alone before its digest is remembered.
const SETTLED: Duration = Duration::from_secs(2);

/// What identifies one version of a file, read before its bytes are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stamp {
    entry: PathBuf,
    fields: String,
    /// The later of the modification and change times.
    changed: SystemTime,
}

impl Stamp {
    /// `None` for files too small to be worth it, and where the metadata cannot be read.
    pub fn of(cache_dir: &Path, path: &Path) -> Option<Self> {
        let meta = std::fs::metadata(path).ok()?;
        if !meta.is_file() || meta.len() < MIN_SIZE {
            return None;
        }
        let absolute = std::path::absolute(path).ok()?;
        let key = crate::digest::Digest::of(absolute.as_os_str().as_encoded_bytes());
        let (fields, changed) = identity(&meta)?;
        Some(Self {
            entry: cache_dir.join("input-digests").join(&key.hex()[..32]),
            fields,
            changed,
        })
    }

    pub fn lookup(&self) -> Option<[u8; 32]> {
        let text = std::fs::read_to_string(&self.entry).ok()?;
        let (fields, digest) = text.rsplit_once(' ')?;
        if fields != self.fields {
            return None;
        }
        let mut bytes = [0; 32];
        hex::decode_to_slice(digest.trim_end(), &mut bytes).ok()?;
        Some(bytes)
    }

    /// Writes the entry; called for stamps whose [`lookup`](Self::lookup) missed.
    pub fn remember(&self, digest: &str) {
        self.remember_if_settled(digest, SETTLED)
    }

    fn remember_if_settled(&self, digest: &str, settle: Duration) {
        let settled = SystemTime::now()
            .duration_since(self.changed)
            .is_ok_and(|age| age >= settle);
        if !settled {
            return;
        }
        let text = format!("{} {digest}\n", self.fields);
        let _ = crate::atomic::write_creating_dir(&self.entry, text.as_bytes());
    }
}

#[cfg(unix)]
fn identity(meta: &std::fs::Metadata) -> Option<(String, SystemTime)> {
    use std::os::unix::fs::MetadataExt;
    let fields = format!(
        "{} {} {} {}.{} {}.{}",
        meta.dev(),
        meta.ino(),
        meta.len(),
        meta.mtime(),
        meta.mtime_nsec(),
        meta.ctime(),
        meta.ctime_nsec()
    );
    let ctime = u64::try_from(meta.ctime()).ok()?;
    let ctime = SystemTime::UNIX_EPOCH + Duration::new(ctime, meta.ctime_nsec() as u32);
    Some((fields, ctime.max(meta.modified().ok()?)))
}

#[cfg(not(unix))]
fn identity(_: &std::fs::Metadata) -> Option<(String, SystemTime)> {
    // Without an inode and a change time, a replaced file could look unchanged.
    None
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    const DIGEST: &str = "aa00000000000000000000000000000000000000000000000000000000000001";
    const SIZE: usize = 300 << 10;

    /// A scratch directory holding `input.wasm` of `size` bytes, and a cache path inside it.
    fn input(size: usize) -> (tempfile::TempDir, PathBuf, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("input.wasm");
        std::fs::write(&path, vec![1; size]).unwrap();
        let cache = dir.path().join("cache");
        (dir, path, cache)
    }

    #[test]
    fn a_settled_file_is_remembered_until_it_changes() {
        let (_dir, path, cache) = input(SIZE);
        std::thread::sleep(Duration::from_millis(100));
        let stamp = Stamp::of(&cache, &path).unwrap();
        assert_eq!(stamp.lookup(), None);
        stamp.remember_if_settled(DIGEST, Duration::from_millis(50));
        let again = Stamp::of(&cache, &path).unwrap();
        assert_eq!(again.lookup().map(hex::encode).as_deref(), Some(DIGEST));

        // The same size, written back with its old modification time: the change time moved.
        let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
        std::fs::write(&path, [2; SIZE]).unwrap();
        let f = std::fs::File::options().write(true).open(&path).unwrap();
        f.set_times(std::fs::FileTimes::new().set_modified(modified))
            .unwrap();
        assert_eq!(Stamp::of(&cache, &path).unwrap().lookup(), None);
    }

    #[test]
    fn a_file_written_just_now_is_not_remembered() {
        let (_dir, path, cache) = input(SIZE);
        Stamp::of(&cache, &path)
            .unwrap()
            .remember_if_settled(DIGEST, Duration::from_secs(30));
        assert_eq!(Stamp::of(&cache, &path).unwrap().lookup(), None);
    }

    #[test]
    fn small_files_are_not_cached() {
        let (_dir, path, cache) = input(1000);
        assert_eq!(Stamp::of(&cache, &path), None);
    }
}
