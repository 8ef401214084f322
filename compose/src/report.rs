//! The plug report as people read it; `--json` serializes the same `ComposeReport`.

use crate::composition::ComposeReport;
use crate::names;
use std::fmt;

impl fmt::Display for ComposeReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "plugged:")?;
        for link in &self.links {
            let renamed = if link.export == link.import {
                String::new()
            } else {
                format!(" (as `{}`)", link.export)
            };
            writeln!(
                f,
                "    {} ← {}{renamed}  [import of {}; {}]",
                link.import, link.provider, link.consumer, link.rule
            )?;
        }
        if self.host_imports.is_empty() {
            writeln!(f, "left for the host: nothing")?;
        } else {
            writeln!(f, "left for the host ({}):", self.host_imports.len())?;
        }
        for import in &self.host_imports {
            let wanted: Vec<String> = import
                .wanted_by
                .iter()
                .map(|w| {
                    if w.import == import.name {
                        w.input.clone()
                    } else {
                        format!(
                            "{} as {}",
                            w.input,
                            names::version(&w.import).unwrap_or(&w.import)
                        )
                    }
                })
                .collect();
            if wanted.is_empty() {
                writeln!(f, "    {}", import.name)?;
            } else {
                writeln!(f, "    {}  [{}]", import.name, wanted.join(", "))?;
            }
            for want in import.wanted_by.iter().filter(|w| w.kept) {
                match &want.could_fill {
                    Some(plug) => writeln!(
                        f,
                        "        kept for the host by --host, although `{plug}` could fill it for {}",
                        want.input
                    )?,
                    None => writeln!(f, "        kept for the host by --host")?,
                }
            }
        }
        // A plug that filled nothing explains its mismatches among its reasons.
        for mismatch in &self.mismatches {
            if !self.unused_plugs.iter().any(|p| p.plug == mismatch.plug) {
                writeln!(f, "warning: {mismatch}")?;
            }
        }
        for plug in &self.unused_plugs {
            writeln!(f, "warning: {plug}")?;
        }
        Ok(())
    }
}
