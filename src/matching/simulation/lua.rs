//! The cluster's scripts run as Redis runs them: the production text ([`crate::matching::cluster::scripts`]), its
//! `KEYS` and `ARGV`, in an embedded Lua 5.1 (Redis's) whose `redis.call` is [`Keyspace::call`], answers converted
//! both ways as Redis converts them. A script runs whole, between two of the scheduler's steps, as it runs
//! atomically in Redis.
//!
//! Why an embedded Lua rather than a real Redis in lockstep: a failover must lose a chosen suffix of writes, and a
//! seed must run the same on every machine in milliseconds. Copying an in-memory keyspace does the first, and a
//! script costs some tens of microseconds here against a round trip there (docs/testing.md has the seeds per
//! second). What it cannot show: Redis's own bugs, and the wire (timeouts, a reply lost after the write), which the
//! simulation models as a node cut off from Redis.
//!
//! A [`Mutation`] of the scripts is a patch to their production text: [`patched`] applies it, and a test checks
//! that every patch still finds the text it replaces, so a change to a script cannot silently disarm one.

use std::collections::HashMap;

use mlua::{Function, Lua, Value, Variadic};

use super::Mutation;
use super::keyspace::{Keyspace, Reply};
use crate::matching::cluster::scripts::Call;

/// The scripts' text as a mutation changes it: (mutation, script, the production text, what it becomes).
pub(super) const PATCHES: &[(Mutation, &str, &str, &str)] = &[
    // A leave refused by a claim leaves no mark: should the opening fail for the partner, SETTLE holds the request
    // again though its socket closed or its user cancelled.
    (
        Mutation::CancelKeepsHeldEntry,
        "SETTLE",
        "elseif redis.call('HGET', KEYS[4], user) == ask_of(entry) then",
        "elseif false then",
    ),
    // Claims never go stale: ADOPT takes no stale claim (a lapsed holder's claim it takes with the holder's places).
    (
        Mutation::NoStaleClaimTakeover,
        "ADOPT",
        "if tonumber(claims[i + 1]) + tonumber(ARGV[1]) < now then",
        "if false then",
    ),
    // A find during a claim leaves the claim as it was.
    (
        Mutation::ClaimIgnoresReask,
        "HOLD",
        "  redis.call('HSET', queue, user, socket .. '!' .. holder .. '|' .. seeker)\n",
        "",
    ),
    (
        Mutation::ClaimIgnoresReask,
        "JOIN",
        "  redis.call('HSET', queue, user, socket .. '!' .. holder .. '|' .. seeker)\n",
        "",
    ),
    // The old HOLD: another live node's hold is answered "waiting elsewhere", its entry left as it is.
    (
        Mutation::HoldLeavesOtherHoldersEntry,
        "HOLD",
        "  if held == '!' then\n",
        "  if held == '@' then return 0 end\n  if held == '!' then\n",
    ),
    // The old SETTLE: a matched user's hold whose claim a failover lost is left.
    (
        Mutation::SettleForgetsLostClaim,
        "SETTLE",
        "elseif holder == ARGV[1] and hold == '' and mine then",
        "elseif false then",
    ),
    // A match serves only the request it opened on.
    (
        Mutation::MatchServesOnlyItsRequest,
        "SETTLE",
        "  if k == '' or not e then return false end",
        "  do return false end",
    ),
    (
        Mutation::MatchServesOnlyItsRequest,
        "REMOVE",
        "  if k == '' or not e then return false end",
        "  do return false end",
    ),
    // An entry is found by its socket, whatever request made it.
    (Mutation::ForgetBySocketNotRequest, "LEAVE", "return ask == '' or a == '' or a == ask", "return true"),
    (Mutation::ForgetBySocketNotRequest, "SETTLE", "return ask == '' or a == '' or a == ask", "return true"),
    (Mutation::ForgetBySocketNotRequest, "FORWARD", "return ask == '' or a == '' or a == ask", "return true"),
    // Records carry the seeker as its entry does, declared gender and wish included.
    (
        Mutation::RecordsCarryTheWish,
        "JOIN",
        "  return (string.gsub(string.gsub(seeker, ',\"gender\":\"[%a_]+\"', ''), ',\"seeking\":{[^}]*}', ''))",
        "  return seeker",
    ),
    (
        Mutation::RecordsCarryTheWish,
        "HOLD",
        "  return (string.gsub(string.gsub(seeker, ',\"gender\":\"[%a_]+\"', ''), ',\"seeking\":{[^}]*}', ''))",
        "  return seeker",
    ),
    (
        Mutation::RecordsCarryTheWish,
        "SETTLE",
        "  return (string.gsub(string.gsub(seeker, ',\"gender\":\"[%a_]+\"', ''), ',\"seeking\":{[^}]*}', ''))",
        "  return seeker",
    ),
    // The removal of settled users as an HDEL of whatever entry they have.
    (Mutation::RemoveWhateverTheEntry, "REMOVE", "if mine and not string.match(entry, '^%d+|!') then", "if entry then"),
];

