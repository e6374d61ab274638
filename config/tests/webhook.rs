//! `egress-dns-webhook` end to end: the real binary on 127.0.0.1 (a free port), a test CA and
//! server certificate made here, AdmissionReview v1 requests (fixtures/webhook/) posted over
//! HTTPS with a rustls client that trusts only the test CA. Also: every manifest under
//! docker/webhook and docker/coredns parses.

use base64::Engine as _;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_egress-dns-webhook");

fn fixture(name: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/webhook")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn fixture_json(name: &str) -> Value {
    serde_json::from_slice(&fixture(name)).unwrap()
}

fn temp_dir(tag: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "dns-webhook-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A test CA and the server certificates it signs.
struct Pki {
    ca_key: rcgen::KeyPair,
    ca_cert: rcgen::Certificate,
}

impl Pki {
    fn new() -> Pki {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        p.distinguished_name
            .push(rcgen::DnType::CommonName, "egress-dns-webhook test CA");
        p.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
        let ca_cert = p.self_signed(&ca_key).unwrap();
        Pki { ca_key, ca_cert }
    }

    /// A server certificate for 127.0.0.1 and the in-cluster service names: (cert PEM, key PEM).
    fn server(&self, common_name: &str) -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut p = rcgen::CertificateParams::new(vec![
            "127.0.0.1".to_string(),
            "localhost".to_string(),
            "egress-dns-webhook.egress-dns.svc".to_string(),
        ])
        .unwrap();
        p.distinguished_name
            .push(rcgen::DnType::CommonName, common_name);
        p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        let cert = p.signed_by(&key, &self.ca_cert, &self.ca_key).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    fn client_config(&self) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.ca_cert.der().clone()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        Arc::new(
            rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth(),
        )
    }
}

/// The webhook config used by most tests; `extra` is appended to the `dns:` section.
fn config_yaml(dir: &Path, server_extra: &str, dns_extra: &str) -> String {
    format!(
        r#"server:
  listen: "127.0.0.1:0"
  certFile: {cert}
  keyFile: {key}
  maxBodyBytes: 65536
  requestTimeoutSeconds: 2
  idleTimeoutSeconds: 5
{server_extra}dns:
  nameservers: ["172.30.53.53", "fd00:53::53"]
  clusterDomain: cluster.local
{dns_extra}select:
  namespaces: ["app-*", "shop"]
  excludeNamespaces: ["app-system"]
  podSelector:
    matchLabels:
      egress.f5net.com/dns46: "true"
    matchExpressions:
      - key: tier
        operator: NotIn
        values: [batch]
"#,
        cert = dir.join("tls.crt").display(),
        key = dir.join("tls.key").display(),
    )
}

/// The running binary; killed (by its child handle) and its directory removed on drop.
struct Webhook {
    child: Child,
    addr: SocketAddr,
    logs: Arc<Mutex<String>>,
    dir: PathBuf,
    pki: Pki,
    client: Arc<rustls::ClientConfig>,
}

