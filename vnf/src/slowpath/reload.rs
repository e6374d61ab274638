//! `reload`: re-read the config file and apply it without stopping the workers.
//!
//! The new file is parsed and validated first; then it is compared with the config in force.
//! Sections that can change live are `[dns]` (forward zones, cache, rate limit, timeouts) and
//! `[log]`. A change anywhere else (EAL arguments, data-plane resources, control socket, VLANs,
//! routes, SNAT, NAT46/NAT64, SIIT, dSSM) needs a restart: the reload is refused with a message
//! that names the sections, and the old config stays in force. Changing `nat46.ipv4_subnet`
//! would orphan the DNS46 mappings already handed out: `reload force` is then also refused for
//! the other sections, so the message says so explicitly.
//!
//! Workers pick the new settings up at their next housekeeping step (well under a millisecond):
//! each has a [`ReloadSlot`] with a generation number they read once per loop (a relaxed
//! atomic load) and a mutex they only `try_lock` when the generation changed. Sessions, the DNS
//! cache's pending queries and the mappings are kept; the DNS cache is emptied (its answers may
//! come from a zone that changed).

pub use crate::datapath::ReloadSlot;
use egress_config::{LogLevel, VnfConfig};

/// The sections of `new` that differ from `old`, split into live and restart-only.
pub fn diff(old: &VnfConfig, new: &VnfConfig) -> (Vec<&'static str>, Vec<&'static str>) {
    let mut live = Vec::new();
    let mut restart = Vec::new();
    macro_rules! cmp {
        ($list:ident, $($name:literal => $field:ident),* $(,)?) => {
            $( if old.$field != new.$field { $list.push($name); } )*
        };
    }
    cmp!(live, "dns" => dns, "log" => log);
    cmp!(
        restart,
        "eal" => eal, "tmm_index" => tmm_index, "dataplane" => dataplane, "control" => control,
        "vlans" => vlans, "routes" => routes, "snat" => snat, "nat46" => nat46, "nat64" => nat64,
        "siit" => siit, "dssm" => dssm,
    );
    (live, restart)
}

/// Why a reload was refused.
pub fn refusal(old: &VnfConfig, new: &VnfConfig, restart: &[&str]) -> Option<String> {
    if restart.is_empty() {
        return None;
    }
    let mut msg = format!(
        "reload refused: section(s) {} changed and cannot change while running (restart needed); the config in force is unchanged",
        restart.join(", ")
    );
    if old.nat46.ipv4_subnet != new.nat46.ipv4_subnet {
        msg.push_str(
            "; nat46.ipv4_subnet changed: DNS46 mappings already handed out from the old subnet would be orphaned",
        );
    }
    if old.dns.enabled != new.dns.enabled {
        msg.push_str("; dns.enabled changed: turning the DNS gateway on or off needs a restart");
    }
    Some(msg)
}

/// The `log` crate's level for a config level.
pub fn log_filter(l: LogLevel) -> log::LevelFilter {
    match l {
        LogLevel::Error => log::LevelFilter::Error,
        LogLevel::Warn => log::LevelFilter::Warn,
        LogLevel::Info => log::LevelFilter::Info,
        LogLevel::Debug => log::LevelFilter::Debug,
        LogLevel::Trace => log::LevelFilter::Trace,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn cfg(extra: &str) -> VnfConfig {
        VnfConfig::from_toml_str(
            &format!("eal = [\"-l\", \"0-1\"]\n{extra}"),
            Path::new("t.toml"),
        )
        .unwrap()
    }

    #[test]
    fn dns_and_log_are_live_the_rest_needs_a_restart() {
        let old = cfg("[dns]\nenabled = true\nrate_limit = 10\n\n[[dns.forward_zones]]\nzone = \".\"\nservers = [\"192.0.2.53:53\"]\n");
        let new = cfg("[dns]\nenabled = true\nrate_limit = 20\n\n[[dns.forward_zones]]\nzone = \".\"\nservers = [\"192.0.2.53:53\"]\n[log]\nlevel = \"debug\"\n");
        let (live, restart) = diff(&old, &new);
        assert_eq!(live, vec!["dns", "log"]);
        assert!(restart.is_empty());
        assert!(refusal(&old, &new, &restart).is_none());

        let new = cfg("[dns]\nenabled = true\nrate_limit = 10\n\n[[dns.forward_zones]]\nzone = \".\"\nservers = [\"192.0.2.53:53\"]\n[dataplane]\nworkers = 2\n");
        let (live, restart) = diff(&old, &new);
        assert!(live.is_empty());
        assert_eq!(restart, vec!["dataplane"]);
        let msg = refusal(&old, &new, &restart).unwrap();
        assert!(
            msg.contains("dataplane") && msg.contains("restart"),
            "{msg}"
        );
    }

    #[test]
    fn a_new_dns46_subnet_is_refused_with_the_reason() {
        let old = cfg("[nat46]\nenabled = true\nipv4_subnet = \"10.200.0.0/24\"\n");
        let new = cfg("[nat46]\nenabled = true\nipv4_subnet = \"10.201.0.0/24\"\n");
        let (_, restart) = diff(&old, &new);
        let msg = refusal(&old, &new, &restart).unwrap();
        assert!(msg.contains("orphaned"), "{msg}");
    }

    #[test]
    fn the_slot_hands_settings_over_once() {
        let slot = ReloadSlot::default();
        assert_eq!(slot.generation(), 0);
        let s = crate::dns::DnsSettings::from_config(
            &cfg("[dns]\nenabled = true\n\n[[dns.forward_zones]]\nzone = \".\"\nservers = [\"192.0.2.53:53\"]\n"),
            None,
            None,
            (61440, 65535),
        );
        slot.offer(s.clone());
        assert_eq!(slot.generation(), 1);
        assert_eq!(slot.try_take(), Some(Some(s)));
        assert_eq!(slot.try_take(), Some(None));
    }
}
