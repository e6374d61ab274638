//! `admission.k8s.io/v1` AdmissionReview in, AdmissionReview out: the pure part of the webhook.
//!
//! A selected Pod CREATE gets a JSONPatch that sets `spec.dnsPolicy: None` and a
//! `spec.dnsConfig` with the configured nameservers, the cluster search domains of the pod's
//! namespace (`<ns>.svc.<domain>`, `svc.<domain>`, `<domain>`) and `ndots`. A `dnsConfig` the pod
//! already has is merged the way the kubelet merges it with `ClusterFirst`: its extra search
//! domains follow the cluster ones, its options are kept and win over ours by name (a pod that
//! asks for `ndots:2` keeps it); its own nameservers are dropped, since the point is that every
//! query goes to the configured resolver.
//!
//! Everything else is allowed unchanged, with a reason for the log. The HTTP status is 200 with
//! an AdmissionReview whenever the request's `uid` can be read from a JSON body (the API server
//! needs the uid to accept the answer); a body that is not JSON, or has no `request.uid`, gets a
//! 400 with a plain-text message (the API server then applies the webhook's
//! `failurePolicy: Ignore`, so the pod is admitted unchanged either way).

use super::config::{DnsPolicy, WebhookConfig};
use base64::Engine as _;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// The only AdmissionReview version served.
pub const ADMISSION_API_VERSION: &str = "admission.k8s.io/v1";

/// The API server rejects a pod whose `dnsConfig.searches` has more domains than this
/// (Kubernetes 1.28 and later; 6 before)...
pub const MAX_SEARCHES: usize = 32;
/// ...or more characters, counting one separator between domains.
pub const MAX_SEARCH_CHARS: usize = 2048;

/// What to send back and what to log.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// HTTP status: 200, or 400 when no AdmissionReview answer is possible.
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    /// One line for the log: what was decided and why.
    pub log: String,
}

/// The decision about one pod.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Allowed as it is; the reason is logged.
    Unchanged(String),
    /// Allowed with this JSONPatch (a JSON array of operations).
    Patch { ops: Value, summary: String },
}

/// Answers one HTTP request body.
pub fn review(cfg: &WebhookConfig, body: &[u8]) -> Reply {
    let v: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return bad_request(format!("the body is not JSON: {e}")),
    };
    let Some(req) = v.get("request") else {
        return bad_request(if v.is_object() {
            "the AdmissionReview has no `request`".to_string()
        } else {
            "the body is not a JSON object".to_string()
        });
    };
    let uid = match req.get("uid").and_then(Value::as_str) {
        Some(u) if !u.is_empty() => u.to_string(),
        _ => return bad_request("`request.uid` is missing or not a non-empty string".into()),
    };
    let api_version = v.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let kind = v.get("kind").and_then(Value::as_str).unwrap_or("");
    let decision = if api_version != ADMISSION_API_VERSION {
        Decision::Unchanged(format!(
            "apiVersion is `{api_version}`, not `{ADMISSION_API_VERSION}`"
        ))
    } else if kind != "AdmissionReview" {
        Decision::Unchanged(format!("kind is `{kind}`, not `AdmissionReview`"))
    } else {
        decide(cfg, req)
    };
    let who = describe_pod(req);
    let mut response = Map::new();
    response.insert("uid".into(), Value::String(uid.clone()));
    response.insert("allowed".into(), Value::Bool(true));
    let log = match decision {
        Decision::Unchanged(reason) => format!("uid={uid} {who}: unchanged: {reason}"),
        Decision::Patch { ops, summary } => {
            let patch = serde_json::to_vec(&ops).unwrap_or_default();
            response.insert("patchType".into(), Value::String("JSONPatch".into()));
            response.insert(
                "patch".into(),
                Value::String(base64::engine::general_purpose::STANDARD.encode(patch)),
            );
            format!("uid={uid} {who}: patched: {summary}")
        }
    };
    let out = json!({
        "apiVersion": ADMISSION_API_VERSION,
        "kind": "AdmissionReview",
        "response": Value::Object(response),
    });
    Reply {
        status: 200,
        content_type: "application/json",
        body: serde_json::to_vec(&out).unwrap_or_default(),
        log,
    }
}

fn bad_request(message: String) -> Reply {
    Reply {
        status: 400,
        content_type: "text/plain; charset=utf-8",
        body: format!("bad AdmissionReview: {message}\n").into_bytes(),
        log: format!("400: {message}"),
    }
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer).and_then(Value::as_str)
}

