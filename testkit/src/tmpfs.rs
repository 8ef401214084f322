//! A small tmpfs over a directory, for full-disk tests. Mounting needs root, as CI runs.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A tmpfs mounted over a directory, its old contents copied in; unmounted on drop.
pub struct Tmpfs(PathBuf);

impl Tmpfs {
    pub fn over(dir: &Path, size: &str) -> Self {
        let aside = dir.with_extension("before-mount");
        std::fs::rename(dir, &aside).unwrap();
        std::fs::create_dir(dir).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .unwrap_or_else(|e| panic!("cannot run mount: {e}"));
        assert!(
            out.status.success(),
            "a full-disk test mounts a tmpfs over `{}` and needs root (CI runs as root): \
             mount said {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
        let mounted = Tmpfs(dir.to_path_buf());
        let copied = Command::new("cp")
            .arg("-a")
            .arg(format!("{}/.", aside.display()))
            .arg(dir)
            .status()
            .unwrap();
        assert!(copied.success());
        mounted
    }

    /// Fills what is left of the file system; the filler's path.
    pub fn fill(&self) -> PathBuf {
        use std::io::Write;
        let path = self.0.join("filler");
        let mut file = std::fs::File::create(&path).unwrap();
        let block = vec![0u8; 64 * 1024];
        while file.write_all(&block).is_ok() {}
        let small = [0u8; 512];
        while file.write_all(&small).is_ok() {}
        let _ = file.sync_all();
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}
