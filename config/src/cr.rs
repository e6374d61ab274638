//! The custom resources of CONTRACT §2 (`apiVersion: k8s.f5net.com/v1`), read from YAML files.
//!
//! Field names are exactly those of the CRs. Addresses are kept as the strings written in the CR
//! so that [`crate::render`] can say precisely which entry is wrong; numbers and booleans are
//! typed (a wrong type is reported with its path, e.g. `spec.maxTmmReplicas`).
//! Unknown spec fields are accepted (real CRs carry more fields than the VNF uses).

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_norway::Value;
use std::fmt;
use std::path::{Path, PathBuf};

/// The API group and version of every CR the sidecar reads.
pub const API_VERSION: &str = "k8s.f5net.com/v1";

/// Kinds the sidecar reads.
pub const KINDS: [&str; 6] = [
    "F5SPKVlan",
    "F5SPKSnatpool",
    "IngressRouteSnatpool",
    "F5SPKEgress",
    "F5SPKDnscache",
    "F5SPKStaticRoute",
];

/// Where a CR came from, for messages: `FILE: KIND NAMESPACE/NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub file: PathBuf,
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}/{}", self.kind, self.namespace, self.name)
    }
}

/// One CR: where it came from and its typed spec.
#[derive(Debug, Clone, PartialEq)]
pub struct Cr<T> {
    pub origin: Origin,
    pub spec: T,
}

/// `F5SPKVlan.spec`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
#[serde(default)]
pub struct VlanSpec {
    pub name: Option<String>,
    pub interfaces: Vec<String>,
    pub tag: Option<u16>,
    pub selfip_v4s: Vec<String>,
    pub prefixlen_v4: Option<u8>,
    pub selfip_v6s: Vec<String>,
    pub prefixlen_v6: Option<u8>,
    pub mtu: Option<u16>,
    pub internal: Option<bool>,
}

/// `F5SPKSnatpool.spec` (also `IngressRouteSnatpool`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct SnatpoolSpec {
    pub name: Option<String>,
    pub address_list: Vec<Vec<String>>,
}

/// `F5SPKEgress.spec.vlans` (the nested spelling of `vlanList`/`disableListedVlans`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct EgressVlans {
    pub vlan_list: Vec<String>,
    pub disable_listed_vlans: Option<bool>,
}

/// `F5SPKEgress.spec`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct EgressSpec {
    pub egress_snatpool: Option<String>,
    pub dual_stack_enabled: Option<bool>,
    pub dns_nat46_enabled: Option<bool>,
    pub dns_nat46_ipv4_subnet: Option<String>,
    pub max_tmm_replicas: Option<u32>,
    pub max_reserved_static_ips: Option<u32>,
    pub nat64_enabled: Option<bool>,
    pub dns_nat46_pool_ips: Vec<String>,
    pub dns_nat46_sorry_ip: Option<String>,
    #[serde(rename = "maxDNS46TTL")]
    pub max_dns46_ttl: Option<u32>,
    pub nat64_ipv6_subnet: Option<String>,
    pub dns_cache_name: Option<String>,
    pub dns_rate_limit: Option<u32>,
    pub vlan_list: Vec<String>,
    pub disable_listed_vlans: Option<bool>,
    pub vlans: Option<EgressVlans>,
    pub debug_log_enabled: Option<bool>,
}

/// `F5SPKDnscache.spec.netResolver.forwardZones[].nameServers[]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NameServer {
    pub ip_address: String,
    #[serde(default)]
    pub port: Option<u16>,
}

/// `F5SPKDnscache.spec.netResolver.forwardZones[]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ForwardZoneSpec {
    pub forward_zone: String,
    #[serde(default)]
    pub name_servers: Vec<NameServer>,
}

/// `F5SPKDnscache.spec.netResolver`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct NetResolver {
    pub forward_zones: Vec<ForwardZoneSpec>,
}

/// `F5SPKDnscache.spec`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct DnscacheSpec {
    pub cache_type: Option<String>,
    pub net_resolver: Option<NetResolver>,
}

/// `F5SPKStaticRoute.spec`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StaticRouteSpec {
    pub destination: String,
    pub prefix_len: u8,
    #[serde(rename = "type", default)]
    pub route_type: Option<String>,
    pub gateway: String,
}

/// Every CR found in a directory, in a fixed order (files sorted by name, documents in order).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CrSet {
    pub vlans: Vec<Cr<VlanSpec>>,
    pub snatpools: Vec<Cr<SnatpoolSpec>>,
    pub egresses: Vec<Cr<EgressSpec>>,
    pub dnscaches: Vec<Cr<DnscacheSpec>>,
    pub routes: Vec<Cr<StaticRouteSpec>>,
    /// Documents skipped with a reason worth telling (our kind under another apiVersion).
    pub warnings: Vec<String>,
}