/// The pod's namespace: `request.namespace`, else the object's own.
fn namespace(req: &Value) -> &str {
    match str_at(req, "/namespace") {
        Some(ns) if !ns.is_empty() => ns,
        _ => str_at(req, "/object/metadata/namespace").unwrap_or(""),
    }
}

/// `ns=NS pod=NAME` for logs (`GENERATENAME*` for a pod without a name yet).
fn describe_pod(req: &Value) -> String {
    let name = match str_at(req, "/object/metadata/name").or(str_at(req, "/name")) {
        Some(n) if !n.is_empty() => n.to_string(),
        _ => match str_at(req, "/object/metadata/generateName") {
            Some(g) => format!("{g}*"),
            None => "?".into(),
        },
    };
    let ns = namespace(req);
    format!("ns={} pod={name}", if ns.is_empty() { "?" } else { ns })
}

/// Decides about one `request`.
pub fn decide(cfg: &WebhookConfig, req: &Value) -> Decision {
    let unchanged = |r: String| Decision::Unchanged(r);
    let group = str_at(req, "/kind/group").unwrap_or("");
    let kind = str_at(req, "/kind/kind").unwrap_or("");
    if kind != "Pod" || !group.is_empty() {
        let gk = if group.is_empty() {
            kind.to_string()
        } else {
            format!("{kind}.{group}")
        };
        return unchanged(format!("kind is `{gk}`, not `Pod`"));
    }
    if let Some(sub) = str_at(req, "/subResource").filter(|s| !s.is_empty()) {
        return unchanged(format!("subresource `{sub}`"));
    }
    let op = str_at(req, "/operation").unwrap_or("");
    if op != "CREATE" {
        return unchanged(format!("operation is `{op}`, not `CREATE`"));
    }
    let ns = namespace(req);
    if ns.is_empty() {
        return unchanged("the pod has no namespace".into());
    }
    let Some(pod) = req.get("object").filter(|o| o.is_object()) else {
        return unchanged("`request.object` is missing".into());
    };
    let Some(spec) = pod.get("spec").and_then(Value::as_object) else {
        return unchanged("the pod has no `spec`".into());
    };
    if !cfg.namespace_names().selects(ns) {
        return unchanged(format!("namespace `{ns}` is not selected"));
    }
    let labels = match labels(pod) {
        Ok(l) => l,
        Err(why) => return unchanged(why),
    };
    if !cfg.select.pod_selector.matches(&labels) {
        return unchanged(format!(
            "labels do not match the pod selector ({})",
            cfg.select.pod_selector.describe()
        ));
    }
    // The API server defaults an absent dnsPolicy to ClusterFirst before admission.
    let policy_text = match spec.get("dnsPolicy") {
        None | Some(Value::Null) => "ClusterFirst",
        Some(Value::String(s)) if s.is_empty() => "ClusterFirst",
        Some(Value::String(s)) => s.as_str(),
        Some(other) => return unchanged(format!("`spec.dnsPolicy` is not a string: {other}")),
    };
    let Some(policy) = DnsPolicy::parse(policy_text) else {
        return unchanged(format!("unknown dnsPolicy `{policy_text}`"));
    };
    if !cfg.dns.rewrite_policies.contains(&policy) {
        return unchanged(format!(
            "dnsPolicy `{policy_text}` is kept (not in dns.rewritePolicies)"
        ));
    }
    let existing = match spec.get("dnsConfig") {
        None | Some(Value::Null) => None,
        Some(Value::Object(m)) => Some(m),
        Some(other) => return unchanged(format!("`spec.dnsConfig` is not an object: {other}")),
    };
    let dns_config = match merged_dns_config(cfg, ns, existing) {
        Ok(c) => c,
        Err(why) => return unchanged(why),
    };
    if policy == DnsPolicy::None
        && existing.map(|m| Value::Object(m.clone())) == Some(dns_config.clone())
    {
        return unchanged("dnsPolicy None with the same dnsConfig already".into());
    }
    let op_for = |field: &str| {
        if spec.contains_key(field) {
            "replace"
        } else {
            "add"
        }
    };
    let summary = format!(
        "dnsPolicy {policy_text} -> None, nameservers {}, searches {}, options {}",
        join(&dns_config["nameservers"]),
        join(&dns_config["searches"]),
        options_text(&dns_config["options"]),
    );
    let ops = json!([
        { "op": op_for("dnsPolicy"), "path": "/spec/dnsPolicy", "value": "None" },
        { "op": op_for("dnsConfig"), "path": "/spec/dnsConfig", "value": dns_config },
    ]);
    Decision::Patch { ops, summary }
}

