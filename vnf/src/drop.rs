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