impl Webhook {
    fn start(tag: &str, server_extra: &str, dns_extra: &str) -> Webhook {
        let dir = temp_dir(tag);
        let pki = Pki::new();
        let (cert, key) = pki.server("egress-dns-webhook first");
        std::fs::write(dir.join("tls.crt"), cert).unwrap();
        std::fs::write(dir.join("tls.key"), key).unwrap();
        let cfg = dir.join("webhook.yaml");
        std::fs::write(&cfg, config_yaml(&dir, server_extra, dns_extra)).unwrap();
        let mut child = Command::new(BIN)
            .arg("--config")
            .arg(&cfg)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start egress-dns-webhook");
        let logs = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        let sink = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(a) = line.split("listening on https://").nth(1) {
                    let _ = tx.send(a.trim().to_string());
                }
                let mut l = sink.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(a) => a.parse().unwrap(),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the webhook did not start:\n{}", logs.lock().unwrap());
            }
        };
        let client = pki.client_config();
        Webhook {
            child,
            addr,
            logs,
            dir,
            pki,
            client,
        }
    }

    fn logs(&self) -> String {
        self.logs.lock().unwrap().clone()
    }

    /// Waits until the log contains `needle`.
    fn wait_log(&self, needle: &str) -> String {
        let end = Instant::now() + Duration::from_secs(15);
        loop {
            let l = self.logs();
            if l.contains(needle) {
                return l;
            }
            assert!(Instant::now() < end, "no log line with {needle:?} in:\n{l}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn connect(&self) -> Client {
        Client::connect(self.addr, self.client.clone())
    }

    /// One request on a new connection.
    fn request(&self, method: &str, path: &str, body: &[u8]) -> Response {
        let mut c = self.connect();
        c.send(&request_bytes(method, path, body, &[]));
        c.response()
    }

    /// POSTs an AdmissionReview body and checks the 200 AdmissionReview answer for `uid`.
    fn review(&self, body: &[u8]) -> Value {
        let r = self.request("POST", "/mutate?timeout=10s", body);
        assert_eq!(r.status, 200, "{}\n{}", r.text(), self.logs());
        assert_eq!(r.header("content-type"), Some("application/json"));
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        let sent: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(v["apiVersion"], "admission.k8s.io/v1", "{v}");
        assert_eq!(v["kind"], "AdmissionReview", "{v}");
        assert_eq!(v["response"]["uid"], sent["request"]["uid"], "{v}");
        assert_eq!(v["response"]["allowed"], true, "{v}");
        v
    }
}

impl Drop for Webhook {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn request_bytes(method: &str, path: &str, body: &[u8], headers: &[&str]) -> Vec<u8> {
    let mut out = format!(
        "{method} {path} HTTP/1.1\r\nHost: egress-dns-webhook.egress-dns.svc:443\r\nUser-Agent: kube-apiserver-admission\r\nAccept: application/json, */*\r\n"
    );
    if method == "POST" {
        out.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    for h in headers {
        out.push_str(h);
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    let mut out = out.into_bytes();
    out.extend_from_slice(body);
    out
}

#[derive(Debug)]
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A small HTTPS/1.1 client over rustls (blocking), keeping the connection between requests.
struct Client {
    tls: rustls::StreamOwned<rustls::ClientConnection, TcpStream>,
    buf: Vec<u8>,
}

impl Client {
    fn connect(addr: SocketAddr, cfg: Arc<rustls::ClientConfig>) -> Client {
        let tcp = TcpStream::connect(addr).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let name = ServerName::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST).into());
        let conn = rustls::ClientConnection::new(cfg, name).unwrap();
        Client {
            tls: rustls::StreamOwned::new(conn, tcp),
            buf: Vec::new(),
        }
    }

    /// Writes a request. A server may answer and close before reading a whole body (413 for
    /// an oversized one): a write that fails because the peer closed is then not an error, the
    /// response is read next.
    fn send(&mut self, bytes: &[u8]) {
        let r = self.tls.write_all(bytes).and_then(|_| self.tls.flush());
        match r {
            Ok(()) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
                ) => {}
            Err(e) => panic!("sending the request: {e}"),
        }
    }

    /// Reads more; 0 at the end of the stream (clean or not).
    fn fill(&mut self) -> usize {
        let mut chunk = [0u8; 16384];
        match self.tls.read(&mut chunk) {
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                n
            }
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => 0,
            Err(e) => panic!("read: {e}"),
        }
    }

    fn peer_certificate(&mut self) -> CertificateDer<'static> {
        while self.tls.conn.is_handshaking() {
            self.tls.conn.complete_io(&mut self.tls.sock).unwrap();
        }
        self.tls.conn.peer_certificates().unwrap()[0].clone()
    }

    fn response_inner(&mut self, head_only: bool) -> Response {
        let end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i;
            }
            assert!(self.fill() > 0, "connection closed before a response");
        };
        let head = String::from_utf8(self.buf[..end].to_vec()).unwrap();
        self.buf.drain(..end + 4);
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap();
        assert!(status_line.starts_with("HTTP/1.1 "), "{status_line}");
        let status: u16 = status_line[9..12].parse().unwrap();
        let headers: Vec<(String, String)> = lines
            .map(|l| {
                let (n, v) = l.split_once(':').unwrap();
                (n.trim().to_string(), v.trim().to_string())
            })
            .collect();
        let mut r = Response {
            status,
            headers,
            body: Vec::new(),
        };
        if status == 100 {
            return r;
        }
        let len: usize = r
            .header("content-length")
            .expect("Content-Length")
            .parse()
            .unwrap();
        if !head_only {
            while self.buf.len() < len {
                assert!(self.fill() > 0, "connection closed in the body");
            }
            r.body = self.buf.drain(..len).collect();
        }
        r
    }

    fn response(&mut self) -> Response {
        self.response_inner(false)
    }

    /// Whether the server closed the connection (nothing more to read).
    fn closed(&mut self) -> bool {
        self.buf.is_empty() && self.fill() == 0
    }
}