/// The pod's labels; an error text when `metadata.labels` is not a map of strings.
fn labels(pod: &Value) -> Result<BTreeMap<String, String>, String> {
    match pod.pointer("/metadata/labels") {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                other => Err(format!("label `{k}` is not a string: {other}")),
            })
            .collect(),
        Some(other) => Err(format!("`metadata.labels` is not a map: {other}")),
    }
}

fn strings(v: Option<&Value>, field: &str) -> Result<Vec<String>, String> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| {
                x.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| format!("`spec.dnsConfig.{field}` has a non-string entry: {x}"))
            })
            .collect(),
        Some(other) => Err(format!("`spec.dnsConfig.{field}` is not a list: {other}")),
    }
}

/// The dnsConfig to set: ours, merged with what the pod has (see the module docs).
fn merged_dns_config(
    cfg: &WebhookConfig,
    ns: &str,
    existing: Option<&Map<String, Value>>,
) -> Result<Value, String> {
    let domain = cfg.cluster_domain();
    let mut searches = vec![
        format!("{ns}.svc.{domain}"),
        format!("svc.{domain}"),
        domain.to_string(),
    ];
    for s in strings(existing.and_then(|m| m.get("searches")), "searches")? {
        if !searches.contains(&s) {
            searches.push(s);
        }
    }
    let chars: usize = searches
        .iter()
        .map(|s| s.len() + 1)
        .sum::<usize>()
        .saturating_sub(1);
    if searches.len() > MAX_SEARCHES || chars > MAX_SEARCH_CHARS {
        return Err(format!(
            "the merged search list ({} domains, {chars} characters) would exceed the API \
             server's limit ({MAX_SEARCHES} domains, {MAX_SEARCH_CHARS} characters)",
            searches.len()
        ));
    }
    let mut options: Vec<Value> = Vec::new();
    let theirs = match existing.and_then(|m| m.get("options")) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a.clone(),
        Some(other) => return Err(format!("`spec.dnsConfig.options` is not a list: {other}")),
    };
    let mut names = Vec::new();
    for o in &theirs {
        let Some(name) = o.get("name").and_then(Value::as_str) else {
            return Err(format!(
                "`spec.dnsConfig.options` has an entry without a name: {o}"
            ));
        };
        names.push(name.to_string());
    }
    if !names.iter().any(|n| n == "ndots") {
        options.push(json!({ "name": "ndots", "value": cfg.dns.ndots.to_string() }));
    }
    options.extend(theirs);
    let nameservers: Vec<String> = cfg.dns.nameservers.iter().map(|a| a.to_string()).collect();
    Ok(json!({
        "nameservers": nameservers,
        "searches": searches,
        "options": options,
    }))
}

fn join(v: &Value) -> String {
    let items: Vec<&str> = v
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    format!("[{}]", items.join(" "))
}

