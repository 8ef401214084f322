//! The plug report as people read it; `--json` serializes the same `Report`.

use crate::composition::Report;
use std::fmt;

impl fmt::Display for Report {
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
                "    {} ← {}{renamed}  [import of {}]",
                link.import, link.provider_name, link.consumer_name
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
                        format!("{} as {}", w.input, version_of(&w.import))
                    }
                })
                .collect();
            if wanted.is_empty() {
                writeln!(f, "    {}", import.name)?;
            } else {
                writeln!(f, "    {}  [{}]", import.name, wanted.join(", "))?;
            }
        }
        for plug in &self.unused_plugs {
            writeln!(f, "warning: {plug}")?;
        }
        Ok(())
    }
}

fn version_of(name: &str) -> &str {
    name.split_once('@').map_or(name, |(_, v)| v)
}
