//! The wiring flags of `wtool compose`: `--plug [NAME=]PLUG[#EXPORT]`, `--wire`, `--export`,
//! `--host`, `--deny-host-imports` and `--allow-host-import`, turned into the library's typed
//! [`Wiring`] once every input has a name.

use super::inputs::Source;
use crate::exit::{fail, Code};
use anyhow::Result;
use std::path::Path;
use wtool_compose::plan::InputId;
use wtool_compose::{HostImports, Wire, Wiring};

/// One socket or `--plug` argument, split into its parts.
pub struct InputArg {
    /// The name given with `NAME=`.
    pub name: Option<String>,
    /// The file or package reference.
    pub source: String,
    /// The export given with `#EXPORT`.
    pub export: Option<String>,
}

/// Splits `[NAME=]SOURCE[#EXPORT]`. A whole argument that exists as a file is a path, even
/// with `=` or `#` in it.
pub fn parse_input(arg: &str) -> Result<InputArg> {
    let whole = InputArg {
        name: None,
        source: arg.to_string(),
        export: None,
    };
    if Path::new(arg).is_file() {
        return Ok(whole);
    }
    let (name, rest) = match arg.split_once('=') {
        Some((name, rest)) if is_name(name) => (Some(name.to_string()), rest),
        Some((name, _)) if !name.contains(['/', '\\', ':', '.']) => fail!(
            Code::Usage,
            "`{name}` in `{arg}` is not a name for an input: use letters, digits, `-` and `_` \
             (`--plug NAME=FILE`)"
        ),
        _ => (None, arg),
    };
    let (source, export) = match rest.rsplit_once('#') {
        Some((source, export)) if !Path::new(rest).is_file() => {
            if export.is_empty() {
                fail!(
                    Code::Usage,
                    "`{arg}` ends in `#` without an export; write `PLUG#EXPORT`, for example \
                     `logger.wasm#example:logging/logger@0.1.0`"
                );
            }
            (source, Some(export.to_string()))
        }
        _ => (rest, None),
    };
    Ok(InputArg {
        name,
        source: source.to_string(),
        export,
    })
}

fn is_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// The name an input goes by in `--wire` and `--export`: the one given with `NAME=`, the file
/// stem, or a registry package's name without its namespace.
pub fn input_name(arg: &InputArg, source: &Source) -> String {
    if let Some(name) = &arg.name {
        return name.clone();
    }
    match source {
        Source::File(path) => path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| arg.source.clone()),
        Source::Package(spec) => spec.name.name().to_string(),
    }
}

/// Fails when two inputs share a name, saying how to tell them apart.
pub fn check_unique(names: &[String], args: &[InputArg]) -> Result<()> {
    for (i, name) in names.iter().enumerate() {
        if let Some(j) = names[..i].iter().position(|n| n == name) {
            fail!(
                Code::Usage,
                "two inputs are named `{name}` (`{}` and `{}`); name them apart with \
                 `--plug NAME=FILE`",
                args[j].source,
                args[i].source
            );
        }
    }
    Ok(())
}

/// The wiring flags as given.
pub struct Flags<'a> {
    pub wires: &'a [String],
    pub exports: &'a [String],
    pub host: &'a [String],
    pub deny_host_imports: bool,
    pub allow_host_imports: &'a [String],
}

/// The typed wiring: every name resolved to its input.
pub fn wiring(flags: &Flags, names: &[String], args: &[InputArg]) -> Result<Wiring> {
    let id = |name: &str, flag: &str, text: &str| -> Result<InputId> {
        match names.iter().position(|n| n == name) {
            Some(0) => Ok(InputId::SOCKET),
            Some(i) => Ok(InputId::plug(i - 1)),
            None => fail!(
                Code::Usage,
                "`{flag} {text}` names `{name}`, which is no input; the inputs are {}",
                names
                    .iter()
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    };
    let mut wiring = Wiring::default();
    for (i, arg) in args.iter().enumerate() {
        if let Some(export) = &arg.export {
            if i == 0 {
                fail!(
                    Code::Usage,
                    "`#{export}` picks an export of a plug; the socket's exports are the \
                     composition's"
                );
            }
            wiring.offers.push((InputId::plug(i - 1), export.clone()));
        }
    }
    for text in flags.wires {
        let Some((consumer, rest)) = text.split_once(':') else {
            fail!(
                Code::Usage,
                "`--wire {text}` needs the form CONSUMER:IMPORT=PLUG[#EXPORT], for example \
                 `--wire app:example:logging/logger@0.1.0=mw`"
            );
        };
        let Some((import, plug)) = rest.split_once('=') else {
            fail!(
                Code::Usage,
                "`--wire {text}` has no `=PLUG`; write CONSUMER:IMPORT=PLUG[#EXPORT]"
            );
        };
        let (plug, export) = match plug.split_once('#') {
            Some((plug, export)) => (plug, Some(export.to_string())),
            None => (plug, None),
        };
        if import.is_empty() || plug.is_empty() {
            fail!(
                Code::Usage,
                "`--wire {text}` needs an import and a plug: CONSUMER:IMPORT=PLUG[#EXPORT]"
            );
        }
        wiring.wires.push(Wire {
            consumer: id(consumer, "--wire", text)?,
            import: import.to_string(),
            provider: id(plug, "--wire", text)?,
            export,
        });
    }
    for text in flags.exports {
        let Some((plug, export)) = text.split_once('#') else {
            fail!(
                Code::Usage,
                "`--export {text}` needs the form PLUG#EXPORT, for example \
                 `--export logger#example:logging/logger@0.1.0`"
            );
        };
        let plug = id(plug, "--export", text)?;
        if plug.is_socket() {
            fail!(
                Code::Usage,
                "`--export {text}` names the socket, whose exports the composition exports already"
            );
        }
        wiring.exports.push((plug, export.to_string()));
    }
    wiring.host = flags.host.to_vec();
    if flags.deny_host_imports || !flags.allow_host_imports.is_empty() {
        wiring.host_imports = HostImports::Only(flags.allow_host_imports.to_vec());
    }
    Ok(wiring)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_arguments_split_into_name_source_and_export() {
        let arg = parse_input("mw=dir/middleware.wasm#logger").unwrap();
        assert_eq!(arg.name.as_deref(), Some("mw"));
        assert_eq!(arg.source, "dir/middleware.wasm");
        assert_eq!(arg.export.as_deref(), Some("logger"));
        let arg = parse_input("example:logger@1.0.0").unwrap();
        assert_eq!((arg.name, arg.export), (None, None));
        let arg = parse_input("log=example:logger@1.0.0#example:logging/logger@0.1.0").unwrap();
        assert_eq!(arg.name.as_deref(), Some("log"));
        assert_eq!(arg.source, "example:logger@1.0.0");
        assert_eq!(arg.export.as_deref(), Some("example:logging/logger@0.1.0"));
        assert!(parse_input("x.wasm#").is_err());
    }
}
