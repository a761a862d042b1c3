//! Redis's keyspace as the cluster's scripts use it, in memory: strings (with a `PX` expiry), hashes, sorted sets
//! and streams, and the commands the scripts call on them, answering as Redis does. Time is the simulation's clock
//! (`TIME`, expiries); stream ids are a counter that a failover does not roll back, as Redis's follow its clock.
//! Only what the scripts use is here: a command they do not use is an error, so a script that starts using one
//! fails the simulation at once instead of being run wrongly.

use std::collections::BTreeMap;

/// A command's answer, as Redis sends it to a script.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Reply {
    Nil,
    Int(i64),
    Bulk(String),
    Status(&'static str),
    Array(Vec<Reply>),
}

/// One stream record: its id's counter (`<n>-0`) and its fields.
pub(super) type Record = (u64, Vec<(String, String)>);

#[derive(Debug, Clone, Default)]
pub(super) struct Keyspace {
    strings: BTreeMap<String, (String, Option<u64>)>,
    pub(super) hashes: BTreeMap<String, BTreeMap<String, String>>,
    zsets: BTreeMap<String, BTreeMap<String, f64>>,
    pub(super) streams: BTreeMap<String, Vec<Record>>,
    /// Bumped by every write: whether a script wrote.
    pub(super) writes: u64,
}

/// A score as Redis writes it: an integer when it is one.
fn score_text(score: f64) -> String {
    if score.fract() == 0.0 && score.abs() < 1e15 { format!("{}", score as i64) } else { format!("{score}") }
}

/// A `ZRANGEBYSCORE` bound: `-inf`, `+inf`, `(x` (exclusive) or `x`; whether `score` is within it from below (`min`)
/// or above.
fn within(bound: &str, score: f64, min: bool) -> Result<bool, String> {
    let (exclusive, number) = match bound.strip_prefix('(') {
        Some(rest) => (true, rest),
        None => (false, bound),
    };
    let limit = match number {
        "-inf" => f64::NEG_INFINITY,
        "+inf" | "inf" => f64::INFINITY,
        n => n.parse::<f64>().map_err(|_| format!("ERR min or max is not a float: {bound}"))?,
    };
    Ok(match (min, exclusive) {
        (true, false) => score >= limit,
        (true, true) => score > limit,
        (false, false) => score <= limit,
        (false, true) => score < limit,
    })
}

fn int(arg: &str) -> Result<i64, String> {
    arg.parse().map_err(|_| format!("ERR value is not an integer: {arg}"))
}