fn patch_ops(v: &Value) -> Vec<Value> {
    assert_eq!(v["response"]["patchType"], "JSONPatch", "{v}");
    let b64 = v["response"]["patch"].as_str().expect("patch");
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    serde_json::from_slice::<Value>(&raw)
        .unwrap()
        .as_array()
        .expect("a JSONPatch is an array")
        .clone()
}

/// Applies `add`/`replace` operations on `/spec/<field>` as the API server would.
fn apply(pod: &mut Value, ops: &[Value]) {
    for op in ops {
        let path = op["path"].as_str().unwrap();
        let field = path.strip_prefix("/spec/").expect("a /spec/ path");
        let spec = pod["spec"].as_object_mut().unwrap();
        match op["op"].as_str().unwrap() {
            "add" => {}
            "replace" => assert!(spec.contains_key(field), "replace of absent {path}"),
            other => panic!("unexpected op {other}"),
        }
        spec.insert(field.to_string(), op["value"].clone());
    }
}

fn assert_unchanged(v: &Value) {
    let r = &v["response"];
    assert!(r.get("patch").is_none(), "{v}");
    assert!(r.get("patchType").is_none(), "{v}");
}

/// `v` with the member at each JSON pointer set (added when absent), as a request body.
fn with(mut v: Value, edits: &[(&str, Value)]) -> Vec<u8> {
    for (pointer, value) in edits {
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        v.pointer_mut(parent)
            .and_then(Value::as_object_mut)
            .unwrap_or_else(|| panic!("no object at {parent}"))
            .insert(key.to_string(), value.clone());
    }
    serde_json::to_vec(&v).unwrap()
}

#[test]
fn selected_pod_gets_dns_policy_none_and_the_resolver() {
    let wh = Webhook::start("selected", "", "");
    let body = fixture("pod-create.json");
    let v = wh.review(&body);
    let ops = patch_ops(&v);
    assert_eq!(ops.len(), 2, "{ops:?}");
    assert_eq!(
        ops[0],
        json!({"op": "replace", "path": "/spec/dnsPolicy", "value": "None"})
    );
    assert_eq!(ops[1]["op"], "add");
    assert_eq!(ops[1]["path"], "/spec/dnsConfig");
    assert_eq!(
        ops[1]["value"],
        json!({
            "nameservers": ["172.30.53.53", "fd00:53::53"],
            "searches": ["app-frontend.svc.cluster.local", "svc.cluster.local", "cluster.local"],
            "options": [{"name": "ndots", "value": "5"}]
        })
    );
    // The patch applies to the pod and touches nothing else.
    let mut pod = fixture_json("pod-create.json")["request"]["object"].clone();
    let before = pod.clone();
    apply(&mut pod, &ops);
    assert_eq!(pod["spec"]["dnsPolicy"], "None");
    assert_eq!(pod["spec"]["dnsConfig"]["nameservers"][0], "172.30.53.53");
    let mut restored = pod.clone();
    restored["spec"]["dnsPolicy"] = before["spec"]["dnsPolicy"].clone();
    restored["spec"]
        .as_object_mut()
        .unwrap()
        .remove("dnsConfig");
    assert_eq!(restored, before);
    wh.wait_log(
        "uid=6f5b2c1e-9a4d-4a47-8f0e-2b1f3c4d5e01 ns=app-frontend pod=web-7c9d8b6f5d-*: patched: dnsPolicy ClusterFirst -> None",
    );
}

