//! The event bus over Redis Streams (spec §4.1), used when `REDIS_URL` is
//! set, so several EXITON instances share one bus.
//!
//! Keys (`<prefix>` is `exiton` in production):
//! * `<prefix>:events:<aggregate>` — every event, by aggregate type
//!   (`users`, `projects`, `tasks`, `ai_sessions`, `human_reviews`,
//!   `budgets`); consumer groups read these.
//! * `<prefix>:project:<project_id>:events` — a project's events, for live
//!   views; written when the event has a project.
//!
//! Entry ids are `<sequence>-0`, not `*`. Redis refuses an id that is not
//! above the stream's last one, which makes publishing idempotent: a
//! relay that publishes a batch again (after a crash, or because another
//! instance got there first) is refused and counts the event as published.
//! It also keeps every stream free of holes — each publisher adds in
//! ascending order, so an id is only ever refused when it or a later one
//! is already there — and lets a reader resume from a sequence: entries
//! after `<n>-0` are exactly the events after `n`. Every stream is capped
//! with `MAXLEN ~` (Redis trims whole nodes, so a little over the cap).
//!
//! Consumer groups (`notifications`, `analytics`, `audit`) are created at
//! `0` with `MKSTREAM` on every aggregate stream when the bus connects, so
//! they receive events published before anyone joins; any other group (a
//! reaction's own) is created the same way when it is first joined, and so
//! starts from the oldest entry the streams retain. A consumer reads its
//! own pending entries first (`XREADGROUP … 0`, after a restart), takes over
//! entries idle longer than the claim timeout (`XAUTOCLAIM`), then reads new
//! ones (`XREADGROUP … >`, blocking). Entries stay pending until `XACK`.
//!
//! Blocking reads hold their connection, so every consumer and feed gets a
//! connection of its own; the publisher shares one. Connections are
//! `ConnectionManager`s and reconnect by themselves.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use async_trait::async_trait;
use domain::events::{
    AggregateType, BusError, ConsumerGroup, Delivery, DeliveryTag, EventFeed, EventPublisher,
    EventSubscriber, FeedScope, GroupConsumer, StoredEvent,
};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{RedisError, Value};
use tokio::time::Instant;
use uuid::Uuid;

use super::BusSettings;

/// Every aggregate type, each with its stream. Kept beside the exhaustive
/// `match` in [`aggregate_stream`], which fails to compile when a type is
/// added; add it here then too.
const AGGREGATES: [AggregateType; 6] = [
    AggregateType::User,
    AggregateType::Project,
    AggregateType::Task,
    AggregateType::AiSession,
    AggregateType::Review,
    AggregateType::Budget,
];

/// The stream name of an aggregate type (spec §4.1 names the first ones).
fn aggregate_stream(aggregate: AggregateType) -> &'static str {
    match aggregate {
        AggregateType::User => "users",
        AggregateType::Project => "projects",
        AggregateType::Task => "tasks",
        AggregateType::AiSession => "ai_sessions",
        AggregateType::Review => "human_reviews",
        AggregateType::Budget => "budgets",
    }
}

/// Margin over a blocking read's own timeout before the client gives up on
/// the reply.
const REPLY_MARGIN: Duration = Duration::from_secs(5);

/// The Redis Streams bus.
pub struct RedisStreamsBus {
    client: redis::Client,
    publisher: ConnectionManager,
    prefix: String,
    settings: BusSettings,
}

impl RedisStreamsBus {
    /// Connects to `url`, with keys under `prefix`, and creates the consumer
    /// groups.
    ///
    /// # Errors
    /// `Unavailable` when Redis cannot be reached; `Unexpected` when `url`
    /// is malformed or Redis refuses to create a group.
    pub async fn connect(url: &str, prefix: &str, settings: BusSettings) -> Result<Self, BusError> {
        let client = redis::Client::open(url).map_err(|e| BusError::Unexpected(Box::new(e)))?;
        let publisher = connection(&client, Duration::ZERO).await?;
        let bus = Self {
            client,
            publisher,
            prefix: prefix.to_owned(),
            settings,
        };
        for group in &ConsumerGroup::ALL {
            bus.ensure_group(group).await?;
        }
        Ok(bus)
    }

    /// The key of an aggregate type's stream.
    pub fn aggregate_key(&self, aggregate: AggregateType) -> String {
        format!("{}:events:{}", self.prefix, aggregate_stream(aggregate))
    }

