//! The dSSM thread: drains the workers' request rings, runs the Redis operations pipelined and
//! answers on the workers' result rings.
//!
//! One thread, one current-thread tokio runtime, one in-flight batch (up to `BATCH` requests in
//! one pipeline, one `WAIT` per batch). While dSSM is unreachable every request is answered
//! `Unavailable` at once (workers keep their cached mappings and fail new DNS46 answers with
//! SERVFAIL) and the connection is retried with back-off (100 ms doubling to 1 s), discovering
//! the master again each time; a `+switch-master` from Sentinel naming another master than the
//! one in use, a command error saying the
//! server is no longer a writable master, or a failed idle `PING` also reconnects. Each
//! connectivity change is announced to every worker ([`MappingResult::status`]).
//!
//! Creations (`Create6`) allocate from this TMM's slice ([`SliceAllocator`]), rebuilt from the
//! `dns46:v4:*` keys after each (re)connection before any creation is attempted.

use super::alloc::SliceAllocator;
use super::conn::{self, load_tls, TlsMaterial};
use super::settings::DssmSettings;
use super::stats::{DssmSnapshot, DssmStats, Op, OpResult};
use super::store::{BatchAnswer, BatchOp, CreateOutcome, Store};
use super::{install_crypto_provider, DssmError};
use crate::mapping::{MapOp, MapStatus, MappingRequest, MappingResult};
use std::collections::{HashMap, VecDeque};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Requests per pipelined batch.
pub const BATCH: usize = 4096;
/// Results kept per worker while its result ring is full.
const BACKLOG: usize = 8192;
/// Idle time after which the connection is checked with `PING`.
const PING_EVERY: Duration = Duration::from_secs(1);
/// Back-off bounds while dSSM is down.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(1);
/// How long the loop keeps polling the rings without sleeping after the last request.
const BUSY_POLL: Duration = Duration::from_millis(5);
/// Rounds of allocation retries when a proposed address is taken.
const CREATE_ROUNDS: usize = 4;

/// One worker's pair of rings, seen from the slow path.
pub trait WorkerLink: Send + 'static {
    /// Moves up to `max` requests into `out`.
    fn recv(&mut self, out: &mut Vec<MappingRequest>, max: usize);
    /// Sends results; returns how many were taken (the rest is retried later).
    fn send(&mut self, results: &[MappingResult]) -> usize;
}

/// The DPDK rings of one worker.
pub struct RingLink {
    pub requests: Arc<rte::Ring<MappingRequest>>,
    pub results: Arc<rte::Ring<MappingResult>>,
}

impl WorkerLink for RingLink {
    fn recv(&mut self, out: &mut Vec<MappingRequest>, max: usize) {
        for _ in 0..max {
            match self.requests.dequeue() {
                Some(r) => out.push(r),
                None => break,
            }
        }
    }
    fn send(&mut self, results: &[MappingResult]) -> usize {
        self.results.enqueue_burst(results)
    }
}

#[derive(Debug, Default)]
struct MemQueues {
    requests: VecDeque<MappingRequest>,
    results: VecDeque<MappingResult>,
}

/// An in-memory pair of bounded queues standing in for the rings (tests, benchmarks, and tools
/// without DPDK). Clone it: one copy goes to [`start`], the other plays the worker.
#[derive(Debug, Clone)]
pub struct MemLink {
    q: Arc<Mutex<MemQueues>>,
    cap: usize,
}

impl MemLink {
    /// Queues of `cap` entries each way.
    pub fn new(cap: usize) -> MemLink {
        MemLink {
            q: Arc::new(Mutex::new(MemQueues::default())),
            cap,
        }
    }
    /// Worker side: sends requests; returns how many fit.
    pub fn request(&self, reqs: &[MappingRequest]) -> usize {
        let mut q = self.q.lock().unwrap_or_else(|e| e.into_inner());
        let n = reqs.len().min(self.cap.saturating_sub(q.requests.len()));
        q.requests.extend(reqs[..n].iter().copied());
        n
    }
    /// Worker side: takes every result that arrived.
    pub fn results(&self, out: &mut Vec<MappingResult>) {
        let mut q = self.q.lock().unwrap_or_else(|e| e.into_inner());
        out.extend(q.results.drain(..));
    }
}

