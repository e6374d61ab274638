//! The DNS46 data in dSSM (CONTRACT §4): `dns46:v4:<ipv4>` -> `<ipv6>` and
//! `dns46:v6:<ipv6>` -> `<ipv4>`, addresses in canonical text (Rust's `Display`, RFC 5952 for
//! IPv6). A legacy record has only the `v4` key.
//!
//! Writes that touch both keys are Lua scripts, so they are atomic: two replicas racing to map
//! one IPv6 run [`CREATE_LUA`] one after the other and the second gets the first's pair. After a
//! batch of writes the client sends `WAIT <replicas> <timeout>` and reports success only if
//! enough replicas acknowledged (an acknowledged mapping survives a failover).

use super::DssmError;
use redis::aio::MultiplexedConnection;
use redis::Value;
use std::net::{Ipv4Addr, Ipv6Addr};

/// Key prefix of the 4-to-6 direction.
pub const PREFIX_V4: &str = "dns46:v4:";
/// Key prefix of the 6-to-4 direction.
pub const PREFIX_V6: &str = "dns46:v6:";

/// `dns46:v4:<a>`.
pub fn key4(a: Ipv4Addr) -> String {
    format!("{PREFIX_V4}{a}")
}
/// `dns46:v6:<a>`.
pub fn key6(a: Ipv6Addr) -> String {
    format!("{PREFIX_V6}{a}")
}

/// Creates pairs unless the IPv6 is mapped already or the IPv4 is taken, for each pair i:
/// KEYS[2i-1] = v6 key, KEYS[2i] = v4 key, ARGV[2i-1] = v6 text, ARGV[2i] = v4 text. Returns two
/// items per pair: 0, v4 (created) | 1, existing v4 of the IPv6 | 2, IPv6 holding the IPv4.
/// One script call carries up to [`CREATE_CHUNK`] pairs (the call overhead dominates Redis's
/// cost of a single pair); the whole call is atomic, so each pair is too. The common case (a
/// new pair) costs one `MSETNX`, which sets both keys only if neither exists.
pub const CREATE_LUA: &str = r#"
local out = {}
for i = 1, #KEYS, 2 do
  if redis.call('MSETNX', KEYS[i], ARGV[i + 1], KEYS[i + 1], ARGV[i]) == 1 then
    out[#out + 1] = 0; out[#out + 1] = ARGV[i + 1]
  else
    local cur = redis.call('GET', KEYS[i])
    if cur then
      out[#out + 1] = 1; out[#out + 1] = cur
    else
      out[#out + 1] = 2; out[#out + 1] = redis.call('GET', KEYS[i + 1]) or ''
    end
  end
end
return out
"#;

/// Pairs per creation script call.
pub const CREATE_CHUNK: usize = 64;

/// Sets a manual pair, overwriting; removes the reverse keys of pairs it replaces.
/// KEYS: v4 key, v6 key. ARGV: v6 text, v4 text.
const SET_LUA: &str = r#"
local old6 = redis.call('GET', KEYS[1])
if old6 and old6 ~= ARGV[1] then
  if redis.call('GET', 'dns46:v6:' .. old6) == ARGV[2] then redis.call('DEL', 'dns46:v6:' .. old6) end
end
local old4 = redis.call('GET', KEYS[2])
if old4 and old4 ~= ARGV[2] then
  if redis.call('GET', 'dns46:v4:' .. old4) == ARGV[1] then redis.call('DEL', 'dns46:v4:' .. old4) end
end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SET', KEYS[2], ARGV[2])
return {old6 or '', old4 or ''}
"#;

/// Deletes a pair by its IPv4 (and the v6 key if it points back). KEYS: v4 key. ARGV: v4 text.
const DELETE_LUA: &str = r#"
local v6 = redis.call('GET', KEYS[1])
if not v6 then return {0} end
redis.call('DEL', KEYS[1])
if redis.call('GET', 'dns46:v6:' .. v6) == ARGV[1] then
  redis.call('DEL', 'dns46:v6:' .. v6)
  return {2, v6}
end
return {1, v6}
"#;

/// Adds the missing v6 key of one legacy record if the record is unchanged.
/// KEYS: v4 key, canonical v6 key. ARGV: the v4 key's value as read, v4 text.
/// Returns {0} record gone/changed, {1} added, {2} already there, {3, other} v6 mapped elsewhere.
const UPGRADE_LUA: &str = r#"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {0} end
local cur = redis.call('GET', KEYS[2])
if not cur then redis.call('SET', KEYS[2], ARGV[2]); return {1} end
if cur == ARGV[2] then return {2} end
return {3, cur}
"#;

/// What a creation found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateOutcome {
    /// The pair was written.
    Created,
    /// The IPv6 already had this IPv4 (nothing written).
    Existing(Ipv4Addr),
    /// The proposed IPv4 is taken (by this IPv6 text, if it parses).
    Taken(Option<Ipv6Addr>),
}

/// One operation of a pipelined batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchOp {
    Get4(Ipv4Addr),
    Get6(Ipv6Addr),
    Create(Ipv6Addr, Ipv4Addr),
}

/// The answer to one [`BatchOp`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchAnswer {
    /// `Get4`: the IPv6 (None = no key).
    V6(Option<Ipv6Addr>),
    /// `Get6`: the IPv4 (None = no key).
    V4(Option<Ipv4Addr>),
    Created(CreateOutcome),
    /// dSSM refused this command (the text of its error).
    Failed(String),
}