    /// The key of a project's stream.
    pub fn project_key(&self, project_id: Uuid) -> String {
        format!("{}:project:{project_id}:events", self.prefix)
    }

    fn aggregate_keys(&self) -> Vec<String> {
        AGGREGATES.iter().map(|&a| self.aggregate_key(a)).collect()
    }

    /// Creates `group` (from the start, `MKSTREAM`) on every aggregate
    /// stream where it is missing.
    async fn ensure_group(&self, group: &ConsumerGroup) -> Result<(), BusError> {
        let mut pipe = redis::pipe();
        pipe.ignore_errors();
        for key in self.aggregate_keys() {
            pipe.cmd("XGROUP")
                .arg("CREATE")
                .arg(key)
                .arg(group.as_str())
                .arg("0")
                .arg("MKSTREAM");
        }
        let replies: Vec<Value> = pipe
            .query_async(&mut self.publisher.clone())
            .await
            .map_err(bus_error)?;
        for reply in replies {
            if let Value::ServerError(e) = reply
                && e.code() != "BUSYGROUP"
            {
                return Err(BusError::Unexpected(
                    format!("XGROUP CREATE {group}: {} {:?}", e.code(), e.details()).into(),
                ));
            }
        }
        Ok(())
    }

    fn xadd(&self, pipe: &mut redis::Pipeline, key: String, event: &StoredEvent, payload: &str) {
        let cmd = pipe
            .cmd("XADD")
            .arg(key)
            .arg("MAXLEN")
            .arg("~")
            .arg(self.settings.max_len)
            .arg(entry_id(event.sequence))
            .arg("sequence")
            .arg(event.sequence)
            .arg("event_type")
            .arg(event.envelope.event.type_name())
            .arg("aggregate_type")
            .arg(event.envelope.aggregate_type.as_str())
            .arg("aggregate_id")
            .arg(event.envelope.aggregate_id.to_string())
            .arg("timestamp")
            .arg(event.envelope.timestamp.to_rfc3339());
        if let Some(project) = event.project_id {
            cmd.arg("project_id").arg(project.to_string());
        }
        cmd.arg("payload").arg(payload);
    }
}

/// A connection of its own; `block` is the longest blocking read it will
/// make, so the client waits that long (plus a margin) for a reply.
async fn connection(
    client: &redis::Client,
    block: Duration,
) -> Result<ConnectionManager, BusError> {
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(5)))
        .set_response_timeout(Some(block + REPLY_MARGIN));
    ConnectionManager::new_with_config(client.clone(), config)
        .await
        .map_err(bus_error)
}

fn bus_error(e: RedisError) -> BusError {
    if e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal() || e.is_timeout() {
        BusError::Unavailable(Box::new(e))
    } else {
        BusError::Unexpected(Box::new(e))
    }
}

fn entry_id(sequence: i64) -> String {
    format!("{sequence}-0")
}

/// The sequence of one of our entry ids (`<sequence>-0`).
fn sequence_of(id: &str) -> Option<i64> {
    id.split_once('-')?.0.parse().ok()
}

/// An entry id as a comparable pair.
fn id_pair(id: &str) -> (u64, u64) {
    let (ms, seq) = id.split_once('-').unwrap_or((id, "0"));
    (ms.parse().unwrap_or(0), seq.parse().unwrap_or(0))
}

/// The `XADD` refusal that means "already published": the stream already
/// holds this id or a later one.
fn is_already_published(e: &redis::ServerError) -> bool {
    e.details()
        .is_some_and(|d| d.contains("equal or smaller than the target stream top item"))
}

#[async_trait]
impl EventPublisher for RedisStreamsBus {
    async fn publish(&self, events: &[StoredEvent]) -> Result<(), BusError> {
        if events.is_empty() {
            return Ok(());
        }
        // One pipeline, in order: Redis runs a connection's commands in the
        // order sent, so an event is added (or refused as present) before
        // any later one is — the no-holes argument in the module doc.
        let mut pipe = redis::pipe();
        pipe.ignore_errors();
        for event in events {
            let payload =
                serde_json::to_string(event).map_err(|e| BusError::Unexpected(Box::new(e)))?;
            self.xadd(
                &mut pipe,
                self.aggregate_key(event.envelope.aggregate_type),
                event,
                &payload,
            );
            if let Some(project) = event.project_id {
                self.xadd(&mut pipe, self.project_key(project), event, &payload);
            }
        }
        let replies: Vec<Value> = pipe
            .query_async(&mut self.publisher.clone())
            .await
            .map_err(bus_error)?;
        for reply in replies {
            if let Value::ServerError(e) = reply
                && !is_already_published(&e)
            {
                return Err(BusError::Unexpected(
                    format!("XADD: {} {:?}", e.code(), e.details()).into(),
                ));
            }
        }
        Ok(())
    }
}