#[test]
fn existing_dns_config_is_merged_and_host_network_pods_are_rewritten() {
    let wh = Webhook::start("merge", "", "");
    let v = wh.review(&fixture("pod-create-dnsconfig.json"));
    let ops = patch_ops(&v);
    assert_eq!(
        ops,
        vec![
            json!({"op": "replace", "path": "/spec/dnsPolicy", "value": "None"}),
            json!({"op": "replace", "path": "/spec/dnsConfig", "value": {
                "nameservers": ["172.30.53.53", "fd00:53::53"],
                "searches": ["shop.svc.cluster.local", "svc.cluster.local", "cluster.local", "corp.example"],
                "options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}]
            }}),
        ]
    );
    wh.wait_log("ns=shop pod=resolver-probe: patched: dnsPolicy ClusterFirstWithHostNet -> None");
}

#[test]
fn other_pods_and_requests_are_allowed_unchanged_with_a_logged_reason() {
    let wh = Webhook::start("unchanged", "", "");
    let pod = fixture_json("pod-create.json");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "namespace not selected",
            with(pod.clone(), &[("/request/namespace", json!("kube-system"))]),
            "ns=kube-system pod=web-7c9d8b6f5d-*: unchanged: namespace `kube-system` is not selected",
        ),
        (
            "namespace excluded",
            with(pod.clone(), &[("/request/namespace", json!("app-system"))]),
            "unchanged: namespace `app-system` is not selected",
        ),
        (
            "labels not matching",
            fixture("pod-create-unlabelled.json"),
            "unchanged: labels do not match the pod selector (egress.f5net.com/dns46=true,tier notin (batch))",
        ),
        (
            "label excluded by NotIn",
            with(
                pod.clone(),
                &[(
                    "/request/object/metadata/labels",
                    json!({"egress.f5net.com/dns46": "true", "tier": "batch"}),
                )],
            ),
            "unchanged: labels do not match the pod selector",
        ),
        (
            "dnsPolicy None already",
            fixture("pod-create-dnspolicy-none.json"),
            "unchanged: dnsPolicy `None` is kept (not in dns.rewritePolicies)",
        ),
        (
            "dnsPolicy Default",
            with(pod.clone(), &[("/request/object/spec/dnsPolicy", json!("Default"))]),
            "unchanged: dnsPolicy `Default` is kept",
        ),
        (
            "not a Pod",
            fixture("service-create.json"),
            "unchanged: kind is `Service`, not `Pod`",
        ),
        (
            "not CREATE",
            fixture("pod-update.json"),
            "pod=web-7c9d8b6f5d-x2m9q: unchanged: operation is `UPDATE`, not `CREATE`",
        ),
        (
            "a subresource",
            with(
                pod.clone(),
                &[("/request/subResource", json!("ephemeralcontainers"))],
            ),
            "unchanged: subresource `ephemeralcontainers`",
        ),
        (
            "wrong AdmissionReview version",
            fixture("pod-create-v1beta1.json"),
            "unchanged: apiVersion is `admission.k8s.io/v1beta1`, not `admission.k8s.io/v1`",
        ),
        (
            "no object",
            with(pod.clone(), &[("/request/object", Value::Null)]),
            "unchanged: `request.object` is missing",
        ),
        (
            "labels of the wrong type",
            with(pod.clone(), &[("/request/object/metadata/labels", json!({"a": 1}))]),
            "unchanged: label `a` is not a string",
        ),
    ];
    for (what, body, reason) in cases {
        let v = wh.review(&body);
        assert_unchanged(&v);
        let uid = v["response"]["uid"].as_str().unwrap();
        let logs = wh.wait_log(reason);
        assert!(
            logs.lines()
                .any(|l| l.contains(&format!("uid={uid} ")) && l.contains(reason)),
            "{what}: no line with uid {uid} and {reason:?}:\n{logs}"
        );
    }
}

