//! Which pods the webhook rewrites: namespace names (with `*` wildcards) and a Kubernetes
//! `LabelSelector` on the pod's labels.
//!
//! The AdmissionReview of a pod carries the namespace's name but not its labels, so selection by
//! namespace *labels* belongs to the MutatingWebhookConfiguration's `namespaceSelector` (the API
//! server evaluates it before calling the webhook); the webhook's own namespace selection is by
//! name. The label selector has the Kubernetes semantics: every `matchLabels` entry and every
//! `matchExpressions` requirement must hold; an empty selector selects every pod; `NotIn` and
//! `DoesNotExist` hold when the label is absent.

use serde::Deserialize;
use std::collections::BTreeMap;

/// A `matchExpressions` operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Operator {
    In,
    NotIn,
    Exists,
    DoesNotExist,
}

/// One `matchExpressions` requirement.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Requirement {
    pub key: String,
    pub operator: Operator,
    #[serde(default)]
    pub values: Vec<String>,
}

/// A Kubernetes `LabelSelector` (`matchLabels` + `matchExpressions`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct LabelSelector {
    pub match_labels: BTreeMap<String, String>,
    pub match_expressions: Vec<Requirement>,
}

impl LabelSelector {
    /// Whether `labels` satisfy every entry and requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.match_labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
            && self.match_expressions.iter().all(|r| {
                let value = labels.get(&r.key);
                match r.operator {
                    Operator::In => value.is_some_and(|v| r.values.contains(v)),
                    Operator::NotIn => value.is_none_or(|v| !r.values.contains(v)),
                    Operator::Exists => value.is_some(),
                    Operator::DoesNotExist => value.is_none(),
                }
            })
    }

    /// Checks the requirements as the API server would: `In`/`NotIn` need values,
    /// `Exists`/`DoesNotExist` take none, keys are not empty. Returns (field, message).
    pub fn validate(&self, field: &str) -> Result<(), (String, String)> {
        for k in self.match_labels.keys() {
            if k.is_empty() {
                return Err((
                    format!("{field}.matchLabels"),
                    "a label key is empty".into(),
                ));
            }
        }
        for (i, r) in self.match_expressions.iter().enumerate() {
            let f = format!("{field}.matchExpressions[{i}]");
            if r.key.is_empty() {
                return Err((format!("{f}.key"), "the key is empty".into()));
            }
            match r.operator {
                Operator::In | Operator::NotIn if r.values.is_empty() => {
                    return Err((
                        format!("{f}.values"),
                        format!("operator {:?} needs at least one value", r.operator),
                    ))
                }
                Operator::Exists | Operator::DoesNotExist if !r.values.is_empty() => {
                    return Err((
                        format!("{f}.values"),
                        format!("operator {:?} takes no values", r.operator),
                    ))
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Short text for logs, in `kubectl -l` syntax (`everything` when empty).
    pub fn describe(&self) -> String {
        let mut parts: Vec<String> = self
            .match_labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        for r in &self.match_expressions {
            parts.push(match r.operator {
                Operator::In => format!("{} in ({})", r.key, r.values.join(",")),
                Operator::NotIn => format!("{} notin ({})", r.key, r.values.join(",")),
                Operator::Exists => r.key.clone(),
                Operator::DoesNotExist => format!("!{}", r.key),
            });
        }
        if parts.is_empty() {
            "everything".into()
        } else {
            parts.join(",")
        }
    }
}

/// Whether `name` matches `pattern`, where `*` stands for any run of characters (possibly empty)
/// and every other character for itself.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let p = pattern.as_bytes();
    let n = name.as_bytes();
    let (mut pi, mut ni) = (0, 0);
    // Position of the last `*` seen and the name position it was tried at.
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ni));
            pi += 1;
        } else if pi < p.len() && p[pi] == n[ni] {
            pi += 1;
            ni += 1;
        } else if let Some((sp, sn)) = star {
            // Let the last `*` swallow one more character and retry.
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&b| b == b'*')
}

/// Namespace selection by name: `namespaces` (empty = every namespace the API server sends)
/// minus `excludeNamespaces`. Entries may use `*` wildcards.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NamespaceNames {
    pub include: Vec<String>,
    pub exclude: Vec<String>,
}