/// Result of `upgrade dns46`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpgradeReport {
    /// v6 keys added.
    pub upgraded: u64,
    /// Records that had both keys.
    pub complete: u64,
    /// Records whose IPv6 is mapped to another IPv4: `(v4, v6, other v4)`.
    pub conflicts: Vec<(Ipv4Addr, Ipv6Addr, String)>,
    /// v4 keys whose value is not an IPv6 address: `(key, value)`.
    pub invalid: Vec<(String, String)>,
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::SimpleString(s) => Some(s.clone()),
        Value::Int(i) => Some(i.to_string()),
        _ => None,
    }
}

fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i),
        other => text(other)?.parse().ok(),
    }
}

fn parse_create(code: Option<&Value>, val: Option<&Value>) -> Result<CreateOutcome, String> {
    let val = val.and_then(text).unwrap_or_default();
    match code.and_then(int) {
        Some(0) => Ok(CreateOutcome::Created),
        Some(1) => val
            .parse()
            .map(CreateOutcome::Existing)
            .map_err(|_| format!("dns46:v6 key holds `{val}`, not an IPv4 address")),
        Some(2) => Ok(CreateOutcome::Taken(val.parse().ok())),
        _ => Err(format!("unexpected create answer {code:?} {val:?}")),
    }
}

/// A connection to the master with the data operations.
pub struct Store {
    con: MultiplexedConnection,
    wait_replicas: u32,
    wait_timeout_ms: u32,
    /// SHA1 of [`CREATE_LUA`].
    create_sha: String,
}

impl Store {
    /// Wraps a master connection; writes wait for `wait_replicas` (0 = do not wait).
    pub fn new(con: MultiplexedConnection, wait_replicas: u32, wait_timeout_ms: u32) -> Store {
        Store {
            con,
            wait_replicas,
            wait_timeout_ms,
            create_sha: redis::Script::new(CREATE_LUA).get_hash().to_string(),
        }
    }

    fn err(ctx: &str, e: redis::RedisError) -> DssmError {
        DssmError::redis(ctx, &e)
    }

    /// `PING`.
    pub async fn ping(&mut self) -> Result<(), DssmError> {
        redis::cmd("PING")
            .query_async::<Value>(&mut self.con)
            .await
            .map(|_| ())
            .map_err(|e| Self::err("PING", e))
    }

    /// `WAIT`s for the configured replicas; an error if fewer acknowledged.
    pub async fn wait(&mut self) -> Result<(), DssmError> {
        if self.wait_replicas == 0 {
            return Ok(());
        }
        let n: i64 = redis::cmd("WAIT")
            .arg(self.wait_replicas)
            .arg(self.wait_timeout_ms)
            .query_async(&mut self.con)
            .await
            .map_err(|e| Self::err("WAIT", e))?;
        if n < self.wait_replicas as i64 {
            return Err(DssmError::Redis {
                context: "WAIT".into(),
                message: format!(
                    "{n} of {} replicas acknowledged within {} ms",
                    self.wait_replicas, self.wait_timeout_ms
                ),
            });
        }
        Ok(())
    }

