//! The packaging under `docker/` (issue 9, item 5): every YAML parses; the CRDs are structural
//! and carry the fields of CONTRACT §2; the example CRs (the VNF's CR ConfigMap, the renderer's
//! fixtures, the examples of docs/dedicated-dns.md) validate against the CRDs' openAPIV3Schema
//! and invalid ones do not; the VNF Deployment, its networks and dSSM fit together; the example
//! ConfigMap renders with the real `egress-sidecar render`; the Grafana dashboard only queries
//! metric families of CONTRACT §5; the Dockerfile is checked statically (no container engine is
//! needed to run these tests).

use serde::Deserialize;
use serde_json::Value as Json;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

const SIDECAR: &str = env!("CARGO_BIN_EXE_egress-sidecar");

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the config crate is in the workspace root")
        .to_path_buf()
}

fn docker() -> PathBuf {
    repo().join("docker")
}

fn rel(p: &Path) -> String {
    p.strip_prefix(repo()).unwrap_or(p).display().to_string()
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Every `*.yaml` / `*.yml` file under `dir`, recursively, sorted.
fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The documents of a (multi-document) YAML text as JSON values; empty documents are skipped.
fn yaml_docs(text: &str, what: &str) -> Result<Vec<Json>, String> {
    let mut docs = Vec::new();
    for (i, doc) in serde_norway::Deserializer::from_str(text).enumerate() {
        let v = serde_norway::Value::deserialize(doc)
            .map_err(|e| format!("{what}: document {i}: {e}"))?;
        if v.is_null() {
            continue;
        }
        let j = serde_json::to_value(&v)
            .map_err(|e| format!("{what}: document {i}: not JSON-compatible: {e}"))?;
        docs.push(j);
    }
    Ok(docs)
}

/// One Kubernetes object of a manifest file.
struct Obj {
    file: PathBuf,
    v: Json,
}

impl Obj {
    fn kind(&self) -> &str {
        self.v["kind"].as_str().unwrap_or("")
    }
    fn name(&self) -> &str {
        self.v["metadata"]["name"].as_str().unwrap_or("")
    }
    fn namespace(&self) -> Option<&str> {
        self.v["metadata"]["namespace"].as_str()
    }
}

/// Every object of every YAML file under docker/.
fn manifests() -> Vec<Obj> {
    let mut out = Vec::new();
    for f in yaml_files(&docker()) {
        for v in yaml_docs(&read(&f), &rel(&f)).unwrap_or_else(|e| panic!("{e}")) {
            out.push(Obj { file: f.clone(), v });
        }
    }
    out
}

fn find<'a>(objs: &'a [Obj], kind: &str, ns: Option<&str>, name: &str) -> &'a Obj {
    objs.iter()
        .find(|o| o.kind() == kind && o.name() == name && (ns.is_none() || o.namespace() == ns))
        .unwrap_or_else(|| panic!("no {kind} {ns:?}/{name} under docker/"))
}

fn s(v: &Json) -> &str {
    v.as_str().unwrap_or("")
}

fn arr(v: &Json) -> &[Json] {
    v.as_array().map(Vec::as_slice).unwrap_or(&[])
}

// ---------------------------------------------------------------------------------------------
// Every YAML parses.

const CLUSTER_SCOPED: [&str; 3] = [
    "Namespace",
    "CustomResourceDefinition",
    "MutatingWebhookConfiguration",
];

#[test]
fn every_yaml_under_docker_parses() {
    let files = yaml_files(&docker());
    assert!(
        files.len() >= 15,
        "only {} YAML files: {files:?}",
        files.len()
    );
    let objs = manifests();
    let mut seen = BTreeSet::new();
    let namespaces: BTreeSet<&str> = objs
        .iter()
        .filter(|o| o.kind() == "Namespace")
        .map(Obj::name)
        .collect();
    for o in &objs {
        let what = format!("{}: {} {}", rel(&o.file), o.kind(), o.name());
        assert!(o.v["apiVersion"].is_string(), "{what}: no apiVersion");
        assert!(
            !o.kind().is_empty(),
            "{}: a document without kind",
            rel(&o.file)
        );
        assert!(!o.name().is_empty(), "{what}: no metadata.name");
        let key = (
            o.v["apiVersion"].as_str().unwrap().to_string(),
            o.kind().to_string(),
            o.namespace().unwrap_or("").to_string(),
            o.name().to_string(),
        );
        assert!(seen.insert(key), "{what}: defined twice");
        if CLUSTER_SCOPED.contains(&o.kind()) {
            assert!(
                o.namespace().is_none(),
                "{what}: cluster-scoped, yet namespaced"
            );
        } else {
            let ns = o
                .namespace()
                .unwrap_or_else(|| panic!("{what}: no metadata.namespace"));
            assert!(
                namespaces.contains(ns),
                "{what}: namespace {ns} is not created by any manifest under docker/"
            );
        }
    }
    let kinds: BTreeSet<&str> = objs.iter().map(Obj::kind).collect();
    for k in [
        "CustomResourceDefinition",
        "Deployment",
        "StatefulSet",
        "Service",
        "ConfigMap",
        "NetworkAttachmentDefinition",
        "Namespace",
        "MutatingWebhookConfiguration",
    ] {
        assert!(kinds.contains(k), "no {k} under docker/ (kinds: {kinds:?})");
    }
    // The colleague manifests are part of the same tree: the dedicated-DNS pieces are there.
    for f in [
        "coredns/Corefile",
        "coredns/deployment.yaml",
        "webhook/deployment.yaml",
    ] {
        assert!(docker().join(f).is_file(), "docker/{f} is missing");
    }
}

// ---------------------------------------------------------------------------------------------
// CRDs.

const GROUP: &str = "k8s.f5net.com";

/// The spec fields of each kind (CONTRACT §2; `vlans` is the sidecar's nested spelling of
/// `vlanList`/`disableListedVlans`, docs/config.md).
fn contract_fields(kind: &str) -> BTreeSet<&'static str> {
    let f: &[&str] = match kind {
        "F5SPKVlan" => &[
            "name",
            "interfaces",
            "tag",
            "selfip_v4s",
            "prefixlen_v4",
            "selfip_v6s",
            "prefixlen_v6",
            "mtu",
            "internal",
        ],
        "F5SPKSnatpool" | "IngressRouteSnatpool" => &["name", "addressList"],
        "F5SPKEgress" => &[
            "egressSnatpool",
            "dualStackEnabled",
            "dnsNat46Enabled",
            "dnsNat46Ipv4Subnet",
            "maxTmmReplicas",
            "maxReservedStaticIps",
            "nat64Enabled",
            "dnsNat46PoolIps",
            "dnsNat46SorryIp",
            "maxDNS46TTL",
            "nat64Ipv6Subnet",
            "dnsCacheName",
            "dnsRateLimit",
            "vlanList",
            "disableListedVlans",
            "vlans",
            "debugLogEnabled",
        ],
        "F5SPKDnscache" => &["cacheType", "netResolver"],
        "F5SPKStaticRoute" => &["destination", "prefixLen", "type", "gateway"],
        other => panic!("no CONTRACT §2 kind {other}"),
    };
    f.iter().copied().collect()
}

/// The openAPIV3Schema of each CR kind, from docker/k8s/crds.
fn crd_schemas() -> BTreeMap<String, Json> {
    let mut out = BTreeMap::new();
    for o in manifests()
        .into_iter()
        .filter(|o| o.kind() == "CustomResourceDefinition")
    {
        let kind = s(&o.v["spec"]["names"]["kind"]).to_string();
        let versions = arr(&o.v["spec"]["versions"]);
        let v1 = versions
            .iter()
            .find(|v| v["name"] == "v1")
            .unwrap_or_else(|| panic!("CRD {kind}: no version v1"));
        out.insert(kind, v1["schema"]["openAPIV3Schema"].clone());
    }
    out
}