impl NamespaceNames {
    /// Whether pods of namespace `ns` are selected.
    pub fn selects(&self, ns: &str) -> bool {
        (self.include.is_empty() || self.include.iter().any(|p| glob_match(p, ns)))
            && !self.exclude.iter().any(|p| glob_match(p, ns))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn req(key: &str, operator: Operator, values: &[&str]) -> Requirement {
        Requirement {
            key: key.into(),
            operator,
            values: values.iter().map(|v| v.to_string()).collect(),
        }
    }

    #[test]
    fn glob() {
        assert!(glob_match("app", "app"));
        assert!(!glob_match("app", "apps"));
        assert!(glob_match("app-*", "app-"));
        assert!(glob_match("app-*", "app-frontend"));
        assert!(!glob_match("app-*", "ap"));
        assert!(glob_match("*-prod", "shop-prod"));
        assert!(glob_match("*", ""));
        assert!(glob_match("a*b*c", "aXXbYYbZc"));
        assert!(!glob_match("a*b*c", "aXXbYYbZ"));
        assert!(glob_match("**", "x"));
    }

    #[test]
    fn namespaces() {
        let all = NamespaceNames::default();
        assert!(all.selects("anything"));
        let sel = NamespaceNames {
            include: vec!["app-*".into(), "shop".into()],
            exclude: vec!["app-system".into()],
        };
        assert!(sel.selects("app-a"));
        assert!(sel.selects("shop"));
        assert!(!sel.selects("app-system"));
        assert!(!sel.selects("kube-system"));
    }

    #[test]
    fn label_selector_semantics() {
        let empty = LabelSelector::default();
        assert!(empty.matches(&labels(&[])));
        let s = LabelSelector {
            match_labels: labels(&[("app", "web")]),
            match_expressions: vec![
                req("tier", Operator::In, &["front", "edge"]),
                req("legacy", Operator::NotIn, &["true"]),
                req("team", Operator::Exists, &[]),
                req("skip-dns", Operator::DoesNotExist, &[]),
            ],
        };
        assert!(s.matches(&labels(&[("app", "web"), ("tier", "edge"), ("team", "x")])));
        assert!(s.matches(&labels(&[
            ("app", "web"),
            ("tier", "front"),
            ("team", ""),
            ("legacy", "no")
        ])));
        assert!(!s.matches(&labels(&[("app", "db"), ("tier", "edge"), ("team", "x")])));
        assert!(!s.matches(&labels(&[("app", "web"), ("tier", "back"), ("team", "x")])));
        assert!(!s.matches(&labels(&[("app", "web"), ("team", "x")])));
        assert!(!s.matches(&labels(&[
            ("app", "web"),
            ("tier", "edge"),
            ("team", "x"),
            ("legacy", "true")
        ])));
        assert!(!s.matches(&labels(&[("app", "web"), ("tier", "edge")])));
        assert!(!s.matches(&labels(&[
            ("app", "web"),
            ("tier", "edge"),
            ("team", "x"),
            ("skip-dns", "")
        ])));
        assert_eq!(
            s.describe(),
            "app=web,tier in (front,edge),legacy notin (true),team,!skip-dns"
        );
    }

    #[test]
    fn label_selector_validation() {
        let bad_in = LabelSelector {
            match_expressions: vec![req("a", Operator::In, &[])],
            ..Default::default()
        };
        let (f, m) = bad_in.validate("select.podSelector").unwrap_err();
        assert_eq!(f, "select.podSelector.matchExpressions[0].values");
        assert!(m.contains("at least one value"), "{m}");
        let bad_exists = LabelSelector {
            match_expressions: vec![req("a", Operator::Exists, &["x"])],
            ..Default::default()
        };
        assert!(bad_exists.validate("p").is_err());
        let empty_key = LabelSelector {
            match_expressions: vec![req("", Operator::Exists, &[])],
            ..Default::default()
        };
        assert_eq!(
            empty_key.validate("p").unwrap_err().0,
            "p.matchExpressions[0].key"
        );
    }
}