#[test]
fn dns_policy_none_is_rewritten_when_configured() {
    let wh = Webhook::start("none", "", "  rewritePolicies: [ClusterFirst, None]\n");
    let v = wh.review(&fixture("pod-create-dnspolicy-none.json"));
    let ops = patch_ops(&v);
    assert_eq!(
        ops,
        vec![
            json!({"op": "replace", "path": "/spec/dnsPolicy", "value": "None"}),
            json!({"op": "replace", "path": "/spec/dnsConfig", "value": {
                "nameservers": ["172.30.53.53", "fd00:53::53"],
                "searches": ["app-frontend.svc.cluster.local", "svc.cluster.local", "cluster.local", "example.org"],
                "options": [{"name": "ndots", "value": "5"}]
            }}),
        ]
    );
    // A pod that already has exactly that is left alone.
    let mut again = fixture_json("pod-create-dnspolicy-none.json");
    again["request"]["object"]["spec"]["dnsConfig"] = ops[1]["value"].clone();
    let v = wh.review(&serde_json::to_vec(&again).unwrap());
    assert_unchanged(&v);
    wh.wait_log("unchanged: dnsPolicy None with the same dnsConfig already");
}

#[test]
fn malformed_bodies() {
    let wh = Webhook::start("malformed", "", "");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("not JSON", fixture("not-json.yaml"), "the body is not JSON"),
        ("empty body", Vec::new(), "the body is not JSON"),
        (
            "truncated JSON",
            fixture("pod-create.json")[..200].to_vec(),
            "the body is not JSON",
        ),
        (
            "no request",
            fixture("no-request.json"),
            "the AdmissionReview has no `request`",
        ),
        (
            "a JSON array",
            b"[1, 2]".to_vec(),
            "the body is not a JSON object",
        ),
        (
            "no uid",
            with(
                fixture_json("pod-create.json"),
                &[("/request/uid", Value::Null)],
            ),
            "`request.uid` is missing",
        ),
    ];
    for (what, body, message) in cases {
        let r = wh.request("POST", "/mutate", &body);
        assert_eq!(r.status, 400, "{what}: {}", r.text());
        assert!(
            r.header("content-type").unwrap().starts_with("text/plain"),
            "{what}"
        );
        assert!(r.text().contains(message), "{what}: {}", r.text());
        wh.wait_log(&format!("400: {message}"));
    }
    // HTTP-level problems: the connection is answered and closed.
    let too_big = vec![b' '; 70_000];
    let r = wh.request("POST", "/mutate", &too_big);
    assert_eq!(r.status, 413, "{}", r.text());
    assert!(r.text().contains("over the limit of 65536"), "{}", r.text());
    for (raw, status) in [
        (&b"POST /mutate HTTP/1.1\r\nHost: x\r\n\r\n"[..], 411),
        (b"NOT HTTP AT ALL\r\n\r\n", 400),
        (
            b"POST /mutate HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
            501,
        ),
    ] {
        let mut c = wh.connect();
        c.send(raw);
        let r = c.response();
        assert_eq!(
            r.status,
            status,
            "{}: {}",
            String::from_utf8_lossy(raw),
            r.text()
        );
        assert_eq!(r.header("connection"), Some("close"));
        assert!(c.closed());
    }
    // A request that stalls gets 408 after the request timeout (2 s here).
    let mut c = wh.connect();
    c.send(b"POST /mutate HTTP/1.1\r\nContent-Length: 100\r\n\r\n{\"kind\":");
    let r = c.response();
    assert_eq!(r.status, 408);
    // Plain HTTP on the TLS port: the handshake fails and is logged; the server goes on.
    let mut plain = TcpStream::connect(wh.addr).unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    plain
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut sink = Vec::new();
    let _ = plain.read_to_end(&mut sink);
    wh.wait_log("TLS handshake failed");
    assert_eq!(wh.request("GET", "/healthz", b"").status, 200);
}

