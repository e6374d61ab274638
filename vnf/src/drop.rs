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
    /// The hand-off ring to the worker that owns the packet's session was full.
    HandoffRingFull => "handoff_ring_full",
        "the packet belongs to another worker (its NAT port) and that worker's hand-off ring was full";
    // ---- net ----
    /// Shorter than an Ethernet header, or than its 802.1Q tag(s).
    L2Truncated => "l2_truncated",
        "frame shorter than its Ethernet header or 802.1Q tag, or with a tag stack the VNF does not parse";
    /// The (port, 802.1Q tag) pair is not a configured VLAN.
    UnknownVlan => "unknown_vlan",
        "the (port, 802.1Q tag) pair of the frame matches no configured VLAN";
    /// Unicast frame to a MAC address that is not the port's (promiscuous ports see them).
    L2OtherHost => "l2_other_host",
        "unicast frame addressed to another MAC address than the port's";
    /// Not IPv4, IPv6 or ARP.
    UnsupportedEthertype => "unsupported_ethertype",
        "EtherType other than IPv4, IPv6 and ARP";
    /// ARP packet truncated or not Ethernet/IPv4.
    ArpMalformed => "arp_malformed",
        "ARP packet truncated, or not for Ethernet and IPv4";
    /// ARP for an address that is not ours (requests for other hosts, replies to others).
    ArpNotForUs => "arp_not_for_us",
        "ARP packet whose target is not an address of this VNF on that VLAN (answered or learned only for our addresses)";
    /// IPv4 header shorter than 20 bytes, or options past the frame.
    Ipv4Truncated => "ipv4_truncated",
        "IPv4 header truncated (frame shorter than 20 bytes or than IHL*4)";
    /// IPv4 version field is not 4.
    Ipv4BadVersion => "ipv4_bad_version",
        "IPv4 EtherType but the version field is not 4";
    /// IHL < 5.
    Ipv4BadHeaderLen => "ipv4_bad_header_len",
        "IPv4 header length (IHL) below 5 words";
    /// Total length below the header or past the frame.
    Ipv4BadLength => "ipv4_bad_length",
        "IPv4 total length smaller than the header or larger than the frame";
    /// Header checksum does not verify.
    Ipv4BadChecksum => "ipv4_bad_checksum",
        "IPv4 header checksum does not verify";
    /// IPv6 header shorter than 40 bytes.
    Ipv6Truncated => "ipv6_truncated",
        "IPv6 header truncated (frame shorter than 40 bytes after L2)";
    /// IPv6 version field is not 6.
    Ipv6BadVersion => "ipv6_bad_version",
        "IPv6 EtherType but the version field is not 6";
    /// Payload length past the frame.
    Ipv6BadLength => "ipv6_bad_length",
        "IPv6 payload length larger than the frame";
    /// ICMP/ICMPv6 message to us shorter than its type requires, or extension headers that do not parse.
    IcmpTruncated => "icmp_truncated",
        "ICMP/ICMPv6 message for the VNF truncated (or IPv6 extension headers that do not parse)";
    /// ICMP/ICMPv6 checksum of a message to us does not verify.
    IcmpBadChecksum => "icmp_bad_checksum",
        "ICMP/ICMPv6 checksum of a message for the VNF does not verify";
    /// ICMP/ICMPv6 message to us that the VNF does not answer (echo replies, RS/RA, errors).
    IcmpNotHandled => "icmp_not_handled",
        "ICMP/ICMPv6 message for the VNF that it does not answer (echo reply, router solicitation or advertisement, error)";
    /// Neighbor Discovery message failing RFC 4861 section 7.1 validation.
    NdpInvalid => "ndp_invalid",
        "Neighbor Discovery message that fails RFC 4861 7.1 checks (hop limit not 255, code, length, options)";
    /// Neighbor Solicitation for an address that is not ours.
    NdpNotForUs => "ndp_not_for_us",
        "Neighbor Solicitation or Advertisement about an address that is not ours";
    /// Multicast/broadcast destination the VNF neither handles nor routes.
    MulticastDst => "multicast_dst",
        "multicast or broadcast destination that the VNF does not handle (MLD, mDNS, router advertisements ...)";
    /// Source address that is never valid (multicast, broadcast, loopback, unspecified).
    MartianSrc => "martian_src",
        "source address that cannot be a host (multicast, broadcast, loopback or unspecified)";
    /// TTL / hop limit would expire on forwarding.
    TtlExceeded => "ttl_exceeded",
        "TTL or hop limit would reach 0 on forwarding (ICMP Time Exceeded sent unless rate-limited or in reply to an ICMP error)";
    /// No route to the destination.
    NoRoute => "no_route",
        "no connected or static route to the destination";
    /// Larger than the output VLAN's MTU (the VNF does not fragment).
    MtuExceeded => "mtu_exceeded",
        "packet larger than the MTU of the output VLAN (the VNF does not fragment)";
    /// No headroom to add the Ethernet/802.1Q header.
    NoHeadroom => "no_headroom",
        "no room in front of the packet for its Ethernet and 802.1Q headers";
    /// The neighbour's pending queue was full.
    NeighQueueFull => "neigh_queue_full",
        "the next hop is being resolved and its small pending queue was full";
    /// The neighbour did not answer in time.
    NeighTimeout => "neigh_timeout",
        "the next hop did not answer ARP/Neighbor Solicitation in time: the packets waiting for it were dropped";
    /// No free neighbour entry for a new next hop.
    NeighTableFull => "neigh_table_full",
        "no free entry in the neighbour table for a new next hop";
    // ---- nat ----
    /// The IP or transport header of a packet to translate is truncated or inconsistent.
    NatMalformed => "nat_malformed",
        "NAT: the IP or transport header is truncated or its lengths are inconsistent";
    /// A non-first fragment without fragment state: SNAT44/66 fragments, or a NAT46/NAT64
    /// fragment whose first fragment was not seen (out of order, expired, evicted).
    NatFragment => "nat_fragment",
        "NAT: a non-first IP fragment whose datagram has no fragment state (SNAT44/66, or the first fragment was not seen)";
    /// The protocol is not one SNAT translates (TCP, UDP, ICMP/ICMPv6 query and error).
    NatUnsupportedProtocol => "nat_unsupported_protocol",
        "NAT: the transport protocol is not TCP, UDP or ICMP, so no port can be mapped";
    /// ICMP of a type that is neither an echo request/reply nor an error.
    NatIcmpUnsupported => "nat_icmp_unsupported",
        "NAT: an ICMP message that is neither an echo (query) nor an error message";
    /// A packet from a pod that cannot open a session (TCP without SYN, echo reply) and
    /// belongs to none.
    NatNoSession => "nat_no_session",
        "NAT: a pod packet that belongs to no session and cannot open one (TCP without SYN, echo reply)";
    /// An ICMP error about a flow that has no session.
    NatIcmpErrorNoSession => "nat_icmp_error_no_session",
        "NAT: an ICMP error from a pod whose embedded packet matches no session";
    /// An ICMP error whose embedded packet is truncated, malformed or does not match the
    /// outer header.
    NatIcmpErrorMalformed => "nat_icmp_error_malformed",
        "NAT: an ICMP error whose embedded header is truncated, malformed or contradicts the outer header";
    /// No free SNAT port (or ICMP identifier) on the pod's SNAT address in this worker's block.
    NatPortsExhausted => "nat_ports_exhausted",
        "NAT: every SNAT port of the pod's SNAT address (this worker's block) is in use or cooling down";
    /// The pod holds its quota of SNAT ports (`snat.ports_per_pod`).
    NatPodQuota => "nat_pod_quota",
        "NAT: the pod already holds its quota of SNAT ports (snat.ports_per_pod)";
    /// The session table (or the mapping table) of the worker is full.
    NatTableFull => "nat_table_full",
        "NAT: the worker's session table is full (snat.sessions_per_worker)";
    /// No SNAT address of the packet's family (empty pool and no external self IP to automap).
    NatNoAddress => "nat_no_address",
        "NAT: no SNAT address of this IP family (empty pool and no external self IP for automap)";
    /// A pod sent a packet to a SNAT address of this gateway (hairpinning is not supported).
    NatHairpin => "nat_hairpin",
        "NAT: a pod sent a packet to a SNAT address of this gateway (hairpinning is not supported)";
    /// NAT64: an address under the NAT64 prefix has no valid RFC 6052 IPv4 embedding, or a
    /// remote IPv4 address cannot be embedded (RFC 6052 section 3.1, RFC 6146 section 3.5).
    Nat64BadAddress => "nat64_bad_address",
        "NAT64: the IPv4 address embedded under the NAT64 prefix is invalid (u octet set, or a non-global IPv4 with the Well-Known Prefix)";
    /// NAT64: a pod's IPv6 source is itself under the NAT64 prefix (a translation loop).
    Nat64SrcInPrefix => "nat64_src_in_prefix",
        "NAT64: a pod packet whose IPv6 source address lies under the NAT64 prefix (would loop through the translator)";
    /// NAT46: a pod's IPv4 source is itself in the DNS46 subnet.
    Nat46SrcInPool => "nat46_src_in_pool",
        "NAT46: a pod packet whose IPv4 source address lies in the DNS46 subnet (dnsNat46Ipv4Subnet)";
    /// NAT46/NAT64: an inbound TCP packet other than a SYN for a mapping without a session.
    NatXlatUnsolicited => "nat_xlat_unsolicited",
        "NAT64: an inbound TCP packet that is not a SYN reached a mapping that has no session for it (RFC 6146 3.5.2.2 CLOSED state)";
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
    /// A UDP/53 packet that is not a DNS message we can answer (fragment, too short, a response
    /// from a pod, an upstream reply that does not parse).
    DnsMalformed => "dns_malformed",
        "a DNS packet could not be parsed (fragment, shorter than a header, or not a query/response)";
    /// The UDP checksum of a DNS query or reply is wrong.
    DnsBadChecksum => "dns_bad_checksum",
        "the UDP checksum of a DNS query or upstream reply does not verify";
    /// The pod exceeded `dnsRateLimit`.
    DnsRateLimited => "dns_rate_limited",
        "the pod sent more DNS queries per second than dnsRateLimit allows";
    /// An upstream reply matched no outstanding query (server, port, ID and question; RFC 5452).
    DnsSpoofedReply => "dns_spoofed_reply",
        "a DNS reply to a query port matched no outstanding query (server, port, ID or question)";
    /// A DNS packet could not be written or queued (no frame, no room, output full).
    DnsEmitFailed => "dns_emit_failed",
        "a DNS answer or upstream query could not be built or queued (no buffer or no room)";
    // ---- dssm ----
    /// NAT46: dSSM has no mapping for the destination pool address.
    MappingMissing => "mapping_missing",
        "no DNS46 mapping exists for the destination address (dSSM has no dns46:v4 key)";
    /// A mapping was needed but dSSM is down and nothing is cached.
    DssmUnavailable => "dssm_unavailable",
        "a DNS46 mapping was needed but dSSM is unreachable and the worker has none cached";
    /// DNS46: this TMM's slice of the pool has no free address.
    MappingExhausted => "mapping_exhausted",
        "this TMM's slice of the DNS46 pool has no free address left";
    /// The queue of packets waiting for a mapping is full.
    MappingHoldFull => "mapping_hold_full",
        "too many packets already wait for dSSM mapping lookups on this worker";
    /// A packet waited too long for a mapping lookup.
    MappingTimeout => "mapping_timeout",
        "the dSSM mapping lookup a packet waited for did not complete in time";
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
            assert!(r
                .name()
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'));
            assert!(r.description().len() > 10);
        }
        assert_eq!(DropReason::COUNT, DropReason::ALL.len());
    }
}
