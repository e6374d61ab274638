/* The DPDK headers the project binds, and the shim that exports DPDK's static inline functions. */
#ifndef EGRESS_DPDK_SHIM_H
#define EGRESS_DPDK_SHIM_H

#include <stdint.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_launch.h>
#include <rte_cycles.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ethdev.h>
#include <rte_ring.h>
#include <rte_version.h>
#include <rte_lpm.h>
#include <rte_lpm6.h>
#include <rte_pdump.h>

uint16_t egress_shim_rx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n);
uint16_t egress_shim_tx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n);
struct rte_mbuf *egress_shim_pktmbuf_alloc(struct rte_mempool *mp);
int egress_shim_pktmbuf_alloc_bulk(struct rte_mempool *mp, struct rte_mbuf **mbufs, unsigned n);
void egress_shim_pktmbuf_free(struct rte_mbuf *m);
void egress_shim_pktmbuf_free_bulk(struct rte_mbuf **mbufs, unsigned n);
char *egress_shim_pktmbuf_prepend(struct rte_mbuf *m, uint16_t len);
char *egress_shim_pktmbuf_adj(struct rte_mbuf *m, uint16_t len);
char *egress_shim_pktmbuf_append(struct rte_mbuf *m, uint16_t len);
int egress_shim_pktmbuf_trim(struct rte_mbuf *m, uint16_t len);
uint16_t egress_shim_pktmbuf_headroom(const struct rte_mbuf *m);
uint16_t egress_shim_pktmbuf_tailroom(const struct rte_mbuf *m);
void *egress_shim_pktmbuf_mtod(struct rte_mbuf *m);
int egress_shim_pktmbuf_is_contiguous(const struct rte_mbuf *m);
int egress_shim_pktmbuf_linearize(struct rte_mbuf *m);
unsigned egress_shim_lcore_id(void);
unsigned egress_shim_socket_id(void);
uint64_t egress_shim_rdtsc(void);
uint64_t egress_shim_tsc_hz(void);
int egress_shim_errno(void);
unsigned egress_shim_ring_enqueue_burst(struct rte_ring *r, void *const *objs, unsigned n, unsigned *free_space);
unsigned egress_shim_ring_dequeue_burst(struct rte_ring *r, void **objs, unsigned n, unsigned *available);
unsigned egress_shim_ring_count(const struct rte_ring *r);
unsigned egress_shim_mempool_avail_count(const struct rte_mempool *mp);
void egress_shim_prefetch0(const void *p);
void egress_shim_pause(void);
unsigned egress_shim_ring_enqueue_burst_elem(struct rte_ring *r, const void *objs, unsigned esize, unsigned n, unsigned *free_space);
unsigned egress_shim_ring_dequeue_burst_elem(struct rte_ring *r, void *objs, unsigned esize, unsigned n, unsigned *available);
uint64_t egress_shim_get_timer_cycles(void);

#endif