impl WorkerLink for MemLink {
    fn recv(&mut self, out: &mut Vec<MappingRequest>, max: usize) {
        let mut q = self.q.lock().unwrap_or_else(|e| e.into_inner());
        let n = max.min(q.requests.len());
        out.extend(q.requests.drain(..n));
    }
    fn send(&mut self, results: &[MappingResult]) -> usize {
        let mut q = self.q.lock().unwrap_or_else(|e| e.into_inner());
        let n = results.len().min(self.cap.saturating_sub(q.results.len()));
        q.results.extend(results[..n].iter().copied());
        n
    }
}

/// The running dSSM client. Dropping it stops the thread.
pub struct DssmHandle {
    stats: Arc<DssmStats>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl DssmHandle {
    /// The metrics now.
    pub fn snapshot(&self) -> DssmSnapshot {
        self.stats.snapshot()
    }
    /// The live counters (for a metrics publisher that keeps them).
    pub fn stats(&self) -> Arc<DssmStats> {
        self.stats.clone()
    }
    /// Whether the client is connected to a confirmed master.
    pub fn is_up(&self) -> bool {
        self.stats.is_up()
    }
    /// Stops the thread and waits for it.
    pub fn stop(mut self) {
        self.shutdown();
    }
    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for DssmHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Starts the dSSM client thread.
///
/// - `settings`: [`DssmSettings::from_config_and_env`] of the VNF config's `[dssm]` section;
///   checked here (a missing TLS file or plaintext without `insecure` is an error now).
/// - `slice`: this TMM's DNS46 slice ([`SliceAllocator::from_config`]); None = this replica
///   never creates mappings (`Create6` answers the existing mapping or `Exhausted`).
/// - `links`: worker i's rings at index i.
pub fn start(
    settings: DssmSettings,
    slice: Option<SliceAllocator>,
    links: Vec<Box<dyn WorkerLink>>,
) -> Result<DssmHandle, DssmError> {
    install_crypto_provider();
    settings.validate()?;
    let tls = load_tls(&settings)?;
    let stats = Arc::new(DssmStats::default());
    let stop = Arc::new(AtomicBool::new(false));
    let svc = Service {
        backlog: links.iter().map(|_| VecDeque::new()).collect(),
        links,
        settings,
        tls,
        alloc: slice,
        alloc_ready: false,
        stats: stats.clone(),
        stop: stop.clone(),
        switch: conn::Announced::default(),
        up: false,
    };
    let thread = std::thread::Builder::new()
        .name("dssm".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    log::error!("dSSM: cannot start the runtime: {e}");
                    return;
                }
            };
            rt.block_on(svc.run());
        })
        .map_err(|e| DssmError::Settings(format!("cannot start the dSSM thread: {e}")))?;
    Ok(DssmHandle {
        stats,
        stop,
        thread: Some(thread),
    })
}

/// Starts the client from the VNF config (settings from `[dssm]` and the environment, slice
/// from `[nat46]` and `tmm_index`); None when dSSM is not enabled.
pub fn start_from_config(
    cfg: &egress_config::VnfConfig,
    links: Vec<Box<dyn WorkerLink>>,
) -> Result<Option<DssmHandle>, DssmError> {
    let settings = DssmSettings::from_config_and_env(&cfg.dssm)?;
    if !settings.enabled {
        return Ok(None);
    }
    let slice = if cfg.nat46.enabled {
        SliceAllocator::from_config(&cfg.nat46, cfg.tmm_index)
    } else {
        None
    };
    start(settings, slice, links).map(Some)
}

struct Service {
    settings: DssmSettings,
    tls: TlsMaterial,
    links: Vec<Box<dyn WorkerLink>>,
    backlog: Vec<VecDeque<MappingResult>>,
    alloc: Option<SliceAllocator>,
    alloc_ready: bool,
    stats: Arc<DssmStats>,
    stop: Arc<AtomicBool>,
    /// The master the last `+switch-master` announced (taken by the loop).
    switch: conn::Announced,
    up: bool,
}

/// A request and the link it came from.
type Tagged = (usize, MappingRequest);

fn op_of(r: &MappingRequest) -> Op {
    match r.op {
        MapOp::Lookup4 => Op::Lookup4,
        MapOp::Lookup6 => Op::Lookup6,
        _ => Op::Create,
    }
}