    /// Runs `ops` in one pipeline (plus one `WAIT` when it creates anything). A connection
    /// failure fails the batch; a command error fails only its answer. When `WAIT` is not
    /// acknowledged, every creation's answer is `Failed`.
    pub async fn batch(&mut self, ops: &[BatchOp]) -> Result<Vec<BatchAnswer>, DssmError> {
        let out = self.batch_once(ops).await?;
        // A server that does not have the creation script yet (a new or restarted master)
        // answers NOSCRIPT: load it and run the batch again (nothing of it was written).
        if out
            .iter()
            .any(|a| matches!(a, BatchAnswer::Failed(e) if e.starts_with("NOSCRIPT")))
        {
            self.load_scripts().await?;
            return self.batch_once(ops).await;
        }
        Ok(out)
    }

    /// `SCRIPT LOAD`s the creation script (run by `EVALSHA` in batches).
    pub async fn load_scripts(&mut self) -> Result<(), DssmError> {
        let sha: String = redis::cmd("SCRIPT")
            .arg("LOAD")
            .arg(CREATE_LUA)
            .query_async(&mut self.con)
            .await
            .map_err(|e| Self::err("SCRIPT LOAD", e))?;
        self.create_sha = sha;
        Ok(())
    }

    async fn batch_once(&mut self, ops: &[BatchOp]) -> Result<Vec<BatchAnswer>, DssmError> {
        let mut pipe = redis::pipe();
        pipe.ignore_errors();
        // Lookups one command each, in order; creations in chunks of one script call.
        let creates: Vec<(usize, Ipv6Addr, Ipv4Addr)> = ops
            .iter()
            .enumerate()
            .filter_map(|(i, op)| match *op {
                BatchOp::Create(v6, v4) => Some((i, v6, v4)),
                _ => None,
            })
            .collect();
        let mut ncmds = 0;
        for op in ops {
            match *op {
                BatchOp::Get4(a) => {
                    pipe.cmd("GET").arg(key4(a));
                    ncmds += 1;
                }
                BatchOp::Get6(a) => {
                    pipe.cmd("GET").arg(key6(a));
                    ncmds += 1;
                }
                BatchOp::Create(..) => {}
            }
        }
        let nlookups = ncmds;
        for chunk in creates.chunks(CREATE_CHUNK) {
            let cmd = pipe.cmd("EVALSHA");
            cmd.arg(&self.create_sha).arg(chunk.len() * 2);
            for (_, v6, v4) in chunk {
                cmd.arg(key6(*v6)).arg(key4(*v4));
            }
            for (_, v6, v4) in chunk {
                cmd.arg(v6.to_string()).arg(v4.to_string());
            }
            ncmds += 1;
        }
        let wait = !creates.is_empty() && self.wait_replicas > 0;
        if wait {
            pipe.cmd("WAIT")
                .arg(self.wait_replicas)
                .arg(self.wait_timeout_ms);
        }
        let values: Vec<Value> = pipe
            .query_async(&mut self.con)
            .await
            .map_err(|e| Self::err("pipeline", e))?;
        if values.len() != ncmds + wait as usize {
            return Err(DssmError::Data(format!(
                "pipeline of {} commands got {} answers",
                ncmds + wait as usize,
                values.len()
            )));
        }
        let acked = if wait {
            match &values[ncmds] {
                Value::ServerError(e) => Err(format!("WAIT failed: {e:?}")),
                v => match int(v) {
                    Some(n) if n >= self.wait_replicas as i64 => Ok(()),
                    Some(n) => Err(format!(
                        "{n} of {} replicas acknowledged within {} ms",
                        self.wait_replicas, self.wait_timeout_ms
                    )),
                    None => Err(format!("unexpected WAIT answer {v:?}")),
                },
            }
        } else {
            Ok(())
        };
        let failed = |e: &redis::ServerError| {
            BatchAnswer::Failed(format!("{} {}", e.code(), e.details().unwrap_or("")))
        };
        let mut out = vec![BatchAnswer::Failed(String::new()); ops.len()];
        let mut vi = 0;
        for (i, op) in ops.iter().enumerate() {
            let v = match op {
                BatchOp::Create(..) => continue,
                _ => &values[vi],
            };
            vi += 1;
            out[i] = match (op, v) {
                (_, Value::ServerError(e)) => failed(e),
                (BatchOp::Get4(_), Value::Nil) => BatchAnswer::V6(None),
                (BatchOp::Get4(_), v) => match text(v).and_then(|t| t.parse().ok()) {
                    Some(a) => BatchAnswer::V6(Some(a)),
                    None => BatchAnswer::Failed(format!("dns46:v4 value {v:?} is not IPv6")),
                },
                (BatchOp::Get6(_), Value::Nil) => BatchAnswer::V4(None),
                (_, v) => match text(v).and_then(|t| t.parse().ok()) {
                    Some(a) => BatchAnswer::V4(Some(a)),
                    None => BatchAnswer::Failed(format!("dns46:v6 value {v:?} is not IPv4")),
                },
            };
        }
        for (c, chunk) in creates.chunks(CREATE_CHUNK).enumerate() {
            let v = &values[nlookups + c];
            for (j, (i, _, _)) in chunk.iter().enumerate() {
                out[*i] = match v {
                    Value::ServerError(e) => failed(e),
                    Value::Array(items) => {
                        match (parse_create(items.get(2 * j), items.get(2 * j + 1)), &acked) {
                            (Err(e), _) => BatchAnswer::Failed(e),
                            (Ok(_), Err(e)) => BatchAnswer::Failed(e.clone()),
                            (Ok(o), Ok(())) => BatchAnswer::Created(o),
                        }
                    }
                    other => BatchAnswer::Failed(format!("unexpected create answer {other:?}")),
                };
            }
        }
        Ok(out)
    }

