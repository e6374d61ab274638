//! Operations (issue 9): `egressctl` against a running VNF. After real traffic (a DNS46 lookup
//! and HTTP through NAT46, NAT64 and SNAT from the pods of `egress_tests::egress`), every
//! command word of CONTRACT §1 is run, its text output checked, and its `--json` output parsed
//! and checked; unknown words get a suggestion; the interactive prompts of `egressctl` and
//! `egress-vnf -i` run the same language.

use egress_tests::egress::*;
use egress_tests::vnf::{release_binary, Vnf};
use egress_tests::{require_root, serial};
use serde_json::Value;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

/// `egressctl --socket S ARGS`: (success, stdout, stderr).
fn ctl_raw(vnf: &Vnf, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(release_binary("egressctl").unwrap())
        .arg("--socket")
        .arg(vnf.control_socket())
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The text output of a command that must succeed.
fn ctl(vnf: &Vnf, cmd: &str) -> String {
    let args: Vec<&str> = cmd.split_whitespace().collect();
    let (ok, out, err) = ctl_raw(vnf, &args);
    assert!(ok, "egressctl {cmd} failed: {err}");
    assert!(!out.trim().is_empty(), "egressctl {cmd}: empty output");
    out
}

/// The `--json` output of a command, parsed (both spellings: the flag first, the suffix last).
fn ctl_json(vnf: &Vnf, cmd: &str) -> Value {
    let mut args = vec!["--json"];
    args.extend(cmd.split_whitespace());
    let (ok, out, err) = ctl_raw(vnf, &args);
    assert!(ok, "egressctl --json {cmd} failed: {err}");
    let v: Value = serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("egressctl --json {cmd}: not JSON ({e}): {out}"));
    let mut args: Vec<&str> = cmd.split_whitespace().collect();
    args.push("--json");
    let (ok, out2, _) = ctl_raw(vnf, &args);
    assert!(ok);
    let v2: Value = serde_json::from_str(&out2).unwrap();
    assert_eq!(
        std::mem::discriminant(&v),
        std::mem::discriminant(&v2),
        "{cmd}: `--json` first and last give the same shape"
    );
    v
}

/// The first data row of a text table whose first column is `key`.
fn row<'a>(text: &'a str, key: &str) -> Option<Vec<&'a str>> {
    text.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|w| w.first() == Some(&key))
}

/// DNS46 lookups (the static mapping of `v6only`, a new mapping for `v6two`), then HTTP
/// through NAT46 (by name), NAT64 and SNAT44.
fn traffic(topo: &EgressTopology) {
    let a = dig_short(&topo.pod4, POD4_RESOLVER, &fqdn("v6only"), "A").unwrap();
    assert!(
        a.contains(&NAT46_STATIC_V4.to_string()),
        "static DNS46 answer: {a:?}"
    );
    let a = dig_short(&topo.pod4, POD4_RESOLVER, &fqdn("v6two"), "A").unwrap();
    assert!(
        a.iter().any(|l| l.starts_with("10.250.1.")),
        "DNS46 answer from the pool: {a:?}"
    );
    let (ok, out) = curl(&topo.pod4, &["-4", &format!("http://{}/", fqdn("v6only"))]).unwrap();
    assert!(ok, "NAT46 by name: {out}");
    let (ok, out) = curl(
        &topo.pod6,
        &["-6", &format!("http://[{}]/", nat64_addr(SERVER_V4))],
    )
    .unwrap();
    assert!(ok, "NAT64: {out}");
    let (ok, out) = curl(&topo.pod4, &["-4", &format!("http://{SERVER_V4}/")]).unwrap();
    assert!(ok, "SNAT44: {out}");
}

