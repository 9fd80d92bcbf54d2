//! The [`EventLog`] operations of [`RedisEventLog`], and reading Redis's
//! stream replies.

use std::time::Duration;

use async_trait::async_trait;
use redis::aio::ConnectionLike;
use redis::Value;

use tokengate::events::Event;
use tokengate::StoreError;

use super::{RedisEventLog, CLAIM, REDRIVE, STATS};
use crate::log::{EventLog, Followed, LogStats, LoggedEvent};
use crate::now_ms;

fn unexpected(what: &str) -> StoreError {
    StoreError::new(format!("unexpected redis reply to {what}"))
}

fn bulk_text(value: &Value) -> Option<String> {
    match value {
        Value::BulkString(bytes) => String::from_utf8(bytes.clone()).ok(),
        Value::SimpleString(text) => Some(text.clone()),
        _ => None,
    }
}

/// The entries of an `XREAD`/`XREADGROUP` reply for one stream.
pub(super) fn entries_of(reply: &Value) -> Option<&[Value]> {
    let Value::Array(streams) = reply else { return None };
    let Value::Array(stream) = streams.first()? else {
        return None;
    };
    match stream.get(1)? {
        Value::Array(entries) => Some(entries),
        _ => None,
    }
}

/// The value of `name` in an entry's field list.
pub(super) fn field<'a>(fields: &'a Value, name: &[u8]) -> Option<&'a [u8]> {
    let Value::Array(fields) = fields else { return None };
    fields.chunks(2).find_map(|pair| match pair {
        [Value::BulkString(key), Value::BulkString(value)] if key == name => Some(value.as_slice()),
        _ => None,
    })
}

/// The id and the field list of an entry (`[id, [field, value, …]]`).
pub(super) fn entry_parts(entry: &Value) -> Option<(String, &Value)> {
    let Value::Array(parts) = entry else { return None };
    match parts.as_slice() {
        [id, fields, ..] => Some((bulk_text(id)?, fields)),
        _ => None,
    }
}

/// The id of an entry.
pub(super) fn entry_id(entry: &Value) -> Option<String> {
    entry_parts(entry).map(|(id, _)| id)
}

fn id_ms(id: &str) -> Option<u64> {
    id.split('-').next()?.parse().ok()
}

fn is_nogroup(error: &StoreError) -> bool {
    error.to_string().contains("NOGROUP")
}

