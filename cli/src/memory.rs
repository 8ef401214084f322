//! Process-wide allocator settings.

/// One malloc arena for the whole process. glibc gives every thread that allocates an arena of
/// its own, and memory freed there stays resident; compose validates on rayon's workers, and
/// with an 18 MB input those extra arenas held about 1.3 MB above what one arena needs. It
/// must run before other threads start. (binaryen, whose parallel passes want arenas of their
/// own, runs in the `wtool-binaryen` process.)
pub fn single_arena() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator tuning; glibc allows it at any time.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}
