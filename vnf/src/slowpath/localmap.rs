//! The mapping service without dSSM: DNS46 mappings kept in this process only.
//!
//! With `dssm.enabled = false` (one VNF doing DNS46 and NAT46 alone, the seeds' "test only"
//! topology) the workers' mapping requests are served here: lookups from an in-memory table,
//! creations from this TMM's slice of the DNS46 pool. Nothing survives a restart and nothing is
//! shared with other replicas; production uses dSSM (docs/dssm.md). Runs on its own slow-path
//! thread, never on a worker.

use crate::mapping::{MapOp, MapStatus, MappingRequest, MappingResult};
use crate::slowpath::dssm::{SliceAllocator, WorkerLink};
use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Counters of the local service.
#[derive(Debug, Default)]
pub struct LocalMapStats {
    pub requests: AtomicU64,
    pub created: AtomicU64,
    pub exhausted: AtomicU64,
}

/// The in-memory store: both directions and the slice allocator.
pub struct LocalStore {
    v4: HashMap<Ipv4Addr, Ipv6Addr>,
    v6: HashMap<Ipv6Addr, Ipv4Addr>,
    slice: Option<SliceAllocator>,
}

impl LocalStore {
    pub fn new(slice: Option<SliceAllocator>) -> LocalStore {
        LocalStore {
            v4: HashMap::new(),
            v6: HashMap::new(),
            slice,
        }
    }

    /// Answers one request.
    pub fn serve(&mut self, req: &MappingRequest, stats: &LocalMapStats) -> MappingResult {
        stats.requests.fetch_add(1, Ordering::Relaxed);
        match req.op {
            MapOp::Lookup4 => match self.v4.get(&req.ipv4()) {
                Some(v6) => MappingResult::answer(req, MapStatus::Found, Some((req.ipv4(), *v6))),
                None => MappingResult::answer(req, MapStatus::Missing, None),
            },
            MapOp::Lookup6 => match self.v6.get(&req.ipv6()) {
                Some(v4) => MappingResult::answer(req, MapStatus::Found, Some((*v4, req.ipv6()))),
                None => MappingResult::answer(req, MapStatus::Missing, None),
            },
            MapOp::Create6 => {
                let v6 = req.ipv6();
                if let Some(v4) = self.v6.get(&v6) {
                    return MappingResult::answer(req, MapStatus::Found, Some((*v4, v6)));
                }
                let Some(v4) = self.slice.as_mut().and_then(SliceAllocator::allocate) else {
                    stats.exhausted.fetch_add(1, Ordering::Relaxed);
                    return MappingResult::answer(req, MapStatus::Exhausted, None);
                };
                self.v4.insert(v4, v6);
                self.v6.insert(v6, v4);
                stats.created.fetch_add(1, Ordering::Relaxed);
                log::debug!("dns46 mapping created locally: {v4} -> {v6}");
                MappingResult::answer(req, MapStatus::Found, Some((v4, v6)))
            }
            MapOp::Status => MappingResult::answer(req, MapStatus::Unavailable, None),
        }
    }

    /// Number of mappings.
    pub fn len(&self) -> usize {
        self.v4.len()
    }

    /// Whether there is no mapping.
    pub fn is_empty(&self) -> bool {
        self.v4.is_empty()
    }
}

/// The running service; dropping it stops the thread.
pub struct LocalMapHandle {
    pub stats: Arc<LocalMapStats>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for LocalMapHandle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Starts serving the workers' links.
pub fn start(
    slice: Option<SliceAllocator>,
    mut links: Vec<Box<dyn WorkerLink>>,
) -> std::io::Result<LocalMapHandle> {
    let stats = Arc::new(LocalMapStats::default());
    let stop = Arc::new(AtomicBool::new(false));
    let (st, sp) = (stats.clone(), stop.clone());
    let thread = std::thread::Builder::new()
        .name("localmap".into())
        .spawn(move || {
            let mut store = LocalStore::new(slice);
            let mut reqs = Vec::with_capacity(256);
            let mut backlog: Vec<Vec<MappingResult>> = links.iter().map(|_| Vec::new()).collect();
            for (i, l) in links.iter_mut().enumerate() {
                // The workers start with "dSSM down" until told otherwise.
                let _ = l.send(&[MappingResult::status(i as u16, true)]);
            }
            while !sp.load(Ordering::Relaxed) {
                let mut idle = true;
                for (i, l) in links.iter_mut().enumerate() {
                    reqs.clear();
                    l.recv(&mut reqs, 256);
                    let out = &mut backlog[i];
                    for r in &reqs {
                        out.push(store.serve(r, &st));
                    }
                    if !out.is_empty() {
                        idle = false;
                        let n = l.send(out);
                        out.drain(..n.min(out.len()));
                    }
                }
                if idle {
                    std::thread::sleep(Duration::from_micros(200));
                }
            }
        })?;
    Ok(LocalMapHandle {
        stats,
        stop,
        thread: Some(thread),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_reuses_and_exhausts_the_slice() {
        let slice = SliceAllocator::new(Ipv4Addr::new(10, 9, 0, 1), Ipv4Addr::new(10, 9, 0, 2));
        let mut s = LocalStore::new(slice);
        let st = LocalMapStats::default();
        let a: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let b: Ipv6Addr = "2001:db8::2".parse().unwrap();
        let c: Ipv6Addr = "2001:db8::3".parse().unwrap();
        let r1 = s.serve(&MappingRequest::create6(0, a), &st);
        assert_eq!(r1.status, MapStatus::Found);
        let r1b = s.serve(&MappingRequest::create6(1, a), &st);
        assert_eq!(r1b.ipv4(), r1.ipv4(), "one IPv6 keeps one IPv4");
        let r2 = s.serve(&MappingRequest::create6(0, b), &st);
        assert_ne!(r2.ipv4(), r1.ipv4());
        assert_eq!(
            s.serve(&MappingRequest::create6(0, c), &st).status,
            MapStatus::Exhausted
        );
        let l4 = s.serve(&MappingRequest::lookup4(0, r2.ipv4()), &st);
        assert_eq!((l4.status, l4.ipv6()), (MapStatus::Found, b));
        assert_eq!(
            s.serve(
                &MappingRequest::lookup4(0, Ipv4Addr::new(10, 9, 0, 99)),
                &st
            )
            .status,
            MapStatus::Missing
        );
        assert_eq!(s.len(), 2);
        assert_eq!(st.created.load(Ordering::Relaxed), 2);
    }
}
