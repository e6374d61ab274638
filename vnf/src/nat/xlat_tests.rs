//! NAT46/NAT64 stage tests.