#[async_trait]
impl EventSubscriber for RedisStreamsBus {
    async fn join(
        &self,
        group: ConsumerGroup,
        consumer: &str,
    ) -> Result<Box<dyn GroupConsumer>, BusError> {
        self.ensure_group(&group).await?;
        let streams = self.aggregate_keys();
        Ok(Box::new(RedisConsumer {
            con: connection(&self.client, self.settings.block).await?,
            group,
            name: consumer.to_owned(),
            history: Some(vec!["0".to_owned(); streams.len()]),
            claim_from: vec!["0-0".to_owned(); streams.len()],
            last_claim: None,
            streams,
            settings: self.settings.clone(),
        }))
    }

    async fn follow(
        &self,
        scope: FeedScope,
        after: Option<i64>,
    ) -> Result<Box<dyn EventFeed>, BusError> {
        let streams = match scope {
            FeedScope::All => self.aggregate_keys(),
            FeedScope::Project(id) => vec![self.project_key(id)],
        };
        let mut con = connection(&self.client, self.settings.block).await?;
        // One transaction, so "now" is one instant across the streams:
        // otherwise an event added between two reads could be skipped
        // while a later one is delivered.
        let mut pipe = redis::pipe();
        pipe.atomic().ignore_errors();
        for key in &streams {
            pipe.cmd("XINFO").arg("STREAM").arg(key);
        }
        let infos: Vec<Value> = pipe.query_async(&mut con).await.map_err(bus_error)?;
        let mut ids = Vec::with_capacity(streams.len());
        for info in infos {
            // A missing stream (an error here) has no entries yet.
            let fields = stream_info(info);
            match after {
                None => ids.push(
                    fields
                        .get("last-generated-id")
                        .cloned()
                        .unwrap_or_else(|| "0-0".to_owned()),
                ),
                Some(after) => {
                    if trimmed_after(&fields, after) {
                        return Err(BusError::Lagged { after });
                    }
                    ids.push(entry_id(after));
                }
            }
        }
        Ok(Box::new(RedisFeed {
            con,
            streams,
            ids,
            buffer: BTreeMap::new(),
            ready_through: i64::MAX,
            settings: self.settings.clone(),
        }))
    }
}

/// Whether trimming may have removed an entry after sequence `after` (Redis
/// 7 reports what is needed; older servers are trusted). Trimming removes
/// from the front, so the removed entries are exactly those before the
/// first one kept; if that is further than the next sequence, some removed
/// entry may lie after `after` — said conservatively: the caller merely
/// re-reads the table.
fn trimmed_after(info: &HashMap<String, String>, after: i64) -> bool {
    let number = |k: &str| info.get(k).and_then(|v| v.parse::<u64>().ok());
    let (Some(length), Some(added)) = (number("length"), number("entries-added")) else {
        return false;
    };
    if added <= length {
        return false;
    }
    let first_kept = if length == 0 {
        // Everything was removed: up to the last id ever added.
        info.get("last-generated-id")
            .map(|id| (id_pair(id).0.saturating_add(1), 0))
    } else {
        info.get("recorded-first-entry-id").map(|id| id_pair(id))
    };
    let next = u64::try_from(after.saturating_add(1)).unwrap_or(0);
    first_kept.is_some_and(|first| first > (next, 0))
}

/// The string- and number-valued fields of an `XINFO STREAM` reply.
fn stream_info(info: Value) -> HashMap<String, String> {
    let pairs: Vec<(Value, Value)> = match info {
        Value::Map(pairs) => pairs,
        Value::Array(flat) => {
            let mut it = flat.into_iter();
            let mut pairs = Vec::new();
            while let (Some(k), Some(v)) = (it.next(), it.next()) {
                pairs.push((k, v));
            }
            pairs
        }
        _ => Vec::new(),
    };
    pairs
        .into_iter()
        .filter_map(|(k, v)| Some((text(k)?, text(v)?)))
        .collect()
}