fn options_text(v: &Value) -> String {
    let items: Vec<String> = v
        .as_array()
        .map(|a| {
            a.iter()
                .map(|o| {
                    let name = o.get("name").and_then(Value::as_str).unwrap_or("?");
                    match o.get("value").and_then(Value::as_str) {
                        Some(val) => format!("{name}:{val}"),
                        None => name.to_string(),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    format!("[{}]", items.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn cfg(extra: &str) -> WebhookConfig {
        let text = format!(
            "server:\n  certFile: /c\n  keyFile: /k\ndns:\n  nameservers: [172.30.53.53]\n{extra}"
        );
        WebhookConfig::from_yaml_str(&text, Path::new("t.yaml")).unwrap()
    }

    fn request(ns: &str, spec: Value, labels: Value) -> Value {
        json!({
            "uid": "u-1", "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": ns, "operation": "CREATE",
            "object": {"apiVersion": "v1", "kind": "Pod",
                       "metadata": {"generateName": "web-", "labels": labels}, "spec": spec}
        })
    }

    fn patch_of(d: Decision) -> Vec<Value> {
        match d {
            Decision::Patch { ops, .. } => ops.as_array().unwrap().clone(),
            Decision::Unchanged(r) => panic!("unchanged: {r}"),
        }
    }

    #[test]
    fn default_pod_gets_cluster_searches() {
        let c = cfg("");
        let ops = patch_of(decide(
            &c,
            &request(
                "shop",
                json!({"dnsPolicy": "ClusterFirst", "containers": []}),
                json!({}),
            ),
        ));
        assert_eq!(
            ops[0],
            json!({"op": "replace", "path": "/spec/dnsPolicy", "value": "None"})
        );
        assert_eq!(
            ops[1],
            json!({"op": "add", "path": "/spec/dnsConfig", "value": {
                "nameservers": ["172.30.53.53"],
                "searches": ["shop.svc.cluster.local", "svc.cluster.local", "cluster.local"],
                "options": [{"name": "ndots", "value": "5"}]}})
        );
    }

    #[test]
    fn existing_dns_config_is_merged() {
        let c = cfg("  clusterDomain: example.internal.\n  ndots: 3\n");
        let spec = json!({"containers": [], "dnsConfig": {
            "nameservers": ["8.8.8.8"],
            "searches": ["corp.example", "svc.example.internal"],
            "options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}]}});
        let ops = patch_of(decide(&c, &request("a", spec, Value::Null)));
        assert_eq!(ops[0]["op"], "add");
        assert_eq!(ops[1]["op"], "replace");
        assert_eq!(
            ops[1]["value"],
            json!({"nameservers": ["172.30.53.53"],
                   "searches": ["a.svc.example.internal", "svc.example.internal",
                                "example.internal", "corp.example"],
                   "options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}]})
        );
    }

    #[test]
    fn policies_and_idempotence() {
        let none = json!({"dnsPolicy": "None", "dnsConfig": {"nameservers": ["1.1.1.1"]}});
        assert!(matches!(
            decide(&cfg(""), &request("a", none.clone(), json!({}))),
            Decision::Unchanged(r) if r.contains("dnsPolicy `None` is kept")
        ));
        let c = cfg("  rewritePolicies: [ClusterFirst, None]\n");
        let ops = patch_of(decide(&c, &request("a", none, json!({}))));
        // Rewriting the result again changes nothing.
        let again = json!({"dnsPolicy": "None", "dnsConfig": ops[1]["value"].clone()});
        assert!(matches!(
            decide(&c, &request("a", again, json!({}))),
            Decision::Unchanged(r) if r.contains("already")
        ));
        let default = json!({"dnsPolicy": "Default"});
        assert!(matches!(
            decide(&cfg(""), &request("a", default, json!({}))),
            Decision::Unchanged(_)
        ));
    }

    #[test]
    fn odd_shapes_are_left_alone() {
        let c = cfg("");
        for (spec, labels, why) in [
            (json!({"dnsPolicy": 3}), json!({}), "not a string"),
            (
                json!({"dnsPolicy": "Sometimes"}),
                json!({}),
                "unknown dnsPolicy",
            ),
            (json!({"dnsConfig": []}), json!({}), "not an object"),
            (
                json!({"dnsConfig": {"searches": "x"}}),
                json!({}),
                "not a list",
            ),
            (
                json!({"dnsConfig": {"options": [{"value": "1"}]}}),
                json!({}),
                "without a name",
            ),
            (
                json!({"dnsConfig": {"searches": (0..30).map(|i| format!("d{i}.example")).collect::<Vec<_>>()}}),
                json!({}),
                "would exceed the API server's limit (32 domains",
            ),
            (
                json!({"dnsConfig": {"searches": [format!("{}.example", "a".repeat(2000))]}}),
                json!({}),
                "characters)",
            ),
            (json!({}), json!({"a": 1}), "not a string"),
            (json!({}), json!([]), "not a map"),
        ] {
            match decide(&c, &request("a", spec.clone(), labels)) {
                Decision::Unchanged(r) => assert!(r.contains(why), "{spec}: {r}"),
                d => panic!("{spec}: {d:?}"),
            }
        }
    }

    #[test]
    fn review_wraps_the_decision() {
        let c = cfg("");
        let body = json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                          "request": request("a", json!({}), json!({}))});
        let r = review(&c, body.to_string().as_bytes());
        assert_eq!(r.status, 200);
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["response"]["uid"], "u-1");
        assert_eq!(v["response"]["allowed"], true);
        assert_eq!(v["response"]["patchType"], "JSONPatch");
        assert!(r.log.contains("ns=a pod=web-*: patched"), "{}", r.log);
        let r = review(&c, b"{\"apiVersion\":\"admission.k8s.io/v1\"}");
        assert_eq!(r.status, 400);
        assert!(r.log.contains("no `request`"), "{}", r.log);
    }
}
