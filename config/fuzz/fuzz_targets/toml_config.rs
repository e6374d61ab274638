//! The VNF's TOML config parser and validator on arbitrary text. A config that loads must
//! render (`to_toml_string`) to a text that loads again to the same config.
#![no_main]

use egress_config::VnfConfig;
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("fuzz.toml");
    match VnfConfig::from_toml_str(text, path) {
        Ok(cfg) => {
            let again = cfg.to_toml_string();
            match VnfConfig::from_toml_str(&again, path) {
                Ok(back) => assert_eq!(
                    back, cfg,
                    "render/parse round trip changed the config:\n{again}"
                ),
                Err(e) => {
                    panic!("a valid config renders to a text that does not load: {e}\n{again}")
                }
            }
        }
        Err(e) => {
            // Every error names the file.
            let msg = e.to_string();
            assert!(
                msg.contains("fuzz.toml"),
                "error without the file name: {msg}"
            );
        }
    }
});
