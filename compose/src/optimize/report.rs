//! The optimization report as people read it; `--json` serializes the same `OptimizeReport`.
//!
//! Times are left out unless asked for, so that the same input always prints the same text.

use super::{ModuleStatus, OptimizeReport};
use std::fmt;

/// The report, with times (`with_times`) or without.
pub struct Text<'a> {
    /// The report to show.
    pub report: &'a OptimizeReport,
    /// Show how long each step took.
    pub with_times: bool,
}

impl OptimizeReport {
    /// The report as text, with times or without.
    pub fn text(&self, with_times: bool) -> Text<'_> {
        Text {
            report: self,
            with_times,
        }
    }
}

impl fmt::Display for OptimizeReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.text(false).fmt(f)
    }
}

fn change(before: usize, after: usize) -> String {
    if before == 0 {
        return String::new();
    }
    let pct = (after as f64 - before as f64) * 100.0 / before as f64;
    format!("{pct:+.1}%")
}

impl fmt::Display for Text<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self.report;
        writeln!(f, "optimized with {} ({}):", r.level, r.binaryen)?;
        let width = r
            .modules
            .iter()
            .map(|m| m.location.len())
            .max()
            .unwrap_or(0);
        for m in &r.modules {
            write!(f, "    {:<width$}  ", m.location)?;
            match m.status {
                ModuleStatus::Optimized => write!(
                    f,
                    "{:>9} → {:>9} bytes  {}",
                    m.size_before,
                    m.size_after,
                    change(m.size_before, m.size_after)
                )?,
                ModuleStatus::Unchanged => write!(
                    f,
                    "{:>9} → {:>9} bytes  not optimized: {}",
                    m.size_before,
                    m.size_after,
                    m.note.as_deref().unwrap_or("")
                )?,
            }
            if self.with_times {
                write!(f, "  in {:.1} ms", m.time_ms)?;
            }
            writeln!(f)?;
        }
        if !r.deduplicated.is_empty() {
            writeln!(f, "deduplicated:")?;
            for d in &r.deduplicated {
                writeln!(
                    f,
                    "    {}: copy of {} ({} bytes)",
                    d.location, d.same_as, d.size
                )?;
            }
        }
        if !r.stripped.is_empty() {
            writeln!(f, "stripped:")?;
            for s in &r.stripped {
                let sections = if s.count == 1 { "section" } else { "sections" };
                writeln!(
                    f,
                    "    {} ({} {sections}, {} bytes)",
                    s.name, s.count, s.bytes
                )?;
            }
        }
        write!(
            f,
            "size: {} → {} bytes ({})",
            r.size_before,
            r.size_after,
            change(r.size_before, r.size_after)
        )?;
        if self.with_times {
            write!(f, " in {:.1} ms", r.time_ms)?;
        }
        writeln!(f)
    }
}