impl Service {
    async fn run(mut self) {
        let mut store: Option<Store> = None;
        let mut connecting: Option<tokio::task::JoinHandle<Result<conn::Connection, DssmError>>> =
            None;
        let mut backoff = BACKOFF_MIN;
        let mut next_try = Instant::now();
        let mut last_master: Option<(String, u16)> = None;
        let mut failures: u64 = 0;
        let mut last_activity = Instant::now();
        let mut reqs: Vec<MappingRequest> = Vec::with_capacity(BATCH);
        let mut tagged: Vec<Tagged> = Vec::with_capacity(BATCH);
        let mut busy_since = Instant::now();
        let mut watch = None;
        if self.settings.sentinel {
            watch = Some(tokio::spawn(conn::watch_switch_master(
                self.settings.clone(),
                self.tls.clone(),
                self.switch.clone(),
                self.stop.clone(),
            )));
        }
        self.announce(false);

        while !self.stop.load(Ordering::Relaxed) {
            // ---- connection management ----
            if store.is_none() {
                if connecting.as_ref().is_some_and(|h| h.is_finished()) {
                    let h = connecting.take().expect("checked");
                    match h.await {
                        Ok(Ok(c)) => {
                            let via = c
                                .via
                                .as_ref()
                                .map(|(h, p)| format!(" (named by Sentinel {h}:{p})"))
                                .unwrap_or_default();
                            log::info!(
                                "dSSM: connected to master {}:{}{via}",
                                c.master.0,
                                c.master.1
                            );
                            if let Some(prev) = &last_master {
                                self.stats.reconnected();
                                if *prev != c.master {
                                    self.stats.failover();
                                    log::warn!(
                                        "dSSM: master moved from {}:{} to {}:{}",
                                        prev.0,
                                        prev.1,
                                        c.master.0,
                                        c.master.1
                                    );
                                }
                            }
                            last_master = Some(c.master.clone());
                            store = Some(Store::new(
                                c.con,
                                self.settings.wait_replicas,
                                self.settings.wait_timeout_ms,
                            ));
                            self.alloc_ready = false;
                            backoff = BACKOFF_MIN;
                            failures = 0;
                            last_activity = Instant::now();
                        }
                        Ok(Err(e)) => {
                            failures += 1;
                            if failures == 1 || failures.is_power_of_two() {
                                log::warn!("dSSM down (attempt {failures}): {e}");
                            }
                            next_try = Instant::now() + backoff;
                            backoff = (backoff * 2).min(BACKOFF_MAX);
                        }
                        Err(e) => {
                            log::error!("dSSM: connection task failed: {e}");
                            next_try = Instant::now() + backoff;
                        }
                    }
                } else if connecting.is_none() && Instant::now() >= next_try {
                    let (s, t) = (self.settings.clone(), self.tls.clone());
                    connecting = Some(tokio::spawn(async move { conn::connect(&s, &t).await }));
                }
            }
            let announced = if store.is_some() {
                self.switch.lock().unwrap_or_else(|e| e.into_inner()).take()
            } else {
                None
            };
            // A `+switch-master` to the master we already use (we found it by asking the
            // Sentinel as soon as it named it, before the failover ended) changes nothing.
            if announced.is_some() && announced != last_master {
                log::warn!("dSSM: +switch-master: discovering the master again");
                store = None;
                self.announce(false);
                next_try = Instant::now();
                continue;
            }
            if let Some(st) = store.as_mut() {
                if !self.alloc_ready {
                    match self.rebuild(st).await {
                        Ok(()) => {
                            self.alloc_ready = true;
                            self.announce(true);
                        }
                        Err(e) => {
                            log::warn!("dSSM: rebuilding the DNS46 slice failed: {e}");
                            store = None;
                            self.announce(false);
                            next_try = Instant::now() + backoff;
                            continue;
                        }
                    }
                } else if last_activity.elapsed() >= PING_EVERY {
                    last_activity = Instant::now();
                    if let Err(e) = st.ping().await {
                        log::warn!("dSSM: lost the master: {e}");
                        store = None;
                        self.announce(false);
                        next_try = Instant::now();
                        continue;
                    }
                }
            }

            // ---- requests ----
            self.flush_backlog();
            tagged.clear();
            let per_link = (BATCH / self.links.len().max(1)).max(1);
            for (i, l) in self.links.iter_mut().enumerate() {
                reqs.clear();
                l.recv(&mut reqs, per_link);
                tagged.extend(reqs.iter().map(|r| (i, *r)));
            }
            if tagged.is_empty() {
                // Poll busily for a moment after traffic (low latency under load), then
                // sleep 1 ms at a time (no CPU while idle).
                if busy_since.elapsed() < BUSY_POLL {
                    tokio::task::yield_now().await;
                } else {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                continue;
            }
            busy_since = Instant::now();
            last_activity = Instant::now();
            let t0 = Instant::now();
            let results = match store.as_mut() {
                Some(st) if self.alloc_ready => match self.execute(st, &tagged).await {
                    Ok(r) => r,
                    Err(e) => {
                        log::warn!("dSSM: lost the master: {e}");
                        store = None;
                        self.announce(false);
                        next_try = Instant::now();
                        self.unavailable(&tagged, OpResult::Error)
                    }
                },
                _ => self.unavailable(&tagged, OpResult::Unavailable),
            };
            let ops = tagged
                .iter()
                .filter(|(_, r)| !matches!(r.op, MapOp::Status))
                .map(|(_, r)| op_of(r));
            self.stats.observe_batch(t0.elapsed(), ops);
            for (link, r) in results {
                self.push(link, r);
            }
            self.flush_backlog();
        }
        if let Some(w) = watch {
            w.abort();
        }
        if let Some(c) = connecting {
            c.abort();
        }
    }

    fn announce(&mut self, up: bool) {
        if self.up == up && up {
            return;
        }
        self.up = up;
        self.stats.set_up(up);
        for i in 0..self.links.len() {
            self.push(i, MappingResult::status(i as u16, up));
        }
    }

    fn push(&mut self, link: usize, r: MappingResult) {
        if let Some(q) = self.backlog.get_mut(link) {
            if q.len() >= BACKLOG {
                self.stats.result_ring_full(1);
                return;
            }
            q.push_back(r);
        }
    }

    fn flush_backlog(&mut self) {
        for (i, q) in self.backlog.iter_mut().enumerate() {
            while !q.is_empty() {
                let (a, _) = q.as_slices();
                let len = a.len();
                let n = self.links[i].send(a);
                q.drain(..n);
                if n < len || n == 0 {
                    break;
                }
            }
        }
    }

    fn unavailable(&self, reqs: &[Tagged], res: OpResult) -> Vec<(usize, MappingResult)> {
        reqs.iter()
            .map(|(l, r)| {
                self.stats.count(op_of(r), res);
                (*l, MappingResult::answer(r, MapStatus::Unavailable, None))
            })
            .collect()
    }

    async fn rebuild(&mut self, st: &mut Store) -> Result<(), DssmError> {
        let Some(alloc) = self.alloc.as_mut() else {
            return Ok(());
        };
        let mapped = st.mapped_v4().await?;
        alloc.clear();
        for a in &mapped {
            alloc.mark_used(*a);
        }
        self.stats.count(Op::Scan, OpResult::Ok);
        let (f, l) = alloc.range();
        log::info!(
            "dSSM: DNS46 slice {f}-{l}: {} of {} addresses in use",
            alloc.in_use(),
            alloc.size()
        );
        Ok(())
    }

    /// Runs one batch; an `Err` means the connection is unusable.
    async fn execute(
        &mut self,
        st: &mut Store,
        reqs: &[Tagged],
    ) -> Result<Vec<(usize, MappingResult)>, DssmError> {
        let mut out: Vec<(usize, MappingResult)> = Vec::with_capacity(reqs.len());
        // Creations of the same IPv6 in one batch share one answer.
        let mut creates: HashMap<Ipv6Addr, Vec<Tagged>> = HashMap::new();
        let mut ops: Vec<BatchOp> = Vec::with_capacity(reqs.len());
        let mut owners: Vec<Tagged> = Vec::with_capacity(reqs.len());
        for &(l, r) in reqs {
            match r.op {
                MapOp::Lookup4 => {
                    ops.push(BatchOp::Get4(r.ipv4()));
                    owners.push((l, r));
                }
                MapOp::Lookup6 => {
                    ops.push(BatchOp::Get6(r.ipv6()));
                    owners.push((l, r));
                }
                MapOp::Create6 => creates.entry(r.ipv6()).or_default().push((l, r)),
                MapOp::Status => {}
            }
        }
        // Lookups and the first round of creations go in one pipeline.
        let mut pending: Vec<Ipv6Addr> = creates.keys().copied().collect();
        let mut exhausted: Vec<Ipv6Addr> = Vec::new();
        let mut round = 0;
        let mut first = true;
        while first || (!pending.is_empty() && round < CREATE_ROUNDS) {
            round += 1;
            let mut proposals: Vec<(Ipv6Addr, Option<Ipv4Addr>)> = Vec::new();
            let nlookups = if first { ops.len() } else { 0 };
            let mut batch: Vec<BatchOp> = if first {
                std::mem::take(&mut ops)
            } else {
                Vec::new()
            };
            for v6 in pending.drain(..) {
                let cand = self.alloc.as_mut().and_then(|a| a.allocate());
                match cand {
                    Some(v4) => batch.push(BatchOp::Create(v6, v4)),
                    // No free address (or no slice): only an existing mapping can answer.
                    None => batch.push(BatchOp::Get6(v6)),
                }
                proposals.push((v6, cand));
            }
            first = false;
            if batch.is_empty() {
                break;
            }
            let answers = st.batch(&batch).await?;
            let mut reconnect = false;
            for (i, ans) in answers.iter().enumerate() {
                if i < nlookups {
                    let (l, r) = owners[i];
                    let (status, pair, res) = match ans {
                        BatchAnswer::V6(Some(a)) => {
                            (MapStatus::Found, Some((r.ipv4(), *a)), OpResult::Ok)
                        }
                        BatchAnswer::V4(Some(a)) => {
                            (MapStatus::Found, Some((*a, r.ipv6())), OpResult::Ok)
                        }
                        BatchAnswer::V6(None) | BatchAnswer::V4(None) => {
                            (MapStatus::Missing, None, OpResult::Missing)
                        }
                        BatchAnswer::Failed(e) => {
                            reconnect |= needs_reconnect(e);
                            log::debug!("dSSM: lookup failed: {e}");
                            (MapStatus::Unavailable, None, OpResult::Error)
                        }
                        BatchAnswer::Created(_) => (MapStatus::Unavailable, None, OpResult::Error),
                    };
                    self.stats.count(op_of(&r), res);
                    out.push((l, MappingResult::answer(&r, status, pair)));
                    continue;
                }
                let (v6, cand) = proposals[i - nlookups];
                let answer: Option<(MapStatus, Option<Ipv4Addr>)> = match (ans, cand) {
                    (BatchAnswer::Created(CreateOutcome::Created), Some(v4)) => {
                        self.stats.created(1);
                        Some((MapStatus::Found, Some(v4)))
                    }
                    (BatchAnswer::Created(CreateOutcome::Existing(v4)), c) => {
                        if let (Some(c), Some(a)) = (c, self.alloc.as_mut()) {
                            if c != *v4 {
                                a.release(c);
                            }
                        }
                        Some((MapStatus::Found, Some(*v4)))
                    }
                    (BatchAnswer::Created(CreateOutcome::Taken(_)), _) => {
                        // Someone else holds that IPv4 (it stays marked used): try another.
                        pending.push(v6);
                        None
                    }
                    (BatchAnswer::V4(Some(v4)), _) => Some((MapStatus::Found, Some(*v4))),
                    (BatchAnswer::V4(None), _) => {
                        exhausted.push(v6);
                        None
                    }
                    (BatchAnswer::Failed(e), _) => {
                        reconnect |= needs_reconnect(e);
                        log::debug!("dSSM: creation of {v6} failed: {e}");
                        // The candidate stays used: the pair may exist unacknowledged, and a
                        // retry finds it as the IPv6's existing mapping.
                        Some((MapStatus::Unavailable, None))
                    }
                    _ => Some((MapStatus::Unavailable, None)),
                };
                if let Some((status, v4)) = answer {
                    let res = match status {
                        MapStatus::Found => OpResult::Ok,
                        _ => OpResult::Error,
                    };
                    for (l, r) in creates.remove(&v6).unwrap_or_default() {
                        self.stats.count(Op::Create, res);
                        out.push((l, MappingResult::answer(&r, status, v4.map(|a| (a, v6)))));
                    }
                }
            }
            if reconnect {
                return Err(DssmError::Redis {
                    context: "batch".into(),
                    message: "the server is no longer a writable master".into(),
                });
            }
        }
        for v6 in exhausted.into_iter().chain(pending) {
            for (l, r) in creates.remove(&v6).unwrap_or_default() {
                self.stats.count(Op::Create, OpResult::Exhausted);
                out.push((l, MappingResult::answer(&r, MapStatus::Exhausted, None)));
            }
        }
        Ok(out)
    }
}

/// Errors after which the connection must be replaced (the master was demoted, is loading or
/// lost its replicas' link).
fn needs_reconnect(e: &str) -> bool {
    ["READONLY", "LOADING", "MASTERDOWN", "NOREPLICAS"]
        .iter()
        .any(|c| e.starts_with(c))
}