    /// Creates `v6` <-> `v4` atomically (see [`CREATE_LUA`]) and waits for the replicas.
    pub async fn create(&mut self, v6: Ipv6Addr, v4: Ipv4Addr) -> Result<CreateOutcome, DssmError> {
        match self.batch(&[BatchOp::Create(v6, v4)]).await?.pop() {
            Some(BatchAnswer::Created(o)) => Ok(o),
            Some(BatchAnswer::Failed(e)) => Err(DssmError::Data(e)),
            other => Err(DssmError::Data(format!("unexpected answer {other:?}"))),
        }
    }

    /// 4-to-6 lookup.
    pub async fn get4(&mut self, v4: Ipv4Addr) -> Result<Option<Ipv6Addr>, DssmError> {
        match self.batch(&[BatchOp::Get4(v4)]).await?.pop() {
            Some(BatchAnswer::V6(a)) => Ok(a),
            Some(BatchAnswer::Failed(e)) => Err(DssmError::Data(e)),
            other => Err(DssmError::Data(format!("unexpected answer {other:?}"))),
        }
    }

    /// 6-to-4 lookup.
    pub async fn get6(&mut self, v6: Ipv6Addr) -> Result<Option<Ipv4Addr>, DssmError> {
        match self.batch(&[BatchOp::Get6(v6)]).await?.pop() {
            Some(BatchAnswer::V4(a)) => Ok(a),
            Some(BatchAnswer::Failed(e)) => Err(DssmError::Data(e)),
            other => Err(DssmError::Data(format!("unexpected answer {other:?}"))),
        }
    }

    /// Sets a manual mapping (both keys, overwriting); returns the previous IPv6 of `v4` and the
    /// previous IPv4 of `v6`, if any. Waits for the replicas.
    pub async fn set(
        &mut self,
        v4: Ipv4Addr,
        v6: Ipv6Addr,
    ) -> Result<(Option<String>, Option<String>), DssmError> {
        let v: Vec<String> = redis::cmd("EVAL")
            .arg(SET_LUA)
            .arg(2)
            .arg(key4(v4))
            .arg(key6(v6))
            .arg(v6.to_string())
            .arg(v4.to_string())
            .query_async(&mut self.con)
            .await
            .map_err(|e| Self::err("set", e))?;
        self.wait().await?;
        let get = |i: usize| v.get(i).filter(|s| !s.is_empty()).cloned();
        Ok((get(0), get(1)))
    }