/// The text of `call`'s script under `mutation`.
pub(super) fn patched(call: &Call, mutation: Option<Mutation>) -> String {
    let mut text = call.source.text();
    for (m, script, from, to) in PATCHES {
        if Some(*m) == mutation && *script == call.source.name {
            assert!(text.contains(from), "{m:?}'s patch of {script} no longer finds its text: {from}");
            text = text.replace(from, to);
        }
    }
    text
}

/// An embedded Lua and the scripts it has compiled, by name (a runner serves one mutation, or none).
pub(super) struct Runner {
    lua: Lua,
    chunks: HashMap<&'static str, Function>,
}

impl Runner {
    pub(super) fn new() -> Self {
        Runner { lua: Lua::new(), chunks: HashMap::new() }
    }

    /// Runs `call` (its text as `mutation` has it) on `keyspace` at `now`; its answer as Redis sends it, or the
    /// error it raised.
    pub(super) fn run(
        &mut self,
        call: &Call,
        mutation: Option<Mutation>,
        keyspace: &mut Keyspace,
        now: u64,
        next_id: &mut u64,
    ) -> Result<redis::Value, String> {
        let lua = &self.lua;
        let function = match self.chunks.get(call.source.name) {
            Some(function) => function.clone(),
            None => {
                let text = patched(call, mutation);
                let function =
                    lua.load(text.as_str()).set_name(call.source.name).into_function().map_err(|e| e.to_string())?;
                self.chunks.insert(call.source.name, function.clone());
                function
            }
        };
        let ran = lua.scope(|scope| {
            let redis_call = scope.create_function_mut(|lua, args: Variadic<Value>| {
                let mut words = Vec::with_capacity(args.len());
                for arg in args {
                    let text = lua.coerce_string(arg)?.ok_or_else(|| {
                        mlua::Error::runtime("ERR Lua redis lib command arguments must be strings or integers")
                    })?;
                    words.push(text.to_str()?.to_owned());
                }
                let reply = keyspace.call(now, &words, next_id).map_err(mlua::Error::runtime)?;
                to_lua(lua, reply)
            })?;
            let redis = lua.create_table()?;
            redis.set("call", redis_call)?;
            let globals = lua.globals();
            globals.set("redis", redis)?;
            globals.set("KEYS", lua.create_sequence_from(call.keys.iter().map(String::as_str))?)?;
            globals.set("ARGV", lua.create_sequence_from(call.args.iter().map(String::as_str))?)?;
            let answer: Value = function.call(())?;
            from_lua(answer)
        });
        ran.map_err(|e| format!("{} failed: {e}", call.source.name))
    }
}

/// A command's reply as a script sees it: nil as `false`, a status as `{ok = …}`.
fn to_lua(lua: &Lua, reply: Reply) -> mlua::Result<Value> {
    Ok(match reply {
        Reply::Nil => Value::Boolean(false),
        Reply::Int(n) => Value::Number(n as f64),
        Reply::Bulk(text) => Value::String(lua.create_string(&text)?),
        Reply::Status(status) => {
            let table = lua.create_table()?;
            table.set("ok", status)?;
            Value::Table(table)
        }
        Reply::Array(items) => {
            let table = lua.create_table()?;
            for (i, item) in items.into_iter().enumerate() {
                table.raw_set(i + 1, to_lua(lua, item)?)?;
            }
            Value::Table(table)
        }
    })
}

/// A script's answer as Redis sends it: numbers truncated to integers, a table up to its first nil, `false` as nil.
fn from_lua(value: Value) -> mlua::Result<redis::Value> {
    Ok(match value {
        Value::Nil | Value::Boolean(false) => redis::Value::Nil,
        Value::Boolean(true) => redis::Value::Int(1),
        Value::Integer(n) => redis::Value::Int(n as i64),
        Value::Number(n) => redis::Value::Int(n as i64),
        Value::String(text) => redis::Value::BulkString(text.as_bytes().to_vec()),
        Value::Table(table) => {
            if let Ok(Value::String(ok)) = table.raw_get::<Value>("ok") {
                return Ok(redis::Value::SimpleString(ok.to_str()?.to_owned()));
            }
            if let Ok(Value::String(err)) = table.raw_get::<Value>("err") {
                return Err(mlua::Error::runtime(err.to_str()?.to_owned()));
            }
            let mut items = Vec::new();
            for i in 1.. {
                match table.raw_get::<Value>(i)? {
                    Value::Nil => break,
                    item => items.push(from_lua(item)?),
                }
            }
            redis::Value::Array(items)
        }
        other => return Err(mlua::Error::runtime(format!("a script returned {}", other.type_name()))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_patch_of_a_mutation_finds_the_production_text_it_replaces() {
        use crate::matching::cluster::scripts::ALL;
        for (mutation, script, from, _) in PATCHES {
            let source = ALL.iter().find(|s| s.name == *script).unwrap_or_else(|| panic!("no script {script}"));
            assert!(source.text().contains(from), "{mutation:?}: {script} no longer holds {from:?}");
        }
    }
}