#[test]
fn healthz_routes_and_keep_alive() {
    let wh = Webhook::start("healthz", "", "");
    let r = wh.request("GET", "/healthz", b"");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "ok\n");
    let r = wh.request("POST", "/healthz", b"{}");
    assert_eq!(r.status, 405);
    let r = wh.request("GET", "/mutate", b"");
    assert_eq!(r.status, 405);
    let r = wh.request("GET", "/metrics", b"");
    assert_eq!(r.status, 404);
    assert!(r.text().contains("POST /mutate"), "{}", r.text());
    // Several requests on one connection, as the API server sends them; then an explicit close.
    let mut c = wh.connect();
    let body = fixture("pod-create.json");
    c.send(&request_bytes("HEAD", "/healthz", b"", &[]));
    let r = c.response_inner(true);
    assert_eq!((r.status, r.header("content-length")), (200, Some("3")));
    for _ in 0..3 {
        c.send(&request_bytes("POST", "/mutate?timeout=10s", &body, &[]));
        let r = c.response();
        assert_eq!(r.status, 200);
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(patch_ops(&v).len(), 2);
    }
    // Expect: 100-continue gets the interim answer first.
    let mut head = request_bytes("POST", "/mutate", &body, &["Expect: 100-continue"]);
    let body_start = head.len() - body.len();
    let tail = head.split_off(body_start);
    c.send(&head);
    assert_eq!(c.response().status, 100);
    c.send(&tail);
    assert_eq!(c.response().status, 200);
    c.send(&request_bytes(
        "GET",
        "/healthz",
        b"",
        &["Connection: close"],
    ));
    let r = c.response();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("connection"), Some("close"));
    assert!(c.closed());
}

#[test]
fn renewed_certificate_files_are_picked_up() {
    let wh = Webhook::start("reload", "  certReloadSeconds: 1\n", "");
    let first = wh.connect().peer_certificate();
    let (cert, key) = wh.pki.server("egress-dns-webhook second");
    // Write the key first: the pair does not match and must not be used.
    std::fs::write(wh.dir.join("tls.key"), key).unwrap();
    wh.wait_log("keeping the previous certificate");
    assert_eq!(wh.connect().peer_certificate(), first);
    std::fs::write(wh.dir.join("tls.crt"), cert).unwrap();
    wh.wait_log("certificate files changed: the new certificate is in use");
    let second = wh.connect().peer_certificate();
    assert_ne!(second, first);
    assert_eq!(wh.request("GET", "/healthz", b"").status, 200);
}