/// Why the CRs could not be turned into a config.
#[derive(Debug, thiserror::Error)]
pub enum CrError {
    /// A file or the directory could not be read.
    #[error("{}: cannot read: {source}", file.display())]
    Io {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// YAML syntax error.
    #[error("{}:{line}:{column}: invalid YAML: {message}", file.display())]
    Yaml {
        file: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    /// A CR field is missing, of the wrong type, or inconsistent with other CRs.
    #[error("{}: {cr}: field `{field}`: {message}", file.display())]
    Invalid {
        file: PathBuf,
        /// `KIND NAMESPACE/NAME`.
        cr: String,
        field: String,
        message: String,
    },
    /// A command-line argument or environment variable is not acceptable.
    #[error("{arg}: {message}")]
    Arg { arg: String, message: String },
}

impl CrError {
    /// The CR field, argument or environment variable the error is about.
    pub fn field(&self) -> Option<&str> {
        match self {
            CrError::Invalid { field, .. } => Some(field),
            CrError::Arg { arg, .. } => Some(arg),
            _ => None,
        }
    }

    /// An error about `field` of the CR at `origin`.
    pub fn invalid(origin: &Origin, field: impl Into<String>, message: impl Into<String>) -> Self {
        CrError::Invalid {
            file: origin.file.clone(),
            cr: origin.to_string(),
            field: field.into(),
            message: message.into(),
        }
    }
}

fn is_yaml(p: &Path) -> bool {
    matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"))
}

/// The `*.yaml` / `*.yml` files of `dir`, sorted by name.
pub fn yaml_files(dir: &Path) -> Result<Vec<PathBuf>, CrError> {
    let io = |source| CrError::Io {
        file: dir.to_owned(),
        source,
    };
    let mut files = Vec::new();
    for e in std::fs::read_dir(dir).map_err(io)? {
        let p = e.map_err(io)?.path();
        if is_yaml(&p) && p.is_file() {
            files.push(p);
        }
    }
    files.sort();
    Ok(files)
}

/// Reads every CR of `dir`.
pub fn load_dir(dir: &Path) -> Result<CrSet, CrError> {
    let mut set = CrSet::default();
    for f in yaml_files(dir)? {
        let text = std::fs::read_to_string(&f).map_err(|source| CrError::Io {
            file: f.clone(),
            source,
        })?;
        set.add_yaml(&f, &text)?;
    }
    Ok(set)
}

fn str_field<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// Turns a serde path + message into (`spec.a.b[0]`, message).
fn spec_error<E: fmt::Display>(e: serde_path_to_error::Error<E>) -> (String, String) {
    let path = e.path().to_string();
    let msg = e.inner().to_string();
    let mut field = if path == "." || path.is_empty() {
        "spec".to_string()
    } else {
        format!("spec.{path}")
    };
    if let Some(rest) = msg.strip_prefix("missing field `") {
        if let Some((name, _)) = rest.split_once('`') {
            field = format!("{field}.{name}");
        }
    }
    (field, msg)
}

fn parse_spec<T: DeserializeOwned>(origin: &Origin, spec: Value) -> Result<T, CrError> {
    serde_path_to_error::deserialize(spec).map_err(|e| {
        let (field, msg) = spec_error(e);
        CrError::invalid(origin, field, msg)
    })
}

impl CrSet {
    /// Adds the CRs of one YAML text (one or more documents). Documents that are not CRs of
    /// [`KINDS`] are ignored; a `kind: List` is looked into.
    pub fn add_yaml(&mut self, file: &Path, text: &str) -> Result<(), CrError> {
        for doc in serde_norway::Deserializer::from_str(text) {
            let value = Value::deserialize(doc).map_err(|e| {
                let (line, column) = e.location().map_or((0, 0), |l| (l.line(), l.column()));
                CrError::Yaml {
                    file: file.to_owned(),
                    line,
                    column,
                    message: e.to_string(),
                }
            })?;
            self.add_value(file, value)?;
        }
        Ok(())
    }

    fn add_value(&mut self, file: &Path, value: Value) -> Result<(), CrError> {
        let Some(kind) = str_field(&value, "kind").map(str::to_owned) else {
            return Ok(());
        };
        if kind == "List" {
            if let Some(Value::Sequence(items)) = value.get("items") {
                for item in items.clone() {
                    self.add_value(file, item)?;
                }
            }
            return Ok(());
        }
        if !KINDS.contains(&kind.as_str()) {
            return Ok(());
        }
        let meta = value.get("metadata");
        let name = meta
            .and_then(|m| str_field(m, "name"))
            .unwrap_or("")
            .to_owned();
        let namespace = meta
            .and_then(|m| str_field(m, "namespace"))
            .unwrap_or("default")
            .to_owned();
        let origin = Origin {
            file: file.to_owned(),
            kind: kind.clone(),
            namespace,
            name,
        };
        match str_field(&value, "apiVersion") {
            Some(API_VERSION) => {}
            other => {
                self.warnings.push(format!(
                    "{}: {origin}: ignored: apiVersion is {}, not {API_VERSION}",
                    file.display(),
                    other.map_or("absent".to_string(), |a| format!("`{a}`"))
                ));
                return Ok(());
            }
        }
        if origin.name.is_empty() {
            return Err(CrError::invalid(
                &origin,
                "metadata.name",
                "missing or empty",
            ));
        }
        let spec = match value.get("spec") {
            Some(s) if !s.is_null() => s.clone(),
            _ => return Err(CrError::invalid(&origin, "spec", "missing")),
        };
        match kind.as_str() {
            "F5SPKVlan" => {
                let spec = parse_spec(&origin, spec)?;
                self.vlans.push(Cr { origin, spec });
            }
            "F5SPKSnatpool" | "IngressRouteSnatpool" => {
                let spec = parse_spec(&origin, spec)?;
                self.snatpools.push(Cr { origin, spec });
            }
            "F5SPKEgress" => {
                let spec = parse_spec(&origin, spec)?;
                self.egresses.push(Cr { origin, spec });
            }
            "F5SPKDnscache" => {
                let spec = parse_spec(&origin, spec)?;
                self.dnscaches.push(Cr { origin, spec });
            }
            "F5SPKStaticRoute" => {
                let spec = parse_spec(&origin, spec)?;
                self.routes.push(Cr { origin, spec });
            }
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_document_with_foreign_kinds() {
        let text = r#"
apiVersion: v1
kind: ConfigMap
metadata: {name: x}
---
apiVersion: k8s.f5net.com/v1
kind: F5SPKVlan
metadata: {name: vlan-external, namespace: spk}
spec:
  name: external
  interfaces: ["1.2"]
  selfip_v4s: [10.0.0.1]
  prefixlen_v4: 24
---
# just a comment
---
apiVersion: k8s.f5net.com/v1
kind: F5SPKStaticRoute
metadata: {name: r}
spec: {destination: 0.0.0.0, prefixLen: 0, type: gateway, gateway: 10.0.0.254}
"#;
        let mut s = CrSet::default();
        s.add_yaml(Path::new("a.yaml"), text).unwrap();
        assert_eq!(s.vlans.len(), 1);
        assert_eq!(s.vlans[0].spec.name.as_deref(), Some("external"));
        assert_eq!(s.vlans[0].origin.to_string(), "F5SPKVlan spk/vlan-external");
        assert_eq!(s.routes.len(), 1);
        assert_eq!(s.routes[0].origin.namespace, "default");
    }

    #[test]
    fn wrong_type_names_the_path() {
        let text = "apiVersion: k8s.f5net.com/v1\nkind: F5SPKEgress\nmetadata: {name: e}\nspec:\n  maxTmmReplicas: two\n";
        let e = CrSet::default()
            .add_yaml(Path::new("e.yaml"), text)
            .unwrap_err();
        assert_eq!(e.field(), Some("spec.maxTmmReplicas"), "{e}");
        let text = "apiVersion: k8s.f5net.com/v1\nkind: F5SPKStaticRoute\nmetadata: {name: r}\nspec:\n  prefixLen: 8\n  gateway: 10.0.0.1\n";
        let e = CrSet::default()
            .add_yaml(Path::new("r.yaml"), text)
            .unwrap_err();
        assert_eq!(e.field(), Some("spec.destination"), "{e}");
    }

    #[test]
    fn other_api_version_is_ignored_with_a_warning() {
        let text = "apiVersion: example.com/v2\nkind: F5SPKVlan\nmetadata: {name: v}\nspec: {interfaces: [\"1.1\"]}\n---\nkind: List\napiVersion: v1\nitems:\n  - apiVersion: k8s.f5net.com/v1\n    kind: F5SPKSnatpool\n    metadata: {name: p}\n    spec: {addressList: [[192.0.2.9]]}\n";
        let mut s = CrSet::default();
        s.add_yaml(Path::new("w.yaml"), text).unwrap();
        assert!(s.vlans.is_empty());
        assert_eq!(s.warnings.len(), 1);
        assert!(s.warnings[0].contains("example.com/v2"), "{:?}", s.warnings);
        assert_eq!(s.snatpools.len(), 1, "items of a List are read");
        assert_eq!(
            s.snatpools[0].spec.address_list,
            vec![vec!["192.0.2.9".to_string()]]
        );
    }

    #[test]
    fn yaml_syntax_error_has_a_line() {
        let text = "apiVersion: k8s.f5net.com/v1\nkind: F5SPKVlan\nspec: [unclosed\n";
        let e = CrSet::default()
            .add_yaml(Path::new("bad.yaml"), text)
            .unwrap_err();
        match e {
            CrError::Yaml { line, .. } => assert!(line >= 3, "{line}"),
            other => panic!("{other}"),
        }
    }
}
