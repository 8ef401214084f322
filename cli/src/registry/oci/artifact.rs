//! The Wasm OCI artifact (CNCF TAG Runtime layout, as wkg and oci-wasm write it): an OCI image
//! manifest whose config is `application/vnd.wasm.config.v0+json` and whose single layer is
//! the `application/wasm` bytes. The config types are wtool's own: oci-wasm would bring a
//! second wit-parser line into the build.

use crate::digest::Digest;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.wasm.config.v0+json";
pub const LAYER_MEDIA_TYPE: &str = "application/wasm";

const VERSION_ANNOTATION: &str = "org.opencontainers.image.version";
const TITLE_ANNOTATION: &str = "org.opencontainers.image.title";

/// oci-wasm's `WasmConfig`: what wkg requires to find in the config blob.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WasmConfig {
    pub created: String,
    pub author: Option<String>,
    pub architecture: String,
    pub os: String,
    pub layer_digests: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub component: Option<ComponentInfo>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ComponentInfo {
    pub exports: Vec<String>,
    pub imports: Vec<String>,
    pub target: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub schema_version: u32,
    #[serde(default)]
    pub media_type: Option<String>,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// Why a manifest is no Wasm artifact that wtool (and wkg) accepts.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    #[error("its manifest is not JSON of an OCI image manifest: {0}")]
    NotAManifest(serde_json::Error),
    #[error("its manifest has media type `{0}`, expected `{MANIFEST_MEDIA_TYPE}`")]
    ManifestType(String),
    #[error("its config has media type `{0}`, expected `{CONFIG_MEDIA_TYPE}` (is it a container image?)")]
    ConfigType(String),
    #[error("it has {0} layers; a Wasm artifact has exactly one `{LAYER_MEDIA_TYPE}` layer")]
    LayerCount(usize),
    #[error("its layer has media type `{0}`, expected `{LAYER_MEDIA_TYPE}`")]
    LayerType(String),
    #[error("its {0} digest `{1}` is not `sha256:` and 64 hex digits")]
    BadDigest(&'static str, String),
    #[error("its config is not a Wasm config (oci-wasm's `WasmConfig`): {0}")]
    Config(serde_json::Error),
    #[error("its layer is not a WebAssembly component or WIT package")]
    NotWasm,
    #[error("its layer is a core WebAssembly module, not a component or WIT package")]
    CoreModule,
}

/// A manifest checked to be a Wasm artifact: the digests of its config and of its layer.
#[derive(Clone, Copy, Debug)]
pub struct Checked {
    pub config: Digest,
    pub layer: Digest,
}

impl Manifest {
    pub fn parse(bytes: &[u8]) -> Result<(Self, Checked), ArtifactError> {
        let manifest: Manifest =
            serde_json::from_slice(bytes).map_err(ArtifactError::NotAManifest)?;
        if let Some(t) = manifest
            .media_type
            .as_deref()
            .filter(|t| *t != MANIFEST_MEDIA_TYPE)
        {
            return Err(ArtifactError::ManifestType(t.to_string()));
        }
        if manifest.config.media_type != CONFIG_MEDIA_TYPE {
            return Err(ArtifactError::ConfigType(
                manifest.config.media_type.clone(),
            ));
        }
        let [layer] = manifest.layers.as_slice() else {
            return Err(ArtifactError::LayerCount(manifest.layers.len()));
        };
        if layer.media_type != LAYER_MEDIA_TYPE {
            return Err(ArtifactError::LayerType(layer.media_type.clone()));
        }
        let digest = |what, d: &str| {
            d.parse::<Digest>()
                .map_err(|_| ArtifactError::BadDigest(what, d.to_string()))
        };
        let checked = Checked {
            config: digest("config", &manifest.config.digest)?,
            layer: digest("layer", &layer.digest)?,
        };
        Ok((manifest, checked))
    }
}

impl WasmConfig {
    pub fn parse(bytes: &[u8]) -> Result<Self, ArtifactError> {
        serde_json::from_slice(bytes).map_err(ArtifactError::Config)
    }
}

/// Checks that a layer holds a component or a binary WIT package (which is a component too).
pub fn check_layer(bytes: &[u8]) -> Result<(), ArtifactError> {
    match bytes.get(0..8) {
        Some([0, b'a', b's', b'm', _, _, 0x01, 0x00]) => Ok(()),
        Some([0, b'a', b's', b'm', 0x01, 0x00, 0x00, 0x00]) => Err(ArtifactError::CoreModule),
        _ => Err(ArtifactError::NotWasm),
    }
}

/// An artifact ready to push: the config and manifest bytes, with their digests.
pub struct Artifact {
    pub config: Vec<u8>,
    pub config_digest: Digest,
    pub manifest: Vec<u8>,
    pub manifest_digest: Digest,
}

/// What wkg annotates from a component's metadata.
#[derive(Default)]
pub struct Annotations {
    pub description: Option<String>,
    pub licenses: Option<String>,
    pub source: Option<String>,
    pub url: Option<String>,
    pub authors: Option<String>,
}

impl Annotations {
    pub fn of(bytes: &[u8]) -> Self {
        let Ok(payload) = wasm_metadata::Payload::from_binary(bytes) else {
            return Self::default();
        };
        let m = payload.metadata();
        Self {
            description: m.description.as_ref().map(|v| v.to_string()),
            licenses: m.licenses.as_ref().map(|v| v.to_string()),
            source: m.source.as_ref().map(|v| v.to_string()),
            url: m.homepage.as_ref().map(|v| v.to_string()),
            authors: m.authors.as_ref().map(|v| v.to_string()),
        }
    }
}

/// Builds the config and manifest wkg would push for `layer` (a component or WIT package)
/// published as `name@version`.
pub fn build(
    name: &str,
    version: &semver::Version,
    layer: &[u8],
    component: ComponentInfo,
    annotations: Annotations,
) -> Artifact {
    let layer_digest = Digest::of(layer);
    let config = WasmConfig {
        created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        author: annotations.authors.clone(),
        architecture: "wasm".into(),
        os: "wasip2".into(),
        layer_digests: vec![layer_digest.to_string()],
        component: Some(component),
    };
    let config = serde_json::to_vec(&config).expect("a config serializes");
    let config_digest = Digest::of(&config);
    let mut manifest_annotations = BTreeMap::new();
    manifest_annotations.insert(VERSION_ANNOTATION.to_string(), version.to_string());
    let named = [
        ("description", annotations.description),
        ("licenses", annotations.licenses),
        ("source", annotations.source),
        ("url", annotations.url),
        ("authors", annotations.authors),
    ];
    for (key, value) in named {
        if let Some(v) = value {
            manifest_annotations.insert(format!("org.opencontainers.image.{key}"), v);
        }
    }
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(MANIFEST_MEDIA_TYPE.into()),
        config: Descriptor {
            media_type: CONFIG_MEDIA_TYPE.into(),
            digest: config_digest.to_string(),
            size: config.len() as u64,
            annotations: BTreeMap::new(),
        },
        layers: vec![Descriptor {
            media_type: LAYER_MEDIA_TYPE.into(),
            digest: layer_digest.to_string(),
            size: layer.len() as u64,
            annotations: BTreeMap::from([(TITLE_ANNOTATION.to_string(), format!("{name}.wasm"))]),
        }],
        annotations: manifest_annotations,
    };
    // Sorted keys, as oci-client writes manifests (serde_json's map is a BTreeMap here and
    // the structs' fields are declared in sorted order where it matters to no reader).
    let value = serde_json::to_value(&manifest).expect("a manifest serializes");
    let manifest = serde_json::to_vec(&value).expect("a manifest serializes");
    Artifact {
        manifest_digest: Digest::of(&manifest),
        config,
        config_digest,
        manifest,
    }
}

