//! egress-vnf: the packet logic (pure, testable without DPDK) and the data path that drives it.