fn text(v: Value) -> Option<String> {
    match v {
        Value::BulkString(b) => String::from_utf8(b).ok(),
        Value::SimpleString(s) => Some(s),
        Value::Int(n) => Some(n.to_string()),
        _ => None,
    }
}

/// One entry of a stream reply. `payload` is `None` for an entry deleted
/// (trimmed) while pending, or one without our `payload` field.
struct Entry {
    stream: String,
    id: String,
    payload: Option<Vec<u8>>,
}

/// The entries of an `XREAD`/`XREADGROUP` reply (nil: none), either as
/// RESP2 arrays or RESP3 maps.
fn read_reply(reply: Value) -> Vec<Entry> {
    let streams: Vec<(Value, Value)> = match reply {
        Value::Map(pairs) => pairs,
        Value::Array(items) => items
            .into_iter()
            .filter_map(|item| match item {
                Value::Array(pair) => {
                    let mut it = pair.into_iter();
                    Some((it.next()?, it.next()?))
                }
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    streams
        .into_iter()
        .filter_map(|(key, entries)| Some((text(key)?, entries)))
        .flat_map(|(stream, entries)| entries_of(&stream, entries))
        .collect()
}

fn entries_of(stream: &str, entries: Value) -> Vec<Entry> {
    let Value::Array(entries) = entries else {
        return Vec::new();
    };
    entries
        .into_iter()
        .filter_map(|entry| {
            let Value::Array(parts) = entry else {
                // Redis 6.2's XAUTOCLAIM answers nil for a deleted entry,
                // without its id; Redis removes it from the PEL itself.
                return None;
            };
            let mut parts = parts.into_iter();
            let id = text(parts.next()?)?;
            let payload = match parts.next() {
                Some(Value::Array(fields)) => {
                    let mut it = fields.into_iter();
                    let mut payload = None;
                    while let (Some(k), Some(v)) = (it.next(), it.next()) {
                        if text(k).as_deref() == Some("payload")
                            && let Value::BulkString(b) = v
                        {
                            payload = Some(b);
                        }
                    }
                    payload
                }
                Some(Value::Map(fields)) => {
                    fields
                        .into_iter()
                        .find_map(|(k, v)| match (text(k).as_deref(), v) {
                            (Some("payload"), Value::BulkString(b)) => Some(b),
                            _ => None,
                        })
                }
                _ => None,
            };
            Some(Entry {
                stream: stream.to_owned(),
                id,
                payload,
            })
        })
        .collect()
}

/// The event an entry carries, if it decodes and its id agrees.
fn decode(entry: &Entry) -> Option<StoredEvent> {
    let payload = entry.payload.as_deref()?;
    match serde_json::from_slice::<StoredEvent>(payload) {
        Ok(event) if sequence_of(&entry.id) == Some(event.sequence) => Some(event),
        Ok(event) => {
            tracing::warn!(stream = %entry.stream, id = %entry.id, sequence = event.sequence,
                "bus entry id does not match its event; left pending");
            None
        }
        Err(e) => {
            // Likely written by a newer EXITON during a rolling upgrade: left
            // pending, so a consumer that understands it can claim it.
            tracing::warn!(stream = %entry.stream, id = %entry.id, error = %e,
                "bus entry does not decode; left pending");
            None
        }
    }
}

/// One consumer of a group, over the aggregate streams.
struct RedisConsumer {
    con: ConnectionManager,
    group: ConsumerGroup,
    name: String,
    streams: Vec<String>,
    /// While replaying this consumer's own pending entries: the last id
    /// replayed per stream. `None` once done.
    history: Option<Vec<String>>,
    /// `XAUTOCLAIM` scan position per stream.
    claim_from: Vec<String>,
    last_claim: Option<Instant>,
    settings: BusSettings,
}

impl RedisConsumer {
    /// Entries to deliver from `entries`; those deleted while pending are
    /// acknowledged so they stop coming back.
    async fn deliveries(
        &mut self,
        entries: Vec<Entry>,
        redelivered: bool,
    ) -> Result<Vec<Delivery>, BusError> {
        let mut out = Vec::new();
        let mut gone = Vec::new();
        for entry in entries {
            if entry.payload.is_none() {
                gone.push((entry.stream, entry.id));
                continue;
            }
            if let Some(event) = decode(&entry) {
                out.push(Delivery {
                    tag: DeliveryTag {
                        source: entry.stream,
                        sequence: event.sequence,
                    },
                    event,
                    redelivered,
                });
            }
        }
        if !gone.is_empty() {
            let mut pipe = redis::pipe();
            for (stream, id) in gone {
                pipe.cmd("XACK")
                    .arg(stream)
                    .arg(self.group.as_str())
                    .arg(id)
                    .ignore();
            }
            let () = pipe.query_async(&mut self.con).await.map_err(bus_error)?;
        }
        out.sort_by_key(|d| d.event.sequence);
        Ok(out)
    }

    /// `XREADGROUP` from `ids` (one per stream), re-creating the group once
    /// if Redis lost it (a restart without persistence).
    async fn read_group(
        &mut self,
        ids: &[String],
        max: usize,
        block: Option<Duration>,
    ) -> Result<Vec<Entry>, BusError> {
        let mut cmd = redis::cmd("XREADGROUP");
        cmd.arg("GROUP")
            .arg(self.group.as_str())
            .arg(&self.name)
            .arg("COUNT")
            .arg(max);
        if let Some(block) = block {
            cmd.arg("BLOCK")
                .arg(u64::try_from(block.as_millis()).unwrap_or(u64::MAX).max(1));
        }
        cmd.arg("STREAMS").arg(&self.streams).arg(ids);
        let reply = match cmd.query_async::<Value>(&mut self.con).await {
            Err(e) if e.code() == Some("NOGROUP") => {
                self.recreate_group().await?;
                cmd.query_async::<Value>(&mut self.con)
                    .await
                    .map_err(bus_error)?
            }
            other => other.map_err(bus_error)?,
        };
        Ok(read_reply(reply))
    }

    async fn recreate_group(&mut self) -> Result<(), BusError> {
        let mut pipe = redis::pipe();
        pipe.ignore_errors();
        for key in &self.streams {
            pipe.cmd("XGROUP")
                .arg("CREATE")
                .arg(key)
                .arg(self.group.as_str())
                .arg("0")
                .arg("MKSTREAM")
                .ignore();
        }
        let () = pipe.query_async(&mut self.con).await.map_err(bus_error)?;
        Ok(())
    }

    /// Own pending entries, after a (re)join.
    async fn replay_history(&mut self, max: usize) -> Result<Vec<Delivery>, BusError> {
        while let Some(ids) = self.history.clone() {
            let entries = self.read_group(&ids, max, None).await?;
            if entries.is_empty() {
                self.history = None;
                break;
            }
            if let Some(history) = self.history.as_mut() {
                for entry in &entries {
                    if let Some(i) = self.streams.iter().position(|s| *s == entry.stream)
                        && let Some(slot) = history.get_mut(i)
                    {
                        slot.clone_from(&entry.id);
                    }
                }
            }
            let out = self.deliveries(entries, true).await?;
            if !out.is_empty() {
                return Ok(out);
            }
        }
        Ok(Vec::new())
    }

    /// Entries other consumers (or this one) left pending too long.
    async fn claim_idle(&mut self, max: usize) -> Result<Vec<Delivery>, BusError> {
        let idle = self.settings.claim_idle;
        // Scanning every pending list on every call would cost a round trip
        // per stream per read; twice per idle timeout is soon enough.
        if self
            .last_claim
            .is_some_and(|at| at.elapsed() < (idle / 2).max(Duration::from_millis(10)))
        {
            return Ok(Vec::new());
        }
        self.last_claim = Some(Instant::now());
        let mut pipe = redis::pipe();
        for (key, from) in self.streams.iter().zip(&self.claim_from) {
            pipe.cmd("XAUTOCLAIM")
                .arg(key)
                .arg(self.group.as_str())
                .arg(&self.name)
                .arg(u64::try_from(idle.as_millis()).unwrap_or(u64::MAX))
                .arg(from)
                .arg("COUNT")
                .arg(max);
        }
        let replies: Vec<Value> = match pipe.query_async(&mut self.con).await {
            Err(e) if e.code() == Some("NOGROUP") => {
                self.recreate_group().await?;
                return Ok(Vec::new());
            }
            other => other.map_err(bus_error)?,
        };
        let mut entries = Vec::new();
        for (i, reply) in replies.into_iter().enumerate() {
            let Value::Array(parts) = reply else {
                continue;
            };
            let mut parts = parts.into_iter();
            let (Some(next), Some(claimed)) = (parts.next(), parts.next()) else {
                continue;
            };
            if let (Some(next), Some(slot)) = (text(next), self.claim_from.get_mut(i)) {
                *slot = next;
            }
            if let Some(stream) = self.streams.get(i) {
                entries.extend(entries_of(stream, claimed));
            }
        }
        self.deliveries(entries, true).await
    }
}

#[async_trait]
impl GroupConsumer for RedisConsumer {
    async fn next(&mut self, max: usize) -> Result<Vec<Delivery>, BusError> {
        let max = max.max(1);
        if self.history.is_some() {
            let replayed = self.replay_history(max).await?;
            if !replayed.is_empty() {
                return Ok(replayed);
            }
        }
        let claimed = self.claim_idle(max).await?;
        if !claimed.is_empty() {
            return Ok(claimed);
        }
        let ids = vec![">".to_owned(); self.streams.len()];
        let entries = self
            .read_group(&ids, max, Some(self.settings.block))
            .await?;
        self.deliveries(entries, false).await
    }

    async fn ack(&mut self, tags: &[DeliveryTag]) -> Result<(), BusError> {
        if tags.is_empty() {
            return Ok(());
        }
        let mut by_stream: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for tag in tags {
            by_stream
                .entry(tag.source.as_str())
                .or_default()
                .push(entry_id(tag.sequence));
        }
        let mut pipe = redis::pipe();
        for (stream, ids) in by_stream {
            pipe.cmd("XACK")
                .arg(stream)
                .arg(self.group.as_str())
                .arg(ids)
                .ignore();
        }
        let () = pipe.query_async(&mut self.con).await.map_err(bus_error)?;
        Ok(())
    }
}

/// A live tail of one or more streams, merged into sequence order.
struct RedisFeed {
    con: ConnectionManager,
    streams: Vec<String>,
    /// The last id read per stream.
    ids: Vec<String>,
    /// Read but not yet handed out: beyond `ready_through`, or over `max`.
    buffer: BTreeMap<i64, StoredEvent>,
    /// Events up to here may be handed out: every stream has been read past
    /// it. A read that filled its `COUNT` on some stream only vouches for
    /// that stream up to the last entry it returned; an event buffered from
    /// another stream beyond that must wait, or it could overtake an
    /// earlier one still unread there.
    ready_through: i64,
    settings: BusSettings,
}

impl RedisFeed {
    fn drain(&mut self, max: usize) -> Vec<StoredEvent> {
        let mut out = Vec::new();
        while out.len() < max {
            match self.buffer.first_key_value() {
                Some((&sequence, _)) if sequence <= self.ready_through => {
                    if let Some((_, event)) = self.buffer.pop_first() {
                        out.push(event);
                    }
                }
                _ => break,
            }
        }
        out
    }
}

#[async_trait]
impl EventFeed for RedisFeed {
    async fn next(&mut self, max: usize) -> Result<Vec<StoredEvent>, BusError> {
        let max = max.max(1);
        let ready = self.drain(max);
        if !ready.is_empty() {
            return Ok(ready);
        }
        let mut cmd = redis::cmd("XREAD");
        cmd.arg("COUNT")
            .arg(max)
            .arg("BLOCK")
            .arg(
                u64::try_from(self.settings.block.as_millis())
                    .unwrap_or(u64::MAX)
                    .max(1),
            )
            .arg("STREAMS")
            .arg(&self.streams)
            .arg(&self.ids);
        let reply: Value = cmd.query_async(&mut self.con).await.map_err(bus_error)?;
        let mut per_stream: HashMap<String, usize> = HashMap::new();
        let mut last_of: HashMap<String, i64> = HashMap::new();
        for entry in read_reply(reply) {
            if let Some(i) = self.streams.iter().position(|s| *s == entry.stream)
                && let Some(slot) = self.ids.get_mut(i)
            {
                slot.clone_from(&entry.id);
            }
            *per_stream.entry(entry.stream.clone()).or_default() += 1;
            if let Some(sequence) = sequence_of(&entry.id) {
                last_of.insert(entry.stream.clone(), sequence);
            }
            if let Some(event) = decode(&entry) {
                self.buffer.insert(event.sequence, event);
            }
        }
        self.ready_through = per_stream
            .iter()
            .filter(|&(_, &n)| n >= max)
            .filter_map(|(stream, _)| last_of.get(stream).copied())
            .min()
            .unwrap_or(i64::MAX);
        Ok(self.drain(max))
    }
}