/// What a component or WIT package exports and imports, named as oci-wasm names them.
pub fn component_info(bytes: &[u8]) -> ComponentInfo {
    let Ok(decoded) = wtool_compose::input::decode_wit(bytes) else {
        return ComponentInfo::default();
    };
    let resolve = decoded.resolve();
    match &decoded {
        wit_component::DecodedWasm::WitPackage(_, pkg) => {
            let package = &resolve.packages[*pkg];
            let mut exports: Vec<String> = package
                .interfaces
                .values()
                .filter_map(|id| resolve.id_of(*id))
                .collect();
            exports.extend(package.worlds.values().map(|w| {
                let world = &resolve.worlds[*w];
                let mut name = package.name.clone();
                name.version = None;
                match &package.name.version {
                    Some(v) => format!("{name}/{}@{v}", world.name),
                    None => format!("{name}/{}", world.name),
                }
            }));
            ComponentInfo {
                exports,
                imports: Vec::new(),
                target: None,
            }
        }
        wit_component::DecodedWasm::Component(_, world) => {
            let world = &resolve.worlds[*world];
            let names =
                |items: &indexmap::IndexMap<wit_parser::WorldKey, wit_parser::WorldItem>| {
                    items.keys().map(|k| resolve.name_world_key(k)).collect()
                };
            ComponentInfo {
                exports: names(&world.exports),
                imports: names(&world.imports),
                target: None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(config_type: &str, layers: &[&str]) -> Vec<u8> {
        let d = Digest::of(b"x").to_string();
        let layers: Vec<_> = layers
            .iter()
            .map(|t| serde_json::json!({"mediaType": t, "digest": d, "size": 1}))
            .collect();
        serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": MANIFEST_MEDIA_TYPE,
            "config": {"mediaType": config_type, "digest": d, "size": 1},
            "layers": layers,
        }))
        .unwrap()
    }

    #[test]
    fn only_one_wasm_layer_under_a_wasm_config_is_an_artifact() {
        assert!(Manifest::parse(&manifest(CONFIG_MEDIA_TYPE, &[LAYER_MEDIA_TYPE])).is_ok());
        assert!(matches!(
            Manifest::parse(&manifest(
                CONFIG_MEDIA_TYPE,
                &[LAYER_MEDIA_TYPE, LAYER_MEDIA_TYPE]
            )),
            Err(ArtifactError::LayerCount(2))
        ));
        assert!(matches!(
            Manifest::parse(&manifest(
                "application/vnd.oci.image.config.v1+json",
                &[LAYER_MEDIA_TYPE]
            )),
            Err(ArtifactError::ConfigType(_))
        ));
        assert!(matches!(
            Manifest::parse(&manifest(CONFIG_MEDIA_TYPE, &["application/octet-stream"])),
            Err(ArtifactError::LayerType(_))
        ));
    }

    #[test]
    fn a_built_artifact_reads_back() {
        let layer = wat::parse_str("(component)").unwrap();
        let version = "1.2.3".parse().unwrap();
        let a = build(
            "log",
            &version,
            &layer,
            ComponentInfo::default(),
            Annotations::default(),
        );
        let (m, checked) = Manifest::parse(&a.manifest).unwrap();
        assert_eq!(checked.layer, Digest::of(&layer));
        assert_eq!(checked.config, a.config_digest);
        assert_eq!(m.annotations[VERSION_ANNOTATION], "1.2.3");
        let config = WasmConfig::parse(&a.config).unwrap();
        assert_eq!(config.layer_digests, [Digest::of(&layer).to_string()]);
        assert!(check_layer(&layer).is_ok());
        assert!(matches!(
            check_layer(b"\0asm\x01\0\0\0"),
            Err(ArtifactError::CoreModule)
        ));
        assert!(matches!(check_layer(b"hello"), Err(ArtifactError::NotWasm)));
    }
}