/// Checks the rules of a structural schema that matter here: every node has a `type` (except
/// inside `anyOf`/`allOf`/`oneOf`/`not`, which must not set `type`, `default`, `description`,
/// `additionalProperties` or `nullable`), objects list their `properties`, arrays have `items`,
/// `required` names existing properties, and a `default` validates against its node.
fn check_structural(path: &str, node: &Json, errors: &mut Vec<String>) {
    let Some(map) = node.as_object() else {
        errors.push(format!("{path}: not an object"));
        return;
    };
    let ty = map.get("type").and_then(Json::as_str);
    let Some(ty) = ty else {
        errors.push(format!("{path}: no type"));
        return;
    };
    for k in ["anyOf", "allOf", "oneOf"] {
        for (i, b) in map.get(k).map(arr).unwrap_or(&[]).iter().enumerate() {
            for bad in [
                "type",
                "default",
                "description",
                "additionalProperties",
                "nullable",
                "properties",
                "items",
            ] {
                if b.get(bad).is_some() {
                    errors.push(format!("{path}.{k}[{i}]: sets `{bad}`"));
                }
            }
        }
    }
    match ty {
        "object" => {
            let props = map.get("properties").and_then(Json::as_object);
            let preserve =
                map.get("x-kubernetes-preserve-unknown-fields") == Some(&Json::Bool(true));
            if props.is_none() && !preserve && path != "metadata" && !path.ends_with(".metadata") {
                errors.push(format!("{path}: an object without properties"));
            }
            for (k, p) in props.into_iter().flatten() {
                check_structural(&format!("{path}.{k}"), p, errors);
            }
            for r in map.get("required").map(arr).unwrap_or(&[]) {
                if !props.is_some_and(|p| p.contains_key(s(r))) {
                    errors.push(format!("{path}: required `{r}` is not a property"));
                }
            }
        }
        "array" => match map.get("items") {
            Some(items) => check_structural(&format!("{path}[]"), items, errors),
            None => errors.push(format!("{path}: an array without items")),
        },
        "string" | "integer" | "boolean" | "number" => {}
        other => errors.push(format!("{path}: unknown type {other}")),
    }
    if let Some(d) = map.get("default") {
        let ok = match ty {
            "string" => d.is_string(),
            "integer" => d.is_i64() || d.is_u64(),
            "boolean" => d.is_boolean(),
            "number" => d.is_number(),
            _ => true,
        };
        if !ok || !validator(node).is_valid(d) {
            errors.push(format!("{path}: the default {d} does not validate"));
        }
    }
}

/// `cidr` as the API server checks it (Go's net.ParseCIDR): an address, `/`, a prefix length
/// that fits the family.
fn is_cidr(v: &str) -> bool {
    let Some((addr, len)) = v.split_once('/') else {
        return false;
    };
    let Ok(len) = len.parse::<u8>() else {
        return false;
    };
    match addr.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(_)) => len <= 32,
        Ok(std::net::IpAddr::V6(_)) => len <= 128,
        Err(_) => false,
    }
}

/// A validator for a CRD schema (OpenAPI v3 schemas are close to JSON Schema draft 4; formats
/// are checked, `cidr` as Kubernetes does).
fn validator(schema: &Json) -> jsonschema::Validator {
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft4)
        .should_validate_formats(true)
        .with_format("cidr", is_cidr)
        .build(schema)
        .unwrap_or_else(|e| panic!("schema does not compile: {e}\n{schema:#}"))
}

#[test]
fn crds_are_structural_and_have_the_contract_fields() {
    let objs = manifests();
    let crds: Vec<&Obj> = objs
        .iter()
        .filter(|o| o.kind() == "CustomResourceDefinition")
        .collect();
    let mut kinds = BTreeSet::new();
    let mut errors = Vec::new();
    for o in &crds {
        let spec = &o.v["spec"];
        let kind = s(&spec["names"]["kind"]);
        let plural = s(&spec["names"]["plural"]);
        let what = format!("{} ({kind})", rel(&o.file));
        assert_eq!(o.v["apiVersion"], "apiextensions.k8s.io/v1", "{what}");
        assert_eq!(spec["group"], GROUP, "{what}");
        assert_eq!(spec["scope"], "Namespaced", "{what}");
        assert_eq!(
            o.name(),
            format!("{plural}.{GROUP}"),
            "{what}: metadata.name"
        );
        assert_eq!(plural, plural.to_ascii_lowercase(), "{what}: plural");
        assert_eq!(
            s(&spec["names"]["listKind"]),
            format!("{kind}List"),
            "{what}"
        );
        assert!(kinds.insert(kind.to_string()), "{what}: kind defined twice");
        let versions = arr(&spec["versions"]);
        assert_eq!(versions.len(), 1, "{what}: one version");
        let v1 = &versions[0];
        assert_eq!(v1["name"], "v1", "{what}");
        assert_eq!(v1["served"], true, "{what}");
        assert_eq!(v1["storage"], true, "{what}");
        let schema = &v1["schema"]["openAPIV3Schema"];
        check_structural(kind, schema, &mut errors);
        assert_eq!(schema["properties"]["metadata"]["type"], "object", "{what}");
        let fields: BTreeSet<&str> = schema["properties"]["spec"]["properties"]
            .as_object()
            .unwrap_or_else(|| panic!("{what}: no spec properties"))
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(fields, contract_fields(kind), "{what}: spec fields");
        for c in arr(&v1["additionalPrinterColumns"]) {
            let path = s(&c["jsonPath"]);
            if let Some(field) = path.strip_prefix(".spec.") {
                assert!(fields.contains(field), "{what}: printer column {path}");
            }
        }
        // The schema compiles as a JSON schema.
        let _ = validator(schema);
    }
    assert!(errors.is_empty(), "CRD schemas:\n{}", errors.join("\n"));
    let want: BTreeSet<String> = egress_config::cr::KINDS
        .iter()
        .map(|k| k.to_string())
        .collect();
    assert_eq!(kinds, want, "a CRD for every kind of CONTRACT §2");
    // IngressRouteSnatpool is F5SPKSnatpool under another name.
    let schemas = crd_schemas();
    assert_eq!(
        schemas["F5SPKSnatpool"], schemas["IngressRouteSnatpool"],
        "F5SPKSnatpool and IngressRouteSnatpool schemas differ"
    );
}

// ---------------------------------------------------------------------------------------------
// Example CRs against the CRDs.

/// The CR ConfigMap of the VNF Deployment.
fn cr_configmap(objs: &[Obj]) -> &Obj {
    let dep = find(objs, "Deployment", None, "egress-vnf");
    let vols = arr(&dep.v["spec"]["template"]["spec"]["volumes"]);
    let cm = vols
        .iter()
        .find(|v| v["name"] == "crs")
        .and_then(|v| v["configMap"]["name"].as_str())
        .expect("the VNF Deployment has a configMap volume `crs`");
    find(objs, "ConfigMap", dep.namespace(), cm)
}

