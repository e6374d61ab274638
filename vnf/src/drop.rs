//! Every reason the data path drops a packet. One enum: it indexes the per-lcore drop counters,
//! feeds `show drops` (with a sentence per reason) and the `egress_drops_total{reason}` metric.
//!
//! This module imports nothing of ours, so every protocol module (`net`, `nat`, `xlat`, `dns`)
//! names its drop reasons here. Each module adds its reasons in its own section below; names are
//! snake_case and stable (they are metric labels).

macro_rules! drop_reasons {
    ($( $(#[$doc:meta])* $variant:ident => $name:literal, $text:literal; )*) => {
        /// Why a packet was dropped.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum DropReason {
            $( $(#[$doc])* $variant, )*
        }

        impl DropReason {
            /// Every reason, in counter order.
            pub const ALL: &'static [DropReason] = &[$(DropReason::$variant),*];
            /// Number of reasons (size of the counter array).
            pub const COUNT: usize = Self::ALL.len();

            /// The metric label / CLI name (snake_case, stable).
            pub const fn name(self) -> &'static str {
                match self { $(DropReason::$variant => $name,)* }
            }

            /// What it means, for `show drops`.
            pub const fn description(self) -> &'static str {
                match self { $(DropReason::$variant => $text,)* }
            }

            /// Counter index.
            #[inline(always)]
            pub const fn index(self) -> usize {
                self as usize
            }
        }
    };
}

drop_reasons! {
    // ---- datapath ----
    /// The packet matched no configured function of the gateway.
    Unclassified => "unclassified",
        "the packet is not for a self IP and matches no egress function (not routed by design)";
    /// Bridge mode: the packet came in on a port that has no peer port.
    NoPeerPort => "no_peer_port",
        "bridge mode: the input port has no peer port to forward to";
    /// The mbuf has several segments and could not be made contiguous.
    Segmented => "segmented",
        "the packet spans several mbuf segments and does not fit in one";
    /// The TX queue was full after a flush.
    TxQueueFull => "tx_queue_full",
        "the output queue was full: the port cannot send as fast as packets arrive";
    // ---- net ----
    // ---- nat ----
    // ---- xlat ----
    /// IPv4/IPv6 header that fails the length/version checks of a translation.
    XlatMalformed => "xlat_malformed",
        "translation: the IP header is truncated or its length fields are inconsistent";
    /// IPv4 header checksum or ICMP checksum does not verify.
    XlatBadChecksum => "xlat_bad_checksum",
        "translation: the IPv4 header checksum or the ICMP checksum of an error message is wrong";
    /// ICMPv4 protocol in IPv6 or ICMPv6 protocol in IPv4.
    XlatBadProtocol => "xlat_bad_protocol",
        "translation: ICMPv6 carried in IPv4 (or ICMPv4 in IPv6) has no translation";
    /// ICMP type/code without a counterpart (RFC 7915 4.2/5.2 "silently drop").
    XlatIcmpUntranslatable => "xlat_icmp_untranslatable",
        "translation: ICMP type or code that RFC 7915 says to drop (no counterpart in the other family)";
    /// ICMP error whose inner packet is truncated or has lying lengths.
    XlatIcmpInnerMalformed => "xlat_icmp_inner_malformed",
        "translation: the packet inside an ICMP error is truncated or its header is inconsistent";
    /// ICMP error that carries an ICMP error.
    XlatIcmpNestedError => "xlat_icmp_nested_error",
        "translation: an ICMP error carrying another ICMP error is never translated";
    /// Fragmented ICMP message (its checksum covers the whole message).
    XlatFragmentedIcmp => "xlat_fragmented_icmp",
        "translation: the first fragment of a fragmented ICMP message cannot get its checksum rewritten";
    /// IPv4 UDP without checksum that cannot be given one (RFC 7915 4.5).
    XlatUdpZeroChecksum => "xlat_udp_zero_checksum",
        "translation: IPv4 UDP without checksum that is fragmented (or computing is off), RFC 7915 4.5";
    /// IPv6 extension header after the Fragment header.
    XlatExtAfterFragment => "xlat_ext_after_fragment",
        "translation: an IPv6 extension header follows the Fragment header";
    /// IPv6 extension header that cannot be translated (AH, too many headers).
    XlatUnsupportedExt => "xlat_unsupported_ext",
        "translation: IPv6 Authentication header or too long an extension-header chain";
    /// Not enough headroom or tailroom to rewrite the headers.
    XlatNoRoom => "xlat_no_room",
        "translation: the frame has no room for the translated headers";
    /// A fragment could not be allocated or queued.
    XlatFragmentFailed => "xlat_fragment_failed",
        "translation: no buffer (or no room in the output queue) for a fragment of a split packet";
    /// An address has no mapping (EAMT, pool6, RFC 6052 validation).
    XlatNoAddressMapping => "xlat_no_address_mapping",
        "translation: the address matches no explicit mapping and no valid RFC 6052 prefix";
    // ---- dns ----
    // ---- dssm ----
}

impl std::fmt::Display for DropReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_snake_case_and_described() {
        let mut seen = std::collections::HashSet::new();
        for (i, r) in DropReason::ALL.iter().enumerate() {
            assert_eq!(r.index(), i);
            assert!(seen.insert(r.name()), "duplicate name {}", r.name());
            assert!(r.name().chars().all(|c| c.is_ascii_lowercase() || c == '_'));
            assert!(r.description().len() > 10);
        }
        assert_eq!(DropReason::COUNT, DropReason::ALL.len());
    }
}