#[test]
fn every_command_answers_in_text_and_json_after_traffic() {
    require_root();
    let _s = serial();
    let topo = EgressTopology::new(TopologyOptions::default()).unwrap();
    let vnf = topo.start_vnf("ops-cli", &Features::default()).unwrap();
    traffic(&topo);
    // Feature counters are republished every 500 ms.
    std::thread::sleep(Duration::from_millis(1200));

    // show port info
    let t = ctl(&vnf, "show port info all");
    for p in ["1.1", "1.2", "1.3"] {
        let r = row(&t, p).unwrap_or_else(|| panic!("port {p} in:\n{t}"));
        assert!(r.contains(&"up"), "port {p} link up: {r:?}");
    }
    assert!(t.contains("net_af_packet"), "{t}");
    let j = ctl_json(&vnf, "show port info all");
    assert_eq!(j.as_array().map(Vec::len), Some(3), "{j}");
    let j = ctl_json(&vnf, "show port info 1.2");
    assert_eq!(j[0]["port"], "1.2", "{j}");
    assert_eq!(j.as_array().map(Vec::len), Some(1));

    // show port stats / clear port stats
    let t = ctl(&vnf, "show port stats all");
    let rx: u64 = row(&t, "1.1").unwrap()[1].parse().unwrap();
    assert!(rx > 0, "port 1.1 received the pod's packets:\n{t}");
    let j = ctl_json(&vnf, "show port stats all");
    assert!(j[0]["rx_packets"].as_u64().unwrap() > 0, "{j}");
    assert!(ctl(&vnf, "clear port stats 1.1").contains("cleared"));
    // A software PMD's reset races with its receiving lcore's counter update (DPDK's
    // stats_reset is not atomic against rx_burst): a reset that was undone is sent again.
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    let mut j = ctl_json(&vnf, "show port stats 1.1");
    while j[0]["rx_packets"].as_u64().unwrap() >= rx && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
        assert!(ctl(&vnf, "clear port stats 1.1").contains("cleared"));
        j = ctl_json(&vnf, "show port stats 1.1");
    }
    assert!(
        j[0]["rx_packets"].as_u64().unwrap() < rx,
        "cleared counters restart from 0: {j} (was {rx})"
    );
    let (ok, _, err) = ctl_raw(&vnf, &["show", "port", "stats", "9.9"]);
    assert!(!ok && err.contains("port"), "{err}");

    // show lcores
    let t = ctl(&vnf, "show lcores");
    assert!(t.contains("busy") && t.contains("main lcore"), "{t}");
    let j = ctl_json(&vnf, "show lcores");
    assert_eq!(j.as_array().map(Vec::len), Some(1), "one worker: {j}");
    assert!(j[0]["rx_packets"].as_u64().unwrap() > 0, "{j}");

    // show vlan / route / neigh
    let t = ctl(&vnf, "show vlan");
    for v in ["pods4", "outside", "pods6"] {
        assert!(row(&t, v).is_some(), "vlan {v}:\n{t}");
    }
    assert!(t.contains(EXT_SELF_V4) && t.contains(INT_SELF_V6), "{t}");
    let j = ctl_json(&vnf, "show vlan");
    assert_eq!(j.as_array().map(Vec::len), Some(3));
    let t = ctl(&vnf, "show route");
    assert!(
        t.contains("10.1.0.0/24") && t.contains("2001:db8::/64"),
        "{t}"
    );
    assert!(ctl_json(&vnf, "show route").as_array().unwrap().len() >= 4);
    let t = ctl(&vnf, "show neigh");
    assert!(t.contains(POD4_V4) && t.contains(SERVER_V4), "{t}");
    let j = ctl_json(&vnf, "show neigh");
    assert!(j["neighbours"]
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n["address"] == POD4_V4 && n["state"] != "incomplete"));

    // show config
    let t = ctl(&vnf, "show config");
    assert!(t.contains("[dataplane]") && t.contains("pods4"), "{t}");
    let j = ctl_json(&vnf, "show config");
    assert_eq!(j["dataplane"]["mode"], "egress", "{j}");

    // show vs stats
    let t = ctl(&vnf, "show vs stats");
    for vs in [
        "egress-ipv4",
        "egress-ipv6",
        "egress-dns-ipv4",
        "egress-dns-ipv6",
        "egress-ipv4-nat46",
        "egress-ipv6-nat64",
    ] {
        assert!(row(&t, vs).is_some(), "{vs}:\n{t}");
    }
    let j = ctl_json(&vnf, "show vs stats");
    let vs = |name: &str, field: &str| -> u64 {
        j.as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .and_then(|r| r[field].as_u64())
            .unwrap_or_else(|| panic!("{name}.{field} in {j}"))
    };
    assert!(vs("egress-ipv4", "clientside.tot_conns") >= 1);
    assert!(vs("egress-ipv4-nat46", "clientside.tot_conns") >= 1);
    assert!(vs("egress-ipv6-nat64", "clientside.tot_conns") >= 1);
    assert!(vs("egress-ipv6-nat64", "clientside.pkts_in") >= 3);
    assert!(vs("egress-dns-ipv4", "clientside.tot_conns") >= 1);
    assert!(vs("egress-dns-ipv4", "serverside.tot_conns") >= 1);

    // show sessions [limit N]
    let t = ctl(&vnf, "show sessions");
    for kind in ["snat44", "nat46", "nat64"] {
        assert!(
            t.lines().any(|l| l.split_whitespace().nth(1) == Some(kind)),
            "a {kind} session:\n{t}"
        );
    }
    assert!(t.contains(&format!("{POD4_V4}:")), "{t}");
    assert!(t.contains(&format!("[{SERVER_V6}]:80")), "{t}");
    let j = ctl_json(&vnf, "show sessions");
    let total = j["total"].as_u64().unwrap();
    assert!(total >= 3, "{j}");
    assert_eq!(j["sessions"].as_array().unwrap().len() as u64, total);
    let s = &j["sessions"][0];
    assert!(s["inside"].is_string() && s["outside_port"].is_u64(), "{s}");
    let j = ctl_json(&vnf, "show sessions limit 1");
    assert_eq!(j["sessions"].as_array().unwrap().len(), 1, "{j}");
    assert_eq!(j["total"].as_u64(), Some(total));
    assert!(ctl(&vnf, "show sessions limit 1").contains(&format!("1 of {total} sessions")));
    let (ok, _, err) = ctl_raw(&vnf, &["show", "sessions", "limit", "x"]);
    assert!(!ok && err.contains("limit"), "{err}");

    // show dns cache
    let t = ctl(&vnf, "show dns cache");
    let name = format!("{}.", fqdn("v6two"));
    assert!(
        t.lines()
            .any(|l| l.split_whitespace().nth(1) == Some(name.as_str())),
        "an answer for {name} is cached:\n{t}"
    );
    let j = ctl_json(&vnf, "show dns cache");
    assert!(
        j["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["name"] == name.as_str() && e["ttl_left"].as_u64().unwrap() <= 300),
        "{j}"
    );

    // show dns46 mappings: the static pair and the one learned for v6two
    let t = ctl(&vnf, "show dns46 mappings");
    let pair = |v6: &str| -> Option<(String, String)> {
        row(&t, v6).map(|w| (w[1].to_string(), w[2].to_string()))
    };
    assert_eq!(
        pair(SERVER_V6),
        Some((NAT46_STATIC_V4.to_string(), "static".to_string())),
        "the static mapping:\n{t}"
    );
    let (v4, kind) = pair(SERVER_V6_TWO).unwrap_or_else(|| panic!("v6two's mapping:\n{t}"));
    assert!(v4.starts_with("10.250.1.") && kind == "learned", "{t}");
    assert!(t.contains("mapping service: in-process"), "{t}");
    let j = ctl_json(&vnf, "show dns46 mappings");
    assert!(j["mappings"].as_array().unwrap().len() >= 2, "{j}");
    // v6two's pair was created by the in-process allocator and answered synthesized.
    assert!(j["created"].as_u64().is_some_and(|n| n >= 1), "{j}");
    assert!(j["synthesized46"].as_u64().is_some_and(|n| n >= 1), "{j}");
    assert!(t.contains("synthesized"), "{t}");

    // show drops: every reason, each explained in words
    let t = ctl(&vnf, "show drops");
    let j = ctl_json(&vnf, "show drops");
    let reasons = j.as_object().unwrap();
    assert!(reasons.len() > 10, "{j}");
    for (name, v) in reasons {
        let meaning = v["meaning"].as_str().unwrap();
        assert!(
            meaning.split_whitespace().count() >= 3,
            "{name}: a meaning in words: {meaning:?}"
        );
        assert!(v["packets"].is_u64());
        assert!(row(&t, name).is_some(), "{name} in the text table");
    }

    // reload, help, quit, unknown words
    assert!(ctl(&vnf, "reload").contains("no change"));
    let t = ctl(&vnf, "help");
    for w in [
        "show sessions",
        "show dns cache",
        "show dns46 mappings",
        "quit",
    ] {
        assert!(t.contains(w), "help lists {w}");
    }
    let (ok, _, err) = ctl_raw(&vnf, &["quit"]);
    assert!(!ok && err.contains("interactive"), "{err}");
    let (ok, _, err) = ctl_raw(&vnf, &["show", "sesions"]);
    assert!(!ok, "unknown command fails");
    assert!(err.contains("did you mean `show sessions`"), "{err}");
    let (ok, _, err) = ctl_raw(&vnf, &["shwo", "vs", "stats"]);
    assert!(!ok && err.contains("did you mean `show vs stats`"), "{err}");
    let (ok, _, err) = ctl_raw(&vnf, &["frobnicate"]);
    assert!(!ok && err.contains("help"), "{err}");

    // egressctl without a command: the interactive prompt, fed from a pipe.
    let mut child = Command::new(release_binary("egressctl").unwrap())
        .arg("--socket")
        .arg(vnf.control_socket())
        .env("EGRESSCTL_HISTORY", topo.dir().join("history"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"show vlan\nshow vs stats --json\nshow sesions\nquit\nshow drops\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.matches("egress> ").count(), 4, "{stdout}");
    assert!(stdout.contains("pods4"), "{stdout}");
    assert!(stdout.contains("\"clientside.tot_conns\""), "{stdout}");
    assert!(stdout.contains("did you mean `show sessions`"), "{stdout}");
    assert!(
        !stdout.contains("meaning"),
        "nothing runs after quit: {stdout}"
    );
    let history = std::fs::read_to_string(topo.dir().join("history")).unwrap();
    assert!(history.contains("show vlan"), "history saved: {history}");

    // `egressctl --json` without a command: every reply of the prompt is JSON.
    let mut child = Command::new(release_binary("egressctl").unwrap())
        .arg("--socket")
        .arg(vnf.control_socket())
        .arg("--json")
        .env("EGRESSCTL_HISTORY", topo.dir().join("history"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(
            b"show vlan
",
        )
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let body = stdout
        .trim()
        .trim_start_matches("egress> ")
        .trim_end_matches("egress>");
    let j: Value = serde_json::from_str(body.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    assert_eq!(j[0]["name"], "pods4", "{j}");

    vnf.stop().unwrap();
}

#[test]
fn egress_vnf_interactive_prompt_runs_commands_and_quits() {
    require_root();
    let _s = serial();
    let topo = EgressTopology::new(TopologyOptions {
        dns_server: false,
        ..Default::default()
    })
    .unwrap();
    let input = topo.dir().join("prompt-input");
    // The prompt starts after forwarding; `quit` stops the VNF like SIGINT.
    std::fs::write(
        &input,
        "show vlan\nshow drops --json\nshow sesions\nshow sessions\nquit\n",
    )
    .unwrap();
    let f = Features {
        dns: false,
        ..Features::default()
    };
    let mut vnf = topo
        .vnf_builder("ops-prompt", &f)
        .cli_arg("-i")
        .stdin_file(&input)
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while vnf.check_running().is_ok() {
        assert!(
            std::time::Instant::now() < deadline,
            "`quit` did not stop the VNF:\n{}",
            vnf.stdout()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = vnf.stdout();
    assert!(out.matches("egress> ").count() >= 5, "{out}");
    assert!(out.contains("pods4"), "{out}");
    assert!(out.contains("\"meaning\""), "{out}");
    assert!(out.contains("did you mean `show sessions`"), "{out}");
    assert!(out.contains("0 of 0 sessions shown"), "{out}");
    assert!(out.contains("---- final statistics ----"), "{out}");
    // Exit status 0, as after SIGINT.
    vnf.stop().unwrap();
}