    /// Deletes the mapping of `v4` (and its v6 key when it points back); returns the IPv6 it
    /// had, None when there was none. Waits for the replicas.
    pub async fn delete(&mut self, v4: Ipv4Addr) -> Result<Option<String>, DssmError> {
        let v: Value = redis::cmd("EVAL")
            .arg(DELETE_LUA)
            .arg(1)
            .arg(key4(v4))
            .arg(v4.to_string())
            .query_async(&mut self.con)
            .await
            .map_err(|e| Self::err("delete", e))?;
        let Value::Array(items) = v else {
            return Err(DssmError::Data(format!("unexpected delete answer {v:?}")));
        };
        if items.first().and_then(int) == Some(0) {
            return Ok(None);
        }
        self.wait().await?;
        Ok(items.get(1).and_then(text))
    }

    /// Every key matching `pattern` (SCAN, so the server is never blocked).
    pub async fn scan_keys(&mut self, pattern: &str) -> Result<Vec<String>, DssmError> {
        let mut cursor: u64 = 0;
        let mut keys = Vec::new();
        loop {
            let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(pattern)
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut self.con)
                .await
                .map_err(|e| Self::err("SCAN", e))?;
            keys.extend(batch);
            if next == 0 {
                break;
            }
            cursor = next;
        }
        keys.sort();
        keys.dedup();
        Ok(keys)
    }

    /// Values of `keys` (MGET in chunks).
    pub async fn values(&mut self, keys: &[String]) -> Result<Vec<Option<String>>, DssmError> {
        let mut out = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(1000) {
            let v: Vec<Option<String>> = redis::cmd("MGET")
                .arg(chunk)
                .query_async(&mut self.con)
                .await
                .map_err(|e| Self::err("MGET", e))?;
            out.extend(v);
        }
        Ok(out)
    }

    /// The IPv4 addresses of every `dns46:v4:*` key (those that parse).
    pub async fn mapped_v4(&mut self) -> Result<Vec<Ipv4Addr>, DssmError> {
        Ok(self
            .scan_keys(&format!("{PREFIX_V4}*"))
            .await?
            .iter()
            .filter_map(|k| k.strip_prefix(PREFIX_V4)?.parse().ok())
            .collect())
    }

    /// Every mapping by its v4 key: `(ipv4, value of the key)`, sorted by address.
    pub async fn list(&mut self) -> Result<Vec<(Ipv4Addr, String)>, DssmError> {
        let keys = self.scan_keys(&format!("{PREFIX_V4}*")).await?;
        let vals = self.values(&keys).await?;
        let mut out: Vec<(Ipv4Addr, String)> = keys
            .iter()
            .zip(vals)
            .filter_map(|(k, v)| Some((k.strip_prefix(PREFIX_V4)?.parse().ok()?, v?)))
            .collect();
        out.sort();
        Ok(out)
    }

    /// Adds the missing v6 key to every legacy record (CONTRACT §4 `upgrade dns46`).
    pub async fn upgrade(&mut self) -> Result<UpgradeReport, DssmError> {
        let mut rep = UpgradeReport::default();
        let keys = self.scan_keys(&format!("{PREFIX_V4}*")).await?;
        let vals = self.values(&keys).await?;
        for (k, val) in keys.iter().zip(vals) {
            let Some(val) = val else { continue };
            let Some(v4) = k
                .strip_prefix(PREFIX_V4)
                .and_then(|s| s.parse::<Ipv4Addr>().ok())
            else {
                rep.invalid.push((k.clone(), val));
                continue;
            };
            let Ok(v6) = val.trim().parse::<Ipv6Addr>() else {
                rep.invalid.push((k.clone(), val));
                continue;
            };
            let r: Value = redis::cmd("EVAL")
                .arg(UPGRADE_LUA)
                .arg(2)
                .arg(k)
                .arg(key6(v6))
                .arg(&val)
                .arg(v4.to_string())
                .query_async(&mut self.con)
                .await
                .map_err(|e| Self::err("upgrade", e))?;
            let Value::Array(items) = r else {
                return Err(DssmError::Data(format!("unexpected upgrade answer {r:?}")));
            };
            match items.first().and_then(int) {
                Some(1) => rep.upgraded += 1,
                Some(2) => rep.complete += 1,
                Some(3) => {
                    rep.conflicts
                        .push((v4, v6, items.get(1).and_then(text).unwrap_or_default()))
                }
                _ => {}
            }
        }
        if rep.upgraded > 0 {
            self.wait().await?;
        }
        Ok(rep)
    }

    /// The raw connection (tests, tools).
    pub fn connection(&mut self) -> &mut MultiplexedConnection {
        &mut self.con
    }
}
