//! The sidecar's CR reader and renderer on arbitrary YAML. Byte 0: the replica index (0-3) and
//! whether the dSSM environment is set (bit 2). What renders must be a config the VNF loads.
#![no_main]

use egress_config::cr::CrSet;
use egress_config::render::{render, to_toml, DssmEnv, RenderOptions};
use egress_config::VnfConfig;
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let mut set = CrSet::default();
    if set.add_yaml(Path::new("fuzz.yaml"), text).is_err() {
        return;
    }
    let env = if ctl & 4 != 0 {
        DssmEnv::from_lookup(|k| match k {
            "SESSIONDB_EXTERNAL_STORAGE" => Some("true".into()),
            "SESSIONDB_DISCOVERY_SENTINEL" => Some("true".into()),
            "SESSIONDB_EXTERNAL_SERVICE" => Some("dssm-sentinel.example:26379".into()),
            "REDIS_CA_FILE" => Some("/etc/ssl/dssm/ca.crt".into()),
            "REDIS_AUTH_CERT" => Some("/etc/ssl/dssm/client.crt".into()),
            "REDIS_AUTH_KEY" => Some("/etc/ssl/dssm/client.key".into()),
            _ => None,
        })
    } else {
        DssmEnv::default()
    };
    let opts = RenderOptions {
        tmm_index: u32::from(ctl & 3),
        env,
        ..RenderOptions::default()
    };
    if let Ok(cfg) = render(&set, &opts) {
        let out = to_toml(&cfg);
        if let Err(e) = VnfConfig::from_toml_str(&out, Path::new("rendered.toml")) {
            panic!("the sidecar rendered a config the VNF refuses: {e}\n{out}");
        }
    }
});