/// (where, CR) for every CR of CONTRACT §2 in the example ConfigMap, the renderer's fixtures and
/// the YAML examples of docs/dedicated-dns.md.
fn example_crs() -> Vec<(String, Json)> {
    let objs = manifests();
    let mut texts: Vec<(String, String)> = Vec::new();
    let cm = cr_configmap(&objs);
    for (k, v) in cm.v["data"].as_object().expect("CR ConfigMap data") {
        texts.push((format!("{} data.{k}", rel(&cm.file)), s(v).to_string()));
    }
    let fixtures = repo().join("config/tests/fixtures");
    for f in yaml_files(&fixtures) {
        if f.components().any(|c| c.as_os_str() == "crs") {
            texts.push((rel(&f), read(&f)));
        }
    }
    let doc = repo().join("docs/dedicated-dns.md");
    let md = read(&doc);
    let mut block: Option<String> = None;
    let mut n = 0;
    for line in md.lines() {
        match (&mut block, line.trim_start()) {
            (None, l) if l.starts_with("```yaml") => block = Some(String::new()),
            (Some(_), l) if l.starts_with("```") => {
                n += 1;
                texts.push((
                    format!("{} yaml block {n}", rel(&doc)),
                    block.take().unwrap(),
                ));
            }
            (Some(b), _) => {
                b.push_str(line);
                b.push('\n');
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    for (what, text) in texts {
        for (i, d) in yaml_docs(&text, &what)
            .unwrap_or_else(|e| panic!("{e}"))
            .into_iter()
            .enumerate()
        {
            let kind = s(&d["kind"]);
            if d["apiVersion"] == format!("{GROUP}/v1") && egress_config::cr::KINDS.contains(&kind)
            {
                out.push((format!("{what} document {i} ({kind})"), d));
            }
        }
    }
    out
}

fn errors_of(schemas: &BTreeMap<String, Json>, cr: &Json) -> Vec<String> {
    let kind = s(&cr["kind"]);
    let schema = schemas
        .get(kind)
        .unwrap_or_else(|| panic!("no CRD for kind {kind}"));
    let v = validator(schema);
    v.iter_errors(cr)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

#[test]
fn example_crs_validate_against_their_crds() {
    let schemas = crd_schemas();
    let crs = example_crs();
    let mut kinds = BTreeSet::new();
    let mut failures = Vec::new();
    for (what, cr) in &crs {
        kinds.insert(s(&cr["kind"]).to_string());
        let errs = errors_of(&schemas, cr);
        if !errs.is_empty() {
            failures.push(format!("{what}:\n  {}", errs.join("\n  ")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(crs.len() >= 30, "only {} example CRs found", crs.len());
    let want: BTreeSet<String> = egress_config::cr::KINDS
        .iter()
        .map(|k| k.to_string())
        .collect();
    assert_eq!(kinds, want, "every kind has an example");
}

#[test]
fn invalid_crs_fail_validation() {
    let schemas = crd_schemas();
    let cases: &[(&str, &str, &str)] = &[
        (
            "wrong type",
            "kind: F5SPKVlan\nspec: {interfaces: ['1.1'], prefixlen_v4: sixteen}",
            "/spec/prefixlen_v4",
        ),
        (
            "missing interfaces",
            "kind: F5SPKVlan\nspec: {name: external, selfip_v4s: [192.0.2.2]}",
            "interfaces",
        ),
        (
            "self IP not IPv4",
            "kind: F5SPKVlan\nspec: {interfaces: ['1.2'], selfip_v4s: [192.0.2.300]}",
            "/spec/selfip_v4s/0",
        ),
        (
            "IPv6 self IP in the IPv4 list",
            "kind: F5SPKVlan\nspec: {interfaces: ['1.2'], selfip_v4s: ['2001:db8::1']}",
            "/spec/selfip_v4s/0",
        ),
        (
            "port name",
            "kind: F5SPKVlan\nspec: {interfaces: [eth0]}",
            "/spec/interfaces/0",
        ),
        (
            "tag out of range",
            "kind: F5SPKVlan\nspec: {interfaces: ['1.2'], tag: 4095}",
            "/spec/tag",
        ),
        (
            "internal not a boolean",
            "kind: F5SPKVlan\nspec: {interfaces: ['1.1'], internal: maybe}",
            "/spec/internal",
        ),
        ("no spec", "kind: F5SPKVlan", "spec"),
        (
            "addressList not a list of lists",
            "kind: F5SPKSnatpool\nspec: {name: p, addressList: [198.51.100.1]}",
            "/spec/addressList/0",
        ),
        (
            "SNAT address",
            "kind: IngressRouteSnatpool\nspec: {addressList: [[198.51.100.1, not-an-address]]}",
            "/spec/addressList/0/1",
        ),
        (
            "maxTmmReplicas a string",
            "kind: F5SPKEgress\nspec: {maxTmmReplicas: '4'}",
            "/spec/maxTmmReplicas",
        ),
        (
            "maxTmmReplicas 0",
            "kind: F5SPKEgress\nspec: {maxTmmReplicas: 0}",
            "/spec/maxTmmReplicas",
        ),
        (
            "subnet without a prefix length",
            "kind: F5SPKEgress\nspec: {dnsNat46Ipv4Subnet: 10.250.1.0}",
            "/spec/dnsNat46Ipv4Subnet",
        ),
        (
            "IPv6 DNS46 subnet",
            "kind: F5SPKEgress\nspec: {dnsNat46Ipv4Subnet: 'fd00::/64'}",
            "/spec/dnsNat46Ipv4Subnet",
        ),
        (
            "NAT64 prefix length",
            "kind: F5SPKEgress\nspec: {nat64Ipv6Subnet: '64:ff9b::/80'}",
            "/spec/nat64Ipv6Subnet",
        ),
        (
            "flag a string",
            "kind: F5SPKEgress\nspec: {dnsNat46Enabled: 'yes'}",
            "/spec/dnsNat46Enabled",
        ),
        (
            "rate limit negative",
            "kind: F5SPKEgress\nspec: {dnsRateLimit: -1}",
            "/spec/dnsRateLimit",
        ),
        (
            "sorry IP not IPv4",
            "kind: F5SPKEgress\nspec: {dnsNat46SorryIp: '2001:db8::1'}",
            "/spec/dnsNat46SorryIp",
        ),
        (
            "cache type",
            "kind: F5SPKDnscache\nspec: {cacheType: bind, netResolver: {forwardZones: [{forwardZone: ., nameServers: [{ipAddress: 192.0.2.53}]}]}}",
            "/spec/cacheType",
        ),
        (
            "name server without address",
            "kind: F5SPKDnscache\nspec: {netResolver: {forwardZones: [{forwardZone: ., nameServers: [{port: 53}]}]}}",
            "ipAddress",
        ),
        (
            "name server port",
            "kind: F5SPKDnscache\nspec: {netResolver: {forwardZones: [{forwardZone: ., nameServers: [{ipAddress: 192.0.2.53, port: 70000}]}]}}",
            "/spec/netResolver/forwardZones/0/nameServers/0/port",
        ),
        (
            "missing gateway",
            "kind: F5SPKStaticRoute\nspec: {destination: 0.0.0.0, prefixLen: 0}",
            "gateway",
        ),
        (
            "route type",
            "kind: F5SPKStaticRoute\nspec: {destination: 0.0.0.0, prefixLen: 0, type: interface, gateway: 192.0.2.1}",
            "/spec/type",
        ),
        (
            "prefixLen a string",
            "kind: F5SPKStaticRoute\nspec: {destination: '::', prefixLen: zero, gateway: '2001:db8::1'}",
            "/spec/prefixLen",
        ),
    ];
    let mut failures = Vec::new();
    for (what, body, path) in cases {
        let text = format!(
            "apiVersion: {GROUP}/v1\nmetadata: {{name: bad, namespace: spk-ingress}}\n{body}\n"
        );
        let cr = yaml_docs(&text, what).unwrap().remove(0);
        let errs = errors_of(&schemas, &cr);
        if !errs.iter().any(|e| e.contains(path)) {
            failures.push(format!(
                "{what}: expected an error about {path}, got {errs:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ---------------------------------------------------------------------------------------------
// The VNF Deployment, its networks and the dSSM it uses.

fn container<'a>(pod: &'a Json, name: &str) -> &'a Json {
    arr(&pod["containers"])
        .iter()
        .chain(arr(&pod["initContainers"]))
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no container {name}"))
}

fn env_of(c: &Json) -> BTreeMap<String, String> {
    arr(&c["env"])
        .iter()
        .filter_map(|e| Some((s(&e["name"]).to_string(), e["value"].as_str()?.to_string())))
        .collect()
}

/// The value after `flag` in a command line.
fn arg<'a>(cmd: &'a [String], flag: &str) -> Option<&'a str> {
    cmd.iter()
        .position(|a| a == flag)
        .and_then(|i| cmd.get(i + 1))
        .map(String::as_str)
}

/// command + args of a container, with `$(VAR)` replaced from its env as the kubelet does.
fn command_of(c: &Json) -> Vec<String> {
    let env = env_of(c);
    arr(&c["command"])
        .iter()
        .chain(arr(&c["args"]))
        .map(|a| {
            let mut a = s(a).to_string();
            for (k, v) in &env {
                a = a.replace(&format!("$({k})"), v);
            }
            a
        })
        .collect()
}

/// The volume mounted at the directory of `path` in container `c`, and the file name.
fn volume_for<'a>(pod: &'a Json, c: &Json, path: &str) -> (&'a Json, String) {
    let p = Path::new(path);
    let dir = p.parent().unwrap().to_str().unwrap();
    let file = p.file_name().unwrap().to_str().unwrap().to_string();
    let m = arr(&c["volumeMounts"])
        .iter()
        .find(|m| s(&m["mountPath"]) == dir)
        .unwrap_or_else(|| panic!("{}: nothing mounted at {dir} (for {path})", s(&c["name"])));
    let vol = arr(&pod["volumes"])
        .iter()
        .find(|v| v["name"] == m["name"])
        .unwrap_or_else(|| panic!("no volume {}", m["name"]));
    (vol, file)
}

/// Which file names a secret/configMap volume shows: its `items` paths, else None (all keys).
fn projected_files(vol: &Json, source: &str) -> Option<BTreeSet<String>> {
    let items = vol[source]["items"].as_array()?;
    Some(items.iter().map(|i| s(&i["path"]).to_string()).collect())
}

const DSSM_ENV: [&str; 7] = [
    "SESSIONDB_EXTERNAL_STORAGE",
    "SESSIONDB_DISCOVERY_SENTINEL",
    "SESSIONDB_EXTERNAL_SERVICE",
    "SESSIONDB_SENTINEL_MASTER",
    "REDIS_CA_FILE",
    "REDIS_AUTH_CERT",
    "REDIS_AUTH_KEY",
];

/// The seeds' secrets: name -> keys.
fn dssm_secrets() -> BTreeMap<&'static str, BTreeSet<&'static str>> {
    BTreeMap::from([
        (
            "dssm-certs-secret",
            BTreeSet::from(["dssm-ca.crt", "dssm-cert.crt", "dhparam2048.pem"]),
        ),
        ("dssm-keys-secret", BTreeSet::from(["dssm-key.key"])),
    ])
}

/// `path` in container `c` is file `key` of Secret `secret`.
fn assert_secret_file(pod: &Json, c: &Json, path: &str, secret: &str, key: &str) {
    let (vol, file) = volume_for(pod, c, path);
    let what = format!("{}: {path}", s(&c["name"]));
    assert_eq!(s(&vol["secret"]["secretName"]), secret, "{what}");
    assert_eq!(file, key, "{what}: the seed's key name");
    assert!(dssm_secrets()[secret].contains(key), "{what}");
    if let Some(files) = projected_files(vol, "secret") {
        assert!(
            files.contains(&file),
            "{what}: not among the volume's items"
        );
    }
}

#[test]
fn vnf_deployment_fits_together() {
    let objs = manifests();
    let dep = find(&objs, "Deployment", None, "egress-vnf");
    let ns = dep.namespace();
    let tmpl = &dep.v["spec"]["template"];
    let pod = &tmpl["spec"];
    let ann = &tmpl["metadata"]["annotations"];
    let vnf = container(pod, "egress-vnf");
    let sidecar = container(pod, "egress-sidecar");

    // Prometheus scraping of the metrics port (CONTRACT §1 default :9464).
    assert_eq!(ann["prometheus.io/scrape"], "true");
    assert_eq!(ann["prometheus.io/path"], "/metrics");
    assert_eq!(ann["prometheus.io/port"], "9464");
    assert!(
        arr(&vnf["ports"])
            .iter()
            .any(|p| p["containerPort"] == 9464),
        "egress-vnf exposes 9464"
    );

    // Privileged, hugepages, Guaranteed QoS.
    assert_eq!(vnf["securityContext"]["privileged"], true);
    let res = &vnf["resources"];
    assert!(
        res["limits"]["hugepages-2Mi"].is_string(),
        "hugepages-2Mi limit"
    );
    for c in arr(&pod["containers"])
        .iter()
        .chain(arr(&pod["initContainers"]))
    {
        let r = &c["resources"];
        assert_eq!(
            r["requests"], r["limits"],
            "{}: requests = limits",
            c["name"]
        );
        assert!(r["limits"]["cpu"].is_string() && r["limits"]["memory"].is_string());
    }
    let huge_vol = arr(&pod["volumes"])
        .iter()
        .find(|v| s(&v["emptyDir"]["medium"]).starts_with("HugePages"))
        .expect("an emptyDir of medium HugePages");
    assert!(
        arr(&vnf["volumeMounts"])
            .iter()
            .any(|m| m["name"] == huge_vol["name"]),
        "the hugepages volume is mounted in egress-vnf"
    );

    // Multus networks: each is a NetworkAttachmentDefinition of the namespace, with an SR-IOV
    // resource that the VNF requests and whose PCI variable the start script reads, in order.
    let networks: Vec<&str> = s(&ann["k8s.v1.cni.cncf.io/networks"])
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .collect();
    assert_eq!(networks.len(), 2, "one internal and one external network");
    let mut pci_vars = Vec::new();
    for n in &networks {
        let nad = find(&objs, "NetworkAttachmentDefinition", ns, n);
        let resource = s(&nad.v["metadata"]["annotations"]["k8s.v1.cni.cncf.io/resourceName"]);
        assert!(resource.contains('/'), "{n}: resourceName {resource:?}");
        assert_eq!(res["requests"][resource], "1", "{n}: {resource} requested");
        assert_eq!(res["limits"][resource], "1", "{n}: {resource} limited");
        let conf: Json = serde_json::from_str(s(&nad.v["spec"]["config"]))
            .unwrap_or_else(|e| panic!("{n}: spec.config is not JSON: {e}"));
        assert_eq!(conf["type"], "sriov", "{n}");
        assert_eq!(conf["name"], *n, "{n}: the CNI network name");
        pci_vars.push(format!(
            "PCIDEVICE_{}",
            resource.to_ascii_uppercase().replace(['.', '/', '-'], "_")
        ));
    }
    let venv = env_of(vnf);
    assert_eq!(
        venv["EGRESS_PCI_RESOURCES"]
            .split_whitespace()
            .collect::<Vec<_>>(),
        pci_vars,
        "EGRESS_PCI_RESOURCES names the device plugin's variables, internal first"
    );

    // The sidecar renders into a directory both containers share; the VNF reads that file and
    // listens on the control socket the sidecar and the probes use.
    let cmd = command_of(sidecar);
    assert_eq!(cmd[..2], ["egress-sidecar", "watch"], "{cmd:?}");
    assert_eq!(sidecar["restartPolicy"], "Always", "a native sidecar");
    let cr_dir = arg(&cmd, "--cr-dir").expect("--cr-dir");
    let out = arg(&cmd, "--out").expect("--out");
    let sock = arg(&cmd, "--control-socket").expect("--control-socket");
    let (cr_vol, _) = volume_for(pod, sidecar, &format!("{cr_dir}/x.yaml"));
    assert_eq!(
        s(&cr_vol["configMap"]["name"]),
        cr_configmap(&objs).name(),
        "--cr-dir is the CR ConfigMap"
    );
    let (out_vol, _) = volume_for(pod, sidecar, out);
    let (out_vol_vnf, _) = volume_for(pod, vnf, out);
    assert!(
        out_vol["emptyDir"].is_object(),
        "the TOML is on an emptyDir"
    );
    assert_eq!(
        out_vol["name"], out_vol_vnf["name"],
        "the TOML's volume is shared"
    );
    let (sock_vol, _) = volume_for(pod, vnf, sock);
    assert_eq!(
        sock_vol["name"], out_vol["name"],
        "the socket is in the shared volume"
    );
    assert_eq!(venv["EGRESS_CONFIG"], out);
    assert_eq!(s(&vnf["command"][0]), "egress-vnf-start");
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        let p: Vec<String> = arr(&vnf[probe]["exec"]["command"])
            .iter()
            .map(|a| s(a).to_string())
            .collect();
        assert_eq!(p.first().map(String::as_str), Some("egressctl"), "{probe}");
        assert_eq!(arg(&p, "--socket"), Some(sock), "{probe}");
        assert!(
            p.ends_with(&["show", "port", "info", "all"].map(String::from)),
            "{probe}"
        );
    }
    assert!(
        sidecar["startupProbe"].is_object(),
        "the VNF starts after the first render"
    );

    // dSSM environment (CONTRACT §3): the same in both containers; the service is the Sentinel
    // Service; the files are the seeds' secret keys.
    let senv = env_of(sidecar);
    for k in DSSM_ENV {
        assert!(senv.contains_key(k), "egress-sidecar: no {k}");
        assert_eq!(
            senv.get(k),
            venv.get(k),
            "{k} differs between the containers"
        );
    }
    assert_eq!(senv["SESSIONDB_EXTERNAL_STORAGE"], "true");
    assert_eq!(senv["SESSIONDB_DISCOVERY_SENTINEL"], "true");
    let service = &senv["SESSIONDB_EXTERNAL_SERVICE"];
    let (host, port) = service.split_once(':').unwrap_or((service, "26379"));
    let (svc_name, svc_ns) = host.split_once('.').expect("SERVICE.NAMESPACE");
    let svc_ns = svc_ns.split('.').next().unwrap();
    let svc = find(&objs, "Service", Some(svc_ns), svc_name);
    assert!(
        arr(&svc.v["spec"]["ports"]).iter().any(|p| p["port"]
            .as_u64()
            .map(|n| n.to_string())
            .as_deref()
            == Some(port)),
        "Service {svc_name} has port {port}"
    );
    let sentinels = find(&objs, "StatefulSet", Some(svc_ns), "f5-dssm-sentinel");
    let labels = &sentinels.v["spec"]["template"]["metadata"]["labels"];
    for (k, v) in svc.v["spec"]["selector"].as_object().unwrap() {
        assert_eq!(&labels[k], v, "{svc_name} selects the Sentinel pods");
    }
    assert_secret_file(
        pod,
        vnf,
        &venv["REDIS_CA_FILE"],
        "dssm-certs-secret",
        "dssm-ca.crt",
    );
    assert_secret_file(
        pod,
        vnf,
        &venv["REDIS_AUTH_CERT"],
        "dssm-certs-secret",
        "dssm-cert.crt",
    );
    assert_secret_file(
        pod,
        vnf,
        &venv["REDIS_AUTH_KEY"],
        "dssm-keys-secret",
        "dssm-key.key",
    );
    // The master name the VNF asks for is the one the Sentinels monitor.
    let dssm_cm = find(&objs, "ConfigMap", Some(svc_ns), "f5-dssm-config");
    let init = s(&dssm_cm.v["data"]["init-sentinel.sh"]);
    let master = &senv["SESSIONDB_SENTINEL_MASTER"];
    assert!(
        init.contains(&format!("sentinel monitor {master} ")),
        "the Sentinels monitor `{master}`"
    );
}

#[test]
fn dssm_statefulsets_use_tls_and_volumes() {
    let objs = manifests();
    let redis = find(&objs, "StatefulSet", None, "f5-dssm-db");
    let sentinel = find(&objs, "StatefulSet", None, "f5-dssm-sentinel");
    assert!(
        redis.v["spec"]["replicas"].as_u64().unwrap() >= 2,
        "master + replica"
    );
    assert_eq!(sentinel.v["spec"]["replicas"], 3, "three Sentinels");
    let claims = arr(&redis.v["spec"]["volumeClaimTemplates"]);
    assert_eq!(claims.len(), 1, "a PVC per Redis pod");
    let claim = s(&claims[0]["metadata"]["name"]);
    let cm = find(&objs, "ConfigMap", redis.namespace(), "f5-dssm-config");
    for (sts, conf_key, port) in [
        (redis, "redis.conf", 6379),
        (sentinel, "sentinel.conf", 26379),
    ] {
        let what = sts.name();
        // Its governing Service is headless.
        let svc = find(
            &objs,
            "Service",
            sts.namespace(),
            s(&sts.v["spec"]["serviceName"]),
        );
        assert_eq!(
            svc.v["spec"]["clusterIP"], "None",
            "{what}: headless service"
        );
        let conf = s(&cm.v["data"][conf_key]);
        let lines: BTreeSet<&str> = conf.lines().map(str::trim).collect();
        for l in [
            "port 0".to_string(),
            format!("tls-port {port}"),
            "tls-auth-clients yes".into(),
            "tls-replication yes".into(),
        ] {
            assert!(lines.contains(l.as_str()), "{conf_key}: no `{l}`");
        }
        let pod = &sts.v["spec"]["template"]["spec"];
        let main = &arr(&pod["containers"])[0];
        assert_eq!(main["ports"][0]["containerPort"], port, "{what}");
        // Each TLS file is a key of the seeds' secrets, mounted in the container.
        let mut files = 0;
        for (key, secret, file) in [
            ("tls-cert-file", "dssm-certs-secret", "dssm-cert.crt"),
            ("tls-key-file", "dssm-keys-secret", "dssm-key.key"),
            ("tls-ca-cert-file", "dssm-certs-secret", "dssm-ca.crt"),
            ("tls-dh-params-file", "dssm-certs-secret", "dhparam2048.pem"),
        ] {
            let path = conf
                .lines()
                .find_map(|l| l.trim().strip_prefix(&format!("{key} ")))
                .unwrap_or_else(|| panic!("{conf_key}: no {key}"));
            assert_secret_file(pod, main, path.trim(), secret, file);
            files += 1;
        }
        assert_eq!(files, 4);
        if sts.name() == "f5-dssm-db" {
            assert!(
                arr(&main["volumeMounts"])
                    .iter()
                    .any(|m| m["name"] == claim),
                "Redis data on the PVC"
            );
        }
        // The probes speak TLS with a client certificate.
        let probe: Vec<&str> = arr(&main["livenessProbe"]["exec"]["command"])
            .iter()
            .map(s)
            .collect();
        assert!(
            probe.contains(&"--tls") && probe.contains(&"--cert"),
            "{what}: {probe:?}"
        );
    }
    // The start scripts are valid shell.
    for key in ["init-redis.sh", "init-sentinel.sh"] {
        let dir = tempfile_dir("sh");
        let f = dir.join(key);
        std::fs::write(&f, s(&cm.v["data"][key])).unwrap();
        let st = Command::new("sh").arg("-n").arg(&f).status().unwrap();
        assert!(st.success(), "{key}: sh -n failed");
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// A fresh directory under the target's temporary directory.
fn tempfile_dir(tag: &str) -> PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let d = std::env::temp_dir().join(format!(
        "egress-manifests-{}-{tag}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The example CR ConfigMap, written out as the kubelet mounts it, renders with the real
/// `egress-sidecar render` for every TMM index, with the sidecar container's arguments and dSSM
/// environment.
#[test]
fn example_configmap_renders_with_egress_sidecar() {
    let objs = manifests();
    let cm = cr_configmap(&objs);
    let dep = find(&objs, "Deployment", None, "egress-vnf");
    let sidecar = container(&dep.v["spec"]["template"]["spec"], "egress-sidecar");
    let env = env_of(sidecar);
    let dir = tempfile_dir("render");
    let crs = dir.join("crs");
    std::fs::create_dir_all(&crs).unwrap();
    for (k, v) in cm.v["data"].as_object().unwrap() {
        std::fs::write(crs.join(k), s(v)).unwrap();
    }
    let set = egress_config::cr::load_dir(&crs).unwrap();
    let replicas = set.egresses[0].spec.max_tmm_replicas.unwrap_or(1);
    assert!(replicas >= 2, "the example has several TMM replicas");
    let cmd = command_of(sidecar);
    let deployed_index: u32 = arg(&cmd, "--tmm-index").unwrap().parse().unwrap();
    assert!(deployed_index < replicas);
    for idx in 0..replicas {
        let out = dir.join(format!("egress-{idx}.toml"));
        // The container's command with `render`, this index, a local output, no socket.
        let mut args: Vec<String> = Vec::new();
        let mut it = cmd.iter().skip(2);
        while let Some(a) = it.next() {
            match a.as_str() {
                "--cr-dir" => {
                    it.next();
                    args.extend(["--cr-dir".into(), crs.display().to_string()]);
                }
                "--out" => {
                    it.next();
                    args.extend(["--out".into(), out.display().to_string()]);
                }
                "--tmm-index" => {
                    it.next();
                    args.extend(["--tmm-index".into(), idx.to_string()]);
                }
                "--control-socket" => {
                    it.next();
                }
                _ => args.push(a.clone()),
            }
        }
        let mut c = Command::new(SIDECAR);
        c.arg("render").args(&args).env_clear();
        c.envs(env.iter().filter(|(k, _)| DSSM_ENV.contains(&k.as_str())));
        let o = c.output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(0), "render --tmm-index {idx}: {err}");
        let cfg = egress_config::VnfConfig::load(&out)
            .unwrap_or_else(|e| panic!("tmm {idx}: the rendered TOML does not load: {e}"));
        assert_eq!(cfg.tmm_index, idx);
        assert!(cfg.dssm.enabled && cfg.dssm.sentinel);
        assert_eq!(
            cfg.dssm.service,
            format!("{}:26379", env["SESSIONDB_EXTERNAL_SERVICE"])
        );
        assert_eq!(
            cfg.dssm.ca_file.as_deref(),
            Some(env["REDIS_CA_FILE"].as_str())
        );
        assert!(cfg.nat46.enabled && cfg.nat64.enabled && cfg.dns.enabled);
        assert_eq!(cfg.vlans.len(), 2);
        assert!(
            cfg.eal.iter().any(|a| a.contains("/dev/hugepages")),
            "EAL uses the hugepages mount: {:?}",
            cfg.eal
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// docker/egress-vnf-start.sh builds the EAL allow-list from the device plugin's variables in PCI
/// order and never starts without one.
#[test]
fn start_script_builds_the_pci_allow_list() {
    let dir = tempfile_dir("start");
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let stub = bin.join("egress-vnf");
    std::fs::write(&stub, "#!/bin/sh\necho \"ARGS: $*\"\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&stub, std::fs::Permissions::from_mode(0o755)).unwrap();
    let toml = dir.join("egress.toml");
    std::fs::write(&toml, "[dataplane]\n").unwrap();
    let script = docker().join("egress-vnf-start.sh");
    let run = |vars: &[(&str, &str)]| {
        let mut c = Command::new("sh");
        c.arg(&script).arg("--metrics-listen").arg("[::]:9464");
        c.env_clear()
            .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
            .env("EGRESS_CONFIG", &toml)
            .env("EGRESS_CONFIG_WAIT_SECONDS", "1");
        c.envs(vars.iter().copied());
        c.output().unwrap()
    };
    let o = run(&[
        ("EGRESS_PCI_RESOURCES", "PCIDEVICE_A PCIDEVICE_B"),
        ("PCIDEVICE_A", "0000:3b:02.1"),
        ("PCIDEVICE_B", "0000:3b:02.0,0000:5e:00.2"),
    ]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let expected = format!(
        "ARGS: --config {} --metrics-listen [::]:9464 -- -a 0000:3b:02.0 -a 0000:3b:02.1 -a 0000:5e:00.2",
        toml.display()
    );
    assert!(stdout.lines().any(|l| l == expected), "{stdout}");
    assert!(stdout.contains("port 1.1 = 0000:3b:02.0"), "{stdout}");
    // A requested variable that the device plugin did not set is an error.
    let o = run(&[("EGRESS_PCI_RESOURCES", "PCIDEVICE_A")]);
    assert_eq!(o.status.code(), Some(2));
    // No resources: no PCI device at all.
    let o = run(&[]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("-- --no-pci"));
    // No config: the script gives up with a message.
    std::fs::remove_file(&toml).unwrap();
    let o = run(&[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not written"));
    let _ = std::fs::remove_dir_all(dir);
}

// ---------------------------------------------------------------------------------------------
// Grafana dashboard.

/// The metric families of CONTRACT §5 and their labels.
const FAMILIES: [(&str, &[&str]); 17] = [
    ("egress_port_rx_packets_total", &["port"]),
    ("egress_port_tx_packets_total", &["port"]),
    ("egress_port_rx_dropped_total", &["port"]),
    ("egress_port_rx_bytes_total", &["port"]),
    ("egress_port_tx_bytes_total", &["port"]),
    ("egress_vs_clientside_connections_total", &["vs"]),
    ("egress_vs_clientside_connections_active", &["vs"]),
    ("egress_drops_total", &["reason"]),
    ("egress_dns_queries_total", &["result"]),
    ("egress_dns46_mappings_created_total", &[]),
    ("egress_dns46_sorry_answers_total", &[]),
    ("egress_nat_sessions_active", &["kind"]),
    ("egress_nat_port_alloc_failures_total", &["kind"]),
    ("egress_dssm_up", &[]),
    ("egress_dssm_requests_total", &["op", "result"]),
    ("egress_dssm_failovers_total", &[]),
    ("egress_lcore_busy_ratio", &["lcore"]),
];

/// Labels Prometheus adds to every scraped series.
const TARGET_LABELS: [&str; 2] = ["instance", "job"];

/// The metric names and the label names a PromQL expression uses.
fn promql_names(expr: &str) -> (Vec<String>, Vec<String>) {
    const LABEL_LISTS: [&str; 6] = [
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
    ];
    const KEYWORDS: [&str; 5] = ["bool", "offset", "and", "or", "unless"];
    // Aggregation operators may put their `by (...)` before the parenthesis.
    const AGGREGATIONS: [&str; 12] = [
        "sum",
        "min",
        "max",
        "avg",
        "group",
        "stddev",
        "stdvar",
        "count",
        "count_values",
        "bottomk",
        "topk",
        "quantile",
    ];
    let c: Vec<char> = expr.chars().collect();
    let (mut metrics, mut labels) = (Vec::new(), Vec::new());
    let (mut i, mut in_braces, mut label_list, mut pending_list) = (0, false, false, false);
    while i < c.len() {
        let ch = c[i];
        match ch {
            '"' | '\'' | '`' => {
                i += 1;
                while i < c.len() && c[i] != ch {
                    i += if c[i] == '\\' { 2 } else { 1 };
                }
                i += 1;
            }
            '[' => {
                while i < c.len() && c[i] != ']' {
                    i += 1;
                }
                i += 1;
            }
            '{' => {
                in_braces = true;
                i += 1;
            }
            '}' => {
                in_braces = false;
                i += 1;
            }
            '(' => {
                if pending_list {
                    label_list = true;
                    pending_list = false;
                }
                i += 1;
            }
            ')' => {
                label_list = false;
                i += 1;
            }
            '$' => {
                i += 1;
                while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                    i += 1;
                }
            }
            d if d.is_ascii_digit() || d == '.' => {
                while i < c.len() && (c[i].is_ascii_alphanumeric() || c[i] == '.') {
                    i += 1;
                }
            }
            a if a.is_ascii_alphabetic() || a == '_' || a == ':' => {
                let start = i;
                while i < c.len() && (c[i].is_ascii_alphanumeric() || c[i] == '_' || c[i] == ':') {
                    i += 1;
                }
                let word: String = c[start..i].iter().collect();
                let mut j = i;
                while j < c.len() && c[j].is_whitespace() {
                    j += 1;
                }
                let call = c.get(j) == Some(&'(');
                if in_braces || label_list {
                    labels.push(word);
                } else if LABEL_LISTS.contains(&word.as_str()) {
                    pending_list = true;
                } else if KEYWORDS.contains(&word.as_str())
                    || AGGREGATIONS.contains(&word.as_str())
                    || call
                {
                } else {
                    metrics.push(word);
                }
            }
            _ => i += 1,
        }
    }
    (metrics, labels)
}

/// Every `expr` in a dashboard (panels, nested row panels, targets).
fn exprs(v: &Json, path: &str, out: &mut Vec<(String, String)>) {
    match v {
        Json::Object(m) => {
            for (k, x) in m {
                if k == "expr" {
                    if let Some(e) = x.as_str() {
                        out.push((path.to_string(), e.to_string()));
                    }
                } else {
                    exprs(x, &format!("{path}.{k}"), out);
                }
            }
        }
        Json::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                exprs(x, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn promql_names_are_found() {
    let (m, l) = promql_names(
        r#"sum by (instance, port) (rate(egress_port_rx_packets_total{instance=~"$instance", port!="1.1"}[$__rate_interval])) * 8 > 0"#,
    );
    assert_eq!(m, ["egress_port_rx_packets_total"]);
    assert_eq!(l, ["instance", "port", "instance", "port"]);
    let (m, _) = promql_names("-8 * increase(a_total[5m]) / on (x) group_left b offset 1h");
    assert_eq!(m, ["a_total", "b"]);
}

#[test]
fn grafana_dashboard_queries_contract_families() {
    let f = docker().join("grafana/egress-vnf.json");
    let dash: Json = serde_json::from_str(&read(&f)).expect("the dashboard is JSON");
    assert!(dash["title"].is_string() && dash["uid"].is_string());
    let families: BTreeMap<&str, &[&str]> = FAMILIES.iter().copied().collect();
    let mut all = Vec::new();
    exprs(&dash["panels"], "panels", &mut all);
    exprs(&dash["templating"], "templating", &mut all);
    assert!(all.len() >= 15, "only {} queries", all.len());
    let mut used = BTreeSet::new();
    let mut failures = Vec::new();
    // Template variables: Grafana's label_values(METRIC, LABEL).
    for q in arr(&dash["templating"]["list"]) {
        let Some(d) = q["query"]["query"].as_str().or(q["query"].as_str()) else {
            continue;
        };
        let Some(inner) = d
            .strip_prefix("label_values(")
            .and_then(|r| r.strip_suffix(')'))
        else {
            continue;
        };
        let name = s(&q["name"]);
        match inner.split_once(',').map(|(m, l)| (m.trim(), l.trim())) {
            Some((m, l)) if families.contains_key(m) => {
                let ok = families[m].contains(&l) || TARGET_LABELS.contains(&l);
                assert!(ok, "variable {name}: `{l}` is not a label of {m}");
            }
            _ => failures.push(format!(
                "variable {name}: `{d}` is not label_values of a family"
            )),
        }
    }
    for (path, e) in &all {
        let (metrics, labels) = promql_names(e);
        if metrics.is_empty() {
            failures.push(format!("{path}: `{e}` names no metric"));
        }
        let mut allowed: BTreeSet<&str> = TARGET_LABELS.into_iter().collect();
        for m in &metrics {
            match families.get(m.as_str()) {
                Some(ls) => {
                    allowed.extend(ls.iter().copied());
                    used.insert(m.clone());
                }
                None => failures.push(format!("{path}: `{m}` is not a family of CONTRACT §5")),
            }
            // Counters are shown as rates (or increases), never raw.
            if m.ends_with("_total") && !(e.contains("rate(") || e.contains("increase(")) {
                failures.push(format!("{path}: counter {m} without rate()/increase()"));
            }
        }
        for l in &labels {
            if !allowed.contains(l.as_str()) {
                failures.push(format!("{path}: label `{l}` is not a label of {metrics:?}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let missing: Vec<&str> = families
        .keys()
        .copied()
        .filter(|f| !used.contains(*f))
        .collect();
    assert!(missing.is_empty(), "families without a panel: {missing:?}");
    // Panel ids are unique, every panel has a title and a place.
    let mut ids = BTreeSet::new();
    for p in arr(&dash["panels"]) {
        assert!(
            ids.insert(p["id"].as_u64().unwrap()),
            "panel id {} twice",
            p["id"]
        );
        assert!(p["title"].is_string() && p["gridPos"]["w"].is_u64());
    }
}

// ---------------------------------------------------------------------------------------------
// Dockerfile, statically.

/// One instruction of a Dockerfile (continuation lines joined, comments dropped).
struct Instr {
    op: String,
    args: String,
}

fn dockerfile() -> Vec<Instr> {
    let text = read(&docker().join("Dockerfile"));
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with('#') || (t.is_empty() && cur.is_empty()) {
            continue;
        }
        if let Some(head) = t.strip_suffix('\\') {
            cur.push_str(head);
            cur.push(' ');
            continue;
        }
        cur.push_str(t);
        let (op, args) = cur
            .trim()
            .split_once(char::is_whitespace)
            .unwrap_or((&cur, ""));
        out.push(Instr {
            op: op.to_ascii_uppercase(),
            args: args.trim().to_string(),
        });
        cur.clear();
    }
    assert!(
        cur.trim().is_empty(),
        "Dockerfile ends inside a continuation"
    );
    out
}

/// The `[[bin]]` names of a workspace member.
fn bins(member: &str) -> BTreeSet<String> {
    let t: toml::Value = toml::from_str(&read(&repo().join(member).join("Cargo.toml"))).unwrap();
    t.get("bin")
        .and_then(|b| b.as_array())
        .map(|a| {
            a.iter()
                .map(|b| b["name"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// Packages named by `apt-get install` in a RUN line.
fn apt_packages(run: &str) -> Vec<String> {
    let mut out = Vec::new();
    for part in run.split("&&") {
        let words: Vec<&str> = part.split_whitespace().collect();
        if let Some(p) = words.windows(2).position(|w| w == ["apt-get", "install"]) {
            out.extend(
                words[p + 2..]
                    .iter()
                    .filter(|w| !w.starts_with('-') && !w.starts_with('$'))
                    .map(|w| w.to_string()),
            );
        }
    }
    out
}

#[test]
fn dockerfile_static_check() {
    let instrs = dockerfile();
    assert!(
        read(&docker().join("Dockerfile")).contains("--workspace"),
        "the builder builds the workspace"
    );
    // Stages.
    let mut stages: Vec<(String, Vec<&Instr>)> = Vec::new();
    for i in &instrs {
        if i.op == "FROM" {
            let w: Vec<&str> = i.args.split_whitespace().collect();
            let image = w[0];
            assert!(
                image.contains("bookworm"),
                "stage image {image} is not Debian bookworm"
            );
            let name = match w.as_slice() {
                [_, as_, n] if as_.eq_ignore_ascii_case("as") => n.to_string(),
                _ => format!("stage{}", stages.len()),
            };
            stages.push((name, Vec::new()));
        } else if let Some((_, body)) = stages.last_mut() {
            body.push(i);
        } else {
            assert!(i.op == "ARG", "{} before the first FROM", i.op);
        }
    }
    assert!(stages.len() >= 2, "multi-stage");
    let runs = |body: &[&Instr]| -> String {
        body.iter()
            .filter(|i| i.op == "RUN")
            .map(|i| i.args.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    };
    let (builder_name, builder) = &stages[0];
    let build = runs(builder);
    assert!(
        build.contains("cargo build --release"),
        "the builder runs cargo build --release"
    );
    let build_pkgs = apt_packages(&build);
    for p in ["libdpdk-dev", "libclang-dev", "pkg-config", "clang"] {
        assert!(build_pkgs.iter().any(|x| x == p), "builder: no {p}");
    }
    // Repository files the builder's commands use are in the context.
    for w in build.split_whitespace() {
        let w = w.trim_matches(|c| c == '"' || c == '\'' || c == ';');
        if w.starts_with("docker/") {
            assert!(
                repo().join(w).exists(),
                "builder: {w} is not in the repository"
            );
        }
    }
    // The final stage: run-time packages only, every PMD of the brief.
    let (_, fin) = stages.last().unwrap();
    let fin_run = runs(fin);
    let pkgs = apt_packages(&fin_run);
    for p in &pkgs {
        assert!(
            !p.ends_with("-dev")
                && !["clang", "cargo", "rustc", "gcc", "build-essential"].contains(&p.as_str()),
            "final image installs build package {p}"
        );
    }
    for p in [
        "ca-certificates",
        "librte-net-iavf23",
        "librte-net-mlx5-23",
        "libibverbs1",
        "ibverbs-providers",
        "librte-net-i40e23",
        "librte-net-ixgbe23",
        "librte-net-af-packet23",
        "librte-net-pcap23",
        "librte-net-tap23",
        "librte-net-null23",
        "librte-net-ring23",
        "librte-mempool-ring23",
    ] {
        assert!(pkgs.iter().any(|x| x == p), "final image: no {p}");
    }
    // COPY sources: in the build context (the repository root, minus the ignore file) or
    // produced by an earlier stage.
    let ignore: Vec<String> = read(&docker().join("Dockerfile.dockerignore"))
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect();
    let workspace_bins: BTreeSet<String> = ["vnf", "config", "perf", "tests"]
        .iter()
        .flat_map(|m| bins(m))
        .collect();
    let product: BTreeSet<String> = bins("vnf").into_iter().chain(bins("config")).collect();
    assert_eq!(
        product,
        [
            "egress-vnf",
            "egressctl",
            "egress-sidecar",
            "egress-dns-webhook"
        ]
        .map(String::from)
        .into(),
        "the product binaries (CONTRACT §1 and the webhook)"
    );
    let mut image_files = BTreeSet::new();
    for (idx, (stage, body)) in stages.iter().enumerate() {
        for i in body.iter().filter(|i| i.op == "COPY" || i.op == "ADD") {
            assert_eq!(i.op, "COPY", "use COPY, not ADD");
            let words: Vec<&str> = i.args.split_whitespace().collect();
            let from = words
                .iter()
                .find_map(|w| w.strip_prefix("--from="))
                .map(str::to_string);
            let paths: Vec<&str> = words
                .iter()
                .copied()
                .filter(|w| !w.starts_with("--"))
                .collect();
            let (dest, srcs) = paths.split_last().expect("COPY SRC... DEST");
            for src in srcs {
                match &from {
                    None => {
                        let p = repo().join(src);
                        assert!(p.exists(), "{stage}: COPY {src}: not in the repository");
                        let first = Path::new(src).components().next().unwrap();
                        let first = first.as_os_str().to_str().unwrap();
                        assert!(
                            !ignore.iter().any(|g| g == first),
                            "{stage}: COPY {src}: excluded by Dockerfile.dockerignore"
                        );
                    }
                    Some(f) => {
                        let (_, src_body) = stages[..idx]
                            .iter()
                            .find(|(n, _)| n == f)
                            .unwrap_or_else(|| {
                                panic!("{stage}: COPY --from={f}: no such earlier stage")
                            });
                        let text = runs(src_body);
                        let name = Path::new(src).file_name().unwrap().to_str().unwrap();
                        assert!(
                            text.contains(&format!("/out/{name}"))
                                || text.contains(&format!(" {name} ")),
                            "{stage}: COPY --from={f} {src}: {f} does not produce it"
                        );
                        if dest.ends_with('/')
                            && f == builder_name
                            && dest.starts_with("/usr/local/bin")
                        {
                            image_files.insert(name.to_string());
                        }
                    }
                }
            }
        }
    }
    // The builder installs exactly the product binaries into /out, all of them [[bin]] names.
    let for_list = build
        .split("for b in ")
        .nth(1)
        .and_then(|r| r.split(';').next())
        .expect("the builder's `for b in ...; do install` loop");
    let installed: BTreeSet<String> = for_list.split_whitespace().map(String::from).collect();
    assert_eq!(installed, product, "the binaries the builder installs");
    assert!(installed.is_subset(&workspace_bins));
    for b in &product {
        assert!(
            image_files.contains(b),
            "{b} is not copied into /usr/local/bin"
        );
    }
    // Every executable the manifests run is in the image (or a base-image command).
    let base_commands = ["test", "sh"];
    let script_name = "egress-vnf-start";
    assert!(image_files.contains(script_name));
    let mut seen = 0;
    for o in manifests() {
        let pod = match o.kind() {
            "Deployment" | "StatefulSet" => &o.v["spec"]["template"]["spec"],
            _ => continue,
        };
        for c in arr(&pod["containers"])
            .iter()
            .chain(arr(&pod["initContainers"]))
        {
            if !s(&c["image"]).starts_with("egress-vnf:") {
                continue;
            }
            seen += 1;
            let mut cmds = vec![s(&c["command"][0]).to_string()];
            for p in ["livenessProbe", "readinessProbe", "startupProbe"] {
                if let Some(x) = c[p]["exec"]["command"][0].as_str() {
                    cmds.push(x.to_string());
                }
            }
            for cmd in cmds {
                assert!(
                    image_files.contains(&cmd) || base_commands.contains(&cmd.as_str()),
                    "{}: {} runs `{cmd}`, which the image does not have",
                    rel(&o.file),
                    s(&c["name"])
                );
            }
        }
    }
    assert!(
        seen >= 3,
        "the VNF, the sidecar and the webhook use the project image"
    );
    // The image's default user is not root.
    let user = instrs
        .iter()
        .rev()
        .find(|i| i.op == "USER")
        .expect("a USER instruction");
    assert!(!user.args.starts_with('0') && !user.args.starts_with("root"));
}