#[test]
fn bad_config_or_certificate_exits_2_naming_the_problem() {
    let dir = temp_dir("bad");
    let pki = Pki::new();
    let (cert, key) = pki.server("x");
    let (_, other_key) = pki.server("y");
    std::fs::write(dir.join("tls.crt"), &cert).unwrap();
    std::fs::write(dir.join("tls.key"), &key).unwrap();
    let good = config_yaml(&dir, "", "");
    let cases = [
        (
            good.replace("podSelector:", "podSelectr:"),
            "unknown field `podSelectr`",
        ),
        (
            good.replace("\"fd00:53::53\"", "\"resolver\""),
            "dns.nameservers[1]",
        ),
        (
            good.replace("values: [batch]", "values: []"),
            "select.podSelector.matchExpressions[0].values",
        ),
        (
            good.replace("tls.crt", "missing.crt"),
            "missing.crt: cannot read",
        ),
    ];
    for (i, (text, message)) in cases.iter().enumerate() {
        let cfg = dir.join(format!("bad-{i}.yaml"));
        std::fs::write(&cfg, text).unwrap();
        let out = Command::new(BIN)
            .arg("--config")
            .arg(&cfg)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{message}: {err}");
        assert!(err.contains(message), "{message}: {err}");
    }
    // A key that does not belong to the certificate.
    std::fs::write(dir.join("tls.key"), other_key).unwrap();
    let cfg = dir.join("mismatch.yaml");
    std::fs::write(&cfg, &good).unwrap();
    let out = Command::new(BIN)
        .arg("--config")
        .arg(&cfg)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("tls.key"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every YAML document under docker/webhook and docker/coredns parses; the webhook config and the
/// Corefile embedded in ConfigMaps are the ones the binary and CoreDNS would read.
#[test]
fn manifests_parse() {
    use serde::Deserialize;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docker");
    let mut seen = Vec::new();
    let mut kinds = Vec::new();
    let mut config_maps = Vec::new();
    for sub in ["webhook", "coredns"] {
        let dir = root.join(sub);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
            .collect();
        files.sort();
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap();
            for (i, doc) in serde_norway::Deserializer::from_str(&text).enumerate() {
                let v = serde_norway::Value::deserialize(doc)
                    .unwrap_or_else(|e| panic!("{} document {i}: {e}", f.display()));
                if v.is_null() {
                    continue;
                }
                let field = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
                let kind = field("kind")
                    .unwrap_or_else(|| panic!("{} document {i}: no kind", f.display()));
                assert!(
                    field("apiVersion").is_some(),
                    "{} {kind}: no apiVersion",
                    f.display()
                );
                let name = v
                    .get("metadata")
                    .and_then(|m| m.get("name"))
                    .and_then(|n| n.as_str())
                    .unwrap_or_else(|| panic!("{} {kind}: no metadata.name", f.display()));
                if kind == "ConfigMap" {
                    config_maps.push((f.clone(), name.to_string(), v.clone()));
                }
                kinds.push(kind);
            }
            seen.push(f);
        }
    }
    for k in [
        "MutatingWebhookConfiguration",
        "Deployment",
        "Service",
        "Certificate",
        "Issuer",
        "ConfigMap",
    ] {
        assert!(kinds.iter().any(|x| x == k), "no {k} in {seen:?}");
    }
    // The webhook's ConfigMap holds a config the binary accepts.
    let mut webhook_configs = 0;
    let mut corefiles = 0;
    let corefile = std::fs::read_to_string(root.join("coredns/Corefile")).unwrap();
    for (f, name, v) in &config_maps {
        let data = v.get("data").unwrap_or_else(|| panic!("{name}: no data"));
        if let Some(text) = data.get("config.yaml").and_then(|t| t.as_str()) {
            egress_config::webhook::WebhookConfig::from_yaml_str(text, f)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            webhook_configs += 1;
        }
        if let Some(text) = data.get("Corefile").and_then(|t| t.as_str()) {
            assert_eq!(
                text,
                corefile,
                "{}: the ConfigMap's Corefile differs from docker/coredns/Corefile",
                f.display()
            );
            corefiles += 1;
        }
    }
    assert_eq!((webhook_configs, corefiles), (1, 1), "{seen:?}");
    // The MutatingWebhookConfiguration keeps the settings that make it safe.
    let mwc =
        std::fs::read_to_string(root.join("webhook/mutatingwebhookconfiguration.yaml")).unwrap();
    let v: serde_norway::Value = serde_norway::from_str(&mwc).unwrap();
    let hook = &v["webhooks"][0];
    assert_eq!(hook["failurePolicy"].as_str(), Some("Ignore"));
    assert_eq!(hook["sideEffects"].as_str(), Some("None"));
    assert_eq!(hook["admissionReviewVersions"][0].as_str(), Some("v1"));
    assert!(hook.get("namespaceSelector").is_some());
    assert_eq!(
        hook["clientConfig"]["service"]["path"].as_str(),
        Some(egress_config::webhook::MUTATE_PATH)
    );
}