impl Keyspace {
    /// Runs one command at `now` (ms); an `Err` is the error Redis raises in the script.
    pub(super) fn call(&mut self, now: u64, args: &[String], next_id: &mut u64) -> Result<Reply, String> {
        let (name, args) = args.split_first().ok_or("ERR no command")?;
        let arity = |n: usize| {
            if args.len() >= n { Ok(()) } else { Err(format!("ERR wrong number of arguments for '{name}'")) }
        };
        let reply = match name.to_ascii_uppercase().as_str() {
            "TIME" => Reply::Array(vec![
                Reply::Bulk((now / 1000).to_string()),
                Reply::Bulk(((now % 1000) * 1000).to_string()),
            ]),
            "GET" => {
                arity(1)?;
                match self.strings.get(&args[0]) {
                    Some((value, expires)) if expires.is_none_or(|at| at > now) => Reply::Bulk(value.clone()),
                    _ => Reply::Nil,
                }
            }
            "SET" => {
                arity(2)?;
                let expires = match args.get(2).map(|a| a.to_ascii_uppercase()) {
                    None => None,
                    Some(px) if px == "PX" => Some(now + int(args.get(3).ok_or("ERR syntax error")?)? as u64),
                    Some(other) => return Err(format!("ERR SET option not modelled: {other}")),
                };
                self.strings.insert(args[0].clone(), (args[1].clone(), expires));
                self.writes += 1;
                Reply::Status("OK")
            }
            "PEXPIRE" => {
                arity(2)?;
                match self.strings.get_mut(&args[0]).filter(|(_, e)| e.is_none_or(|at| at > now)) {
                    Some((_, expires)) => {
                        *expires = Some(now + int(&args[1])? as u64);
                        self.writes += 1;
                        Reply::Int(1)
                    }
                    None => Reply::Int(0),
                }
            }
            "INCR" => {
                arity(1)?;
                let live = self.strings.get(&args[0]).filter(|(_, e)| e.is_none_or(|at| at > now));
                let value = live.map_or(Ok(0), |(v, _)| int(v))? + 1;
                self.strings.insert(args[0].clone(), (value.to_string(), None));
                self.writes += 1;
                Reply::Int(value)
            }
            "DEL" => {
                arity(1)?;
                let mut gone = 0;
                for key in args {
                    let live = self.strings.remove(key).is_some_and(|(_, e)| e.is_none_or(|at| at > now));
                    gone += i64::from(live)
                        + i64::from(self.hashes.remove(key).is_some())
                        + i64::from(self.zsets.remove(key).is_some())
                        + i64::from(self.streams.remove(key).is_some());
                }
                self.writes += 1;
                Reply::Int(gone)
            }
            "HGET" => {
                arity(2)?;
                self.hashes.get(&args[0]).and_then(|h| h.get(&args[1])).map_or(Reply::Nil, |v| Reply::Bulk(v.clone()))
            }
            "HMGET" => {
                arity(2)?;
                let hash = self.hashes.get(&args[0]);
                Reply::Array(
                    args[1..]
                        .iter()
                        .map(|f| hash.and_then(|h| h.get(f)).map_or(Reply::Nil, |v| Reply::Bulk(v.clone())))
                        .collect(),
                )
            }
            "HSET" => {
                if args.len() < 3 || args.len() % 2 == 0 {
                    return Err("ERR wrong number of arguments for 'hset'".into());
                }
                let hash = self.hashes.entry(args[0].clone()).or_default();
                let added =
                    args[1..].chunks(2).filter(|fv| hash.insert(fv[0].clone(), fv[1].clone()).is_none()).count();
                self.writes += 1;
                Reply::Int(added as i64)
            }
            "HSETNX" => {
                arity(3)?;
                let hash = self.hashes.entry(args[0].clone()).or_default();
                if hash.contains_key(&args[1]) {
                    Reply::Int(0)
                } else {
                    hash.insert(args[1].clone(), args[2].clone());
                    self.writes += 1;
                    Reply::Int(1)
                }
            }
            "HDEL" => {
                arity(2)?;
                let Some(hash) = self.hashes.get_mut(&args[0]) else { return Ok(Reply::Int(0)) };
                let gone = args[1..].iter().filter(|f| hash.remove(*f).is_some()).count();
                if hash.is_empty() {
                    self.hashes.remove(&args[0]);
                }
                self.writes += 1;
                Reply::Int(gone as i64)
            }
            "HGETALL" => {
                arity(1)?;
                let hash = self.hashes.get(&args[0]);
                let flat =
                    hash.into_iter().flatten().flat_map(|(f, v)| [Reply::Bulk(f.clone()), Reply::Bulk(v.clone())]);
                Reply::Array(flat.collect())
            }
            "ZADD" => {
                if args.len() < 3 || args.len() % 2 == 0 {
                    return Err("ERR ZADD options are not modelled".into());
                }
                let zset = self.zsets.entry(args[0].clone()).or_default();
                let mut added = 0;
                for pair in args[1..].chunks(2) {
                    let score = pair[0].parse::<f64>().map_err(|_| "ERR value is not a valid float")?;
                    added += i64::from(zset.insert(pair[1].clone(), score).is_none());
                }
                self.writes += 1;
                Reply::Int(added)
            }
            "ZSCORE" => {
                arity(2)?;
                self.zsets
                    .get(&args[0])
                    .and_then(|z| z.get(&args[1]))
                    .map_or(Reply::Nil, |s| Reply::Bulk(score_text(*s)))
            }
            "ZRANGEBYSCORE" => {
                arity(3)?;
                if args.len() > 3 {
                    return Err("ERR ZRANGEBYSCORE options are not modelled".into());
                }
                let mut members: Vec<(f64, &String)> = Vec::new();
                for (member, score) in self.zsets.get(&args[0]).into_iter().flatten() {
                    if within(&args[1], *score, true)? && within(&args[2], *score, false)? {
                        members.push((*score, member));
                    }
                }
                members.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(b.1)));
                Reply::Array(members.into_iter().map(|(_, m)| Reply::Bulk(m.clone())).collect())
            }
            "ZREMRANGEBYSCORE" => {
                arity(3)?;
                let Some(zset) = self.zsets.get_mut(&args[0]) else { return Ok(Reply::Int(0)) };
                let mut gone = Vec::new();
                for (member, score) in zset.iter() {
                    if within(&args[1], *score, true)? && within(&args[2], *score, false)? {
                        gone.push(member.clone());
                    }
                }
                gone.iter().for_each(|m| _ = zset.remove(m));
                self.writes += 1;
                Reply::Int(gone.len() as i64)
            }
            "ZREM" => {
                arity(2)?;
                let Some(zset) = self.zsets.get_mut(&args[0]) else { return Ok(Reply::Int(0)) };
                let gone = args[1..].iter().filter(|m| zset.remove(*m).is_some()).count();
                self.writes += 1;
                Reply::Int(gone as i64)
            }
            "XADD" => {
                arity(4)?;
                // `MAXLEN ~ n` is accepted and left to the simulation, which trims what every matchmaker read.
                let rest = match args[1].to_ascii_uppercase().as_str() {
                    "MAXLEN" => &args[4..],
                    _ => &args[1..],
                };
                let (star, fields) = rest.split_first().ok_or("ERR wrong number of arguments for 'xadd'")?;
                if star != "*" || fields.is_empty() || fields.len() % 2 != 0 {
                    return Err(format!("ERR XADD form not modelled: {args:?}"));
                }
                *next_id += 1;
                let fields = fields.chunks(2).map(|fv| (fv[0].clone(), fv[1].clone())).collect();
                self.streams.entry(args[0].clone()).or_default().push((*next_id, fields));
                self.writes += 1;
                Reply::Bulk(format!("{next_id}-0"))
            }
            "XREVRANGE" => {
                if args.len() != 5 || args[1] != "+" || args[2] != "-" || !args[3].eq_ignore_ascii_case("COUNT") {
                    return Err(format!("ERR XREVRANGE form not modelled: {args:?}"));
                }
                let count = int(&args[4])? as usize;
                let records = self.streams.get(&args[0]).into_iter().flatten().rev().take(count);
                Reply::Array(records.map(record_reply).collect())
            }
            "XDEL" => {
                arity(2)?;
                let ids: Vec<String> = args[1..].to_vec();
                let Some(stream) = self.streams.get_mut(&args[0]) else { return Ok(Reply::Int(0)) };
                let before = stream.len();
                stream.retain(|(id, _)| !ids.contains(&format!("{id}-0")));
                self.writes += 1;
                Reply::Int((before - stream.len()) as i64)
            }
            other => return Err(format!("ERR command not modelled in the simulation: {other}")),
        };
        Ok(reply)
    }

    /// The records of `key` after `position`.
    pub(super) fn read(&self, key: &str, position: u64) -> &[Record] {
        let stream = self.streams.get(key).map_or(&[][..], Vec::as_slice);
        let from = stream.partition_point(|(id, _)| *id <= position);
        &stream[from..]
    }

    /// Drops the records of `key` up to `position`.
    pub(super) fn trim(&mut self, key: &str, position: u64) {
        if let Some(stream) = self.streams.get_mut(key) {
            let keep = stream.partition_point(|(id, _)| *id <= position);
            stream.drain(..keep);
        }
    }

    /// The string at `key` with its expiry, if it lives at `now`.
    pub(super) fn string(&self, key: &str, now: u64) -> Option<(&str, Option<u64>)> {
        self.strings.get(key).filter(|(_, e)| e.is_none_or(|at| at > now)).map(|(v, e)| (v.as_str(), *e))
    }
}

fn record_reply((id, fields): &Record) -> Reply {
    let fields = fields.iter().flat_map(|(f, v)| [Reply::Bulk(f.clone()), Reply::Bulk(v.clone())]).collect();
    Reply::Array(vec![Reply::Bulk(format!("{id}-0")), Reply::Array(fields)])
}
