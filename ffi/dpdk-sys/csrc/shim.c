/* Real symbols for DPDK's static inline functions, so Rust can call them. */
#include "shim.h"

uint16_t egress_shim_rx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n)
{ return rte_eth_rx_burst(port, queue, pkts, n); }

uint16_t egress_shim_tx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n)
{ return rte_eth_tx_burst(port, queue, pkts, n); }

struct rte_mbuf *egress_shim_pktmbuf_alloc(struct rte_mempool *mp)
{ return rte_pktmbuf_alloc(mp); }

int egress_shim_pktmbuf_alloc_bulk(struct rte_mempool *mp, struct rte_mbuf **mbufs, unsigned n)
{ return rte_pktmbuf_alloc_bulk(mp, mbufs, n); }

void egress_shim_pktmbuf_free(struct rte_mbuf *m) { rte_pktmbuf_free(m); }

void egress_shim_pktmbuf_free_bulk(struct rte_mbuf **mbufs, unsigned n)
{ rte_pktmbuf_free_bulk(mbufs, n); }

char *egress_shim_pktmbuf_prepend(struct rte_mbuf *m, uint16_t len)
{ return rte_pktmbuf_prepend(m, len); }

char *egress_shim_pktmbuf_adj(struct rte_mbuf *m, uint16_t len) { return rte_pktmbuf_adj(m, len); }

char *egress_shim_pktmbuf_append(struct rte_mbuf *m, uint16_t len)
{ return rte_pktmbuf_append(m, len); }

int egress_shim_pktmbuf_trim(struct rte_mbuf *m, uint16_t len) { return rte_pktmbuf_trim(m, len); }

uint16_t egress_shim_pktmbuf_headroom(const struct rte_mbuf *m) { return rte_pktmbuf_headroom(m); }

uint16_t egress_shim_pktmbuf_tailroom(const struct rte_mbuf *m) { return rte_pktmbuf_tailroom(m); }

void *egress_shim_pktmbuf_mtod(struct rte_mbuf *m) { return rte_pktmbuf_mtod(m, void *); }

int egress_shim_pktmbuf_is_contiguous(const struct rte_mbuf *m) { return rte_pktmbuf_is_contiguous(m); }

int egress_shim_pktmbuf_linearize(struct rte_mbuf *m) { return rte_pktmbuf_linearize(m); }

unsigned egress_shim_lcore_id(void) { return rte_lcore_id(); }

unsigned egress_shim_socket_id(void) { return rte_socket_id(); }

uint64_t egress_shim_rdtsc(void) { return rte_rdtsc(); }

uint64_t egress_shim_tsc_hz(void) { return rte_get_tsc_hz(); }

int egress_shim_errno(void) { return rte_errno; }

unsigned egress_shim_ring_enqueue_burst(struct rte_ring *r, void *const *objs, unsigned n, unsigned *free_space)
{ return rte_ring_enqueue_burst(r, objs, n, free_space); }

unsigned egress_shim_ring_dequeue_burst(struct rte_ring *r, void **objs, unsigned n, unsigned *available)
{ return rte_ring_dequeue_burst(r, objs, n, available); }

unsigned egress_shim_ring_count(const struct rte_ring *r) { return rte_ring_count(r); }

unsigned egress_shim_mempool_avail_count(const struct rte_mempool *mp) { return rte_mempool_avail_count(mp); }

void egress_shim_prefetch0(const void *p) { rte_prefetch0(p); }

void egress_shim_pause(void) { rte_pause(); }

unsigned egress_shim_ring_enqueue_burst_elem(struct rte_ring *r, const void *objs, unsigned esize, unsigned n, unsigned *free_space)
{ return rte_ring_enqueue_burst_elem(r, objs, esize, n, free_space); }

unsigned egress_shim_ring_dequeue_burst_elem(struct rte_ring *r, void *objs, unsigned esize, unsigned n, unsigned *available)
{ return rte_ring_dequeue_burst_elem(r, objs, esize, n, available); }

uint64_t egress_shim_get_timer_cycles(void) { return rte_get_timer_cycles(); }