#[async_trait]
impl<C> EventLog for RedisEventLog<C>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    async fn append(&self, events: &[Event]) -> Result<Vec<String>, StoreError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipeline = redis::pipe();
        for event in events {
            let mut command = redis::cmd("XADD");
            command.arg(&*self.stream);
            self.trim_args(&mut command);
            command.arg("*").arg("d").arg(self.codec.encode(event)?);
            pipeline.add_command(command);
        }
        if let Some(min_id) = self.writer.trim_due(now_ms()) {
            pipeline
                .cmd("XTRIM")
                .arg(&*self.stream)
                .arg("MINID")
                .arg("~")
                .arg(min_id)
                .ignore();
        }
        let ids: Vec<String> = self
            .run(self.timeout, self.connection.clone(), |mut c| async move {
                pipeline.query_async(&mut c).await
            })
            .await?;
        Ok(ids)
    }

    async fn read_group(
        &self,
        group: &str,
        consumer: &str,
        count: usize,
        block: Duration,
    ) -> Result<Vec<LoggedEvent>, StoreError> {
        let command = |block: Option<Duration>| {
            let mut command = redis::cmd("XREADGROUP");
            command
                .arg("GROUP")
                .arg(group)
                .arg(consumer)
                .arg("COUNT")
                .arg(count.max(1));
            if let Some(block) = block {
                command.arg("BLOCK").arg(block.as_millis() as u64);
            }
            command.arg("STREAMS").arg(&*self.stream).arg(">");
            command
        };
        self.ensure_group(group).await?;
        let reply = match self.read(block, command).await {
            Err(error) if is_nogroup(&error) => {
                // The stream or the group went away (deleted, a restarted
                // Redis without persistence): create it again, once.
                self.lock_groups().remove(group);
                self.ensure_group(group).await?;
                self.read(block, command).await?
            }
            other => other?,
        };
        let mut read = Vec::new();
        for (id, fields) in entries_of(&reply).unwrap_or_default().iter().filter_map(entry_parts) {
            if let Some(event) = self.decode_or_bury(group, id, fields, 1).await {
                read.push(LoggedEvent::new(event, 1));
            }
        }
        Ok(read)
    }

    async fn claim_stale(
        &self,
        group: &str,
        consumer: &str,
        min_idle: Duration,
        count: usize,
    ) -> Result<Vec<LoggedEvent>, StoreError> {
        let mut call = CLAIM.key(&*self.stream);
        call.arg(group)
            .arg(consumer)
            .arg(min_idle.as_millis() as u64)
            .arg(count.max(1));
        let reply: Value = match self
            .run(self.timeout, self.connection.clone(), |mut c| async move {
                call.invoke_async(&mut c).await
            })
            .await
        {
            Err(error) if is_nogroup(&error) => return Ok(Vec::new()),
            other => other?,
        };
        let Value::Array(claimed) = reply else {
            return Err(unexpected("claim"));
        };
        let mut read = Vec::new();
        for item in &claimed {
            let Value::Array(parts) = item else { continue };
            let [id, fields, deliveries] = parts.as_slice() else {
                continue;
            };
            let Some(id) = bulk_text(id) else { continue };
            let deliveries = match deliveries {
                Value::Int(n) => u64::try_from(*n).unwrap_or(1),
                _ => 1,
            };
            if let Some(event) = self.decode_or_bury(group, id, fields, deliveries).await {
                read.push(LoggedEvent::new(event, deliveries));
            }
        }
        Ok(read)
    }

    async fn ack(&self, group: &str, ids: &[String]) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut command = redis::cmd("XACK");
        command.arg(&*self.stream).arg(group).arg(ids);
        match self.query::<i64>(command).await {
            Err(error) if is_nogroup(&error) => Ok(()),
            other => other.map(|_| ()),
        }
    }

    async fn dead_letter(&self, group: &str, event: &LoggedEvent, reason: &str) -> Result<(), StoreError> {
        let payload = self.codec.encode(&event.event)?;
        self.move_to_dead(group, &event.event.id, &payload, event.deliveries, reason)
            .await
    }

    async fn dead_letters(&self, count: usize) -> Result<Vec<LoggedEvent>, StoreError> {
        let mut command = redis::cmd("XRANGE");
        command
            .arg(&*self.dead)
            .arg("-")
            .arg("+")
            .arg("COUNT")
            .arg(count.max(1));
        let reply: Value = self.query(command).await?;
        let Value::Array(entries) = reply else {
            return Err(unexpected("XRANGE"));
        };
        Ok(entries
            .iter()
            .filter_map(entry_parts)
            .filter_map(|(id, fields)| {
                let deliveries = field(fields, b"n")
                    .and_then(|n| std::str::from_utf8(n).ok()?.parse().ok())
                    .unwrap_or(0);
                let event = self.decode(id, fields)?;
                let reason = field(fields, b"r").map(|r| String::from_utf8_lossy(r).into_owned());
                Some(LoggedEvent {
                    reason,
                    ..LoggedEvent::new(event, deliveries)
                })
            })
            .collect())
    }

    async fn redrive(&self, id: &str) -> Result<Option<String>, StoreError> {
        let mut call = REDRIVE.key(&*self.stream);
        call.key(&*self.dead).arg(id).arg(self.config.max_len.max(1));
        self.run(self.timeout, self.connection.clone(), |mut c| async move {
            call.invoke_async::<Option<String>>(&mut c).await
        })
        .await
    }

    async fn read_after(&self, after: Option<&str>, count: usize, block: Duration) -> Result<Followed, StoreError> {
        let after = match after {
            Some(id) => id.to_owned(),
            None => {
                let mut command = redis::cmd("XREVRANGE");
                command.arg(&*self.stream).arg("+").arg("-").arg("COUNT").arg(1);
                let reply: Value = self.query(command).await?;
                match reply {
                    Value::Array(entries) => entries.first().and_then(entry_id),
                    _ => None,
                }
                .unwrap_or_else(|| "0-0".to_owned())
            }
        };
        let command = |block: Option<Duration>| {
            let mut command = redis::cmd("XREAD");
            command.arg("COUNT").arg(count.max(1));
            if let Some(block) = block {
                command.arg("BLOCK").arg(block.as_millis() as u64);
            }
            command.arg("STREAMS").arg(&*self.stream).arg(&after);
            command
        };
        let reply = self.read(block, command).await?;
        let entries = entries_of(&reply).unwrap_or_default();
        Ok(Followed {
            events: self.decode_entries(entries),
            last_id: entries.last().and_then(entry_id),
        })
    }

    async fn stats(&self, group: &str) -> Result<LogStats, StoreError> {
        let mut call = STATS.key(&*self.stream);
        call.key(&*self.dead).arg(group);
        let reply: Vec<Value> = self
            .run(self.timeout, self.connection.clone(), |mut c| async move {
                call.invoke_async(&mut c).await
            })
            .await?;
        let int = |value: Option<&Value>| match value {
            Some(Value::Int(n)) => u64::try_from(*n).unwrap_or(0),
            _ => 0,
        };
        let oldest = reply.get(2).and_then(bulk_text).and_then(|id| id_ms(&id));
        let now = u64::try_from(now_ms()).unwrap_or(0);
        Ok(LogStats {
            len: int(reply.first()),
            pending: int(reply.get(1)),
            oldest_unacknowledged: oldest.map_or(Duration::ZERO, |ms| Duration::from_millis(now.saturating_sub(ms))),
            dead: int(reply.get(3)),
        })
    }
}
