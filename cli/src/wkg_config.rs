//! Says which key of wkg's config is wrong and what shape it needs. wasm-pkg-common's own
//! error for a bad mapping is only "data did not match any variant of untagged enum".

use toml::Value;

const MAPPING: &str = "a registry name (`acme = \"registry.example.com\"`) or \
                       `{ registry = \"name\", metadata = { … } }`";

/// The first problem found, as `key `a.b.c`: expected …, found …`; `None` if this walk finds
/// none (the library's message is then the best there is).
pub fn explain(text: &str) -> Option<String> {
    let doc: toml::Table = match toml::from_str(text) {
        Ok(doc) => doc,
        Err(e) => return Some(e.to_string()),
    };
    for (key, value) in &doc {
        let problem = match key.as_str() {
            "default_registry" => expect_str(key, value),
            "namespace_registries" | "package_registry_overrides" => mappings(key, value),
            "registry" => registries(value),
            _ => Some(format!(
                "unknown key `{key}`; wkg's config has `default_registry`, \
                 `namespace_registries`, `package_registry_overrides` and `registry`"
            )),
        };
        if problem.is_some() {
            return problem;
        }
    }
    None
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::String(_) => "a string",
        Value::Integer(_) => "an integer",
        Value::Float(_) => "a float",
        Value::Boolean(_) => "a boolean",
        Value::Datetime(_) => "a date",
        Value::Array(_) => "an array",
        Value::Table(_) => "a table",
    }
}

fn expect_str(key: &str, value: &Value) -> Option<String> {
    (!value.is_str()).then(|| format!("key `{key}`: expected a string, found {}", kind(value)))
}

fn mappings(section: &str, value: &Value) -> Option<String> {
    let Some(table) = value.as_table() else {
        return Some(format!(
            "key `{section}`: expected a table, found {}",
            kind(value)
        ));
    };
    for (ns, mapping) in table {
        let key = format!("{section}.{ns}");
        let problem = match mapping {
            Value::String(_) => None,
            Value::Table(t) => mapping_table(&key, t),
            other => Some(format!(
                "key `{key}`: expected {MAPPING}, found {}",
                kind(other)
            )),
        };
        if problem.is_some() {
            return problem;
        }
    }
    None
}

fn mapping_table(key: &str, t: &toml::Table) -> Option<String> {
    match t.get("registry") {
        Some(Value::String(_)) => {}
        Some(other) => {
            return Some(format!(
                "key `{key}.registry`: expected a registry name (a string), found {}",
                kind(other)
            ))
        }
        None => {
            return Some(format!(
                "key `{key}`: missing `registry`; expected {MAPPING}"
            ))
        }
    }
    if let Some(k) = t
        .keys()
        .find(|k| !matches!(k.as_str(), "registry" | "metadata"))
    {
        return Some(format!("key `{key}.{k}`: unknown; expected {MAPPING}"));
    }
    let meta = t.get("metadata")?;
    let Some(meta) = meta.as_table() else {
        return Some(format!(
            "key `{key}.metadata`: expected a table, found {}",
            kind(meta)
        ));
    };
    for (k, v) in meta {
        let legacy = matches!(
            k.as_str(),
            "preferredProtocol" | "ociRegistry" | "ociNamespacePrefix"
        );
        if legacy && !v.is_str() {
            return Some(format!(
                "key `{key}.metadata.{k}`: expected a string, found {}",
                kind(v)
            ));
        }
        if !legacy && !v.is_table() {
            let hint = if k == "wargUrl" {
                "; write `warg = { url = \"…\" }` (wkg dropped `wargUrl`)"
            } else {
                ""
            };
            return Some(format!(
                "key `{key}.metadata.{k}`: expected a protocol block (a table such as \
                 `oci = {{ registry = \"ghcr.io\", namespacePrefix = \"acme/\" }}`), found {}{hint}",
                kind(v)
            ));
        }
    }
    None
}

fn registries(value: &Value) -> Option<String> {
    let Some(table) = value.as_table() else {
        return Some(format!(
            "key `registry`: expected a table, found {}",
            kind(value)
        ));
    };
    for (name, reg) in table {
        let key = format!("registry.\"{name}\"");
        let Some(reg) = reg.as_table() else {
            return Some(format!(
                "key `{key}`: expected a table, found {}",
                kind(reg)
            ));
        };
        for (k, v) in reg {
            let problem = match k.as_str() {
                "default" | "type" => expect_str(&format!("{key}.{k}"), v),
                "oci" => oci_table(&format!("{key}.oci"), v),
                _ if !v.is_table() => Some(format!(
                    "key `{key}.{k}`: expected a backend table (`oci`, `local`, `warg`) or \
                     `default = \"oci\"`, found {}",
                    kind(v)
                )),
                _ => None,
            };
            if problem.is_some() {
                return problem;
            }
        }
    }
    None
}

fn oci_table(key: &str, v: &Value) -> Option<String> {
    let Some(t) = v.as_table() else {
        return Some(format!("key `{key}`: expected a table, found {}", kind(v)));
    };
    if let Some(p) = t.get("protocol") {
        if !matches!(p.as_str(), Some("http" | "https")) {
            return Some(format!(
                "key `{key}.protocol`: expected \"http\" or \"https\", found {p}"
            ));
        }
    }
    if let Some(auth) = t.get("auth") {
        let ok = match auth {
            Value::String(_) => true,
            Value::Table(a) => {
                a.get("username").is_some_and(Value::is_str)
                    && a.get("password").is_some_and(Value::is_str)
            }
            _ => false,
        };
        if !ok {
            return Some(format!(
                "key `{key}.auth`: expected `{{ username = \"…\", password = \"…\" }}` or the \
                 base64 of `user:password`"
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::explain;

    #[test]
    fn names_the_key_and_the_shape() {
        let e = explain("[namespace_registries]\nacme = { registry = \"r\", metadata = { wargUrl = \"http://x\" } }\n").unwrap();
        assert!(
            e.contains("namespace_registries.acme.metadata.wargUrl"),
            "{e}"
        );
        assert!(e.contains("warg = { url"), "{e}");
        let e = explain("[namespace_registries]\nacme = 3\n").unwrap();
        assert!(
            e.contains("`namespace_registries.acme`") && e.contains("found an integer"),
            "{e}"
        );
        let e = explain("[registry.\"r\".oci]\nprotocol = \"ftp\"\n").unwrap();
        assert!(e.contains("registry.\"r\".oci.protocol"), "{e}");
        assert_eq!(
            explain("default_registry = \"r\"\n[namespace_registries]\nwasi = \"wasi.dev\"\n"),
            None
        );
    }
}
