//! The series computed when Prometheus scrapes, from the broker's own state: backlog per group
//! (the same figures `lockgate group describe` shows), queue bounds, storage, delay and plugin
//! counters. Blocking (it reads queue bounds and index entries), so the endpoint runs it on
//! the blocking pool. Nothing here is touched per message.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

use super::*;
use crate::broker::Broker;
use crate::protocol::TxnPhase;

/// What a scrape reads.
pub struct Scraper {
    pub broker: Arc<Broker>,
    /// Backlog and queue series per queue (else per topic).
    pub per_queue: bool,
    pub data_dir: PathBuf,
    /// How long opening the store took at start.
    pub recovery_seconds: f64,
}

/// Prometheus text: a family's HELP and TYPE, then its samples.
struct Text {
    out: String,
}

type Labels = Vec<(&'static str, String)>;
/// One sample: label pairs and a value.
type Sample = (Labels, f64);
/// One histogram series: label pairs and a [`Buckets::snapshot`].
type HistogramSample = (Labels, (Vec<u64>, u64, f64));

impl Text {
    fn family(&mut self, name: &str, samples: &[Sample]) {
        let kind = DESCRIPTIONS
            .iter()
            .find(|(n, _, _)| *n == name)
            .map_or("untyped", |(_, k, _)| k.name());
        let _ = writeln!(self.out, "# HELP {name} {}", help_of(name));
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
        for (labels, value) in samples {
            self.out.push_str(name);
            if !labels.is_empty() {
                self.out.push('{');
                for (i, (k, v)) in labels.iter().enumerate() {
                    if i > 0 {
                        self.out.push(',');
                    }
                    let _ = write!(self.out, "{k}=\"{}\"", escape(v));
                }
                self.out.push('}');
            }
            let _ = writeln!(self.out, " {value}");
        }
    }
}

impl Text {
    /// A histogram family from [`Buckets`] snapshots: cumulative `_bucket` series per bound
    /// and `+Inf`, then `_sum` and `_count`.
    fn histogram(&mut self, name: &str, series: &[HistogramSample]) {
        let _ = writeln!(self.out, "# HELP {name} {}", help_of(name));
        let _ = writeln!(self.out, "# TYPE {name} histogram");
        for (labels, (cumulative, count, sum)) in series {
            let mut base = String::new();
            for (k, v) in labels {
                let _ = write!(base, "{k}=\"{}\",", escape(v));
            }
            let bounds = BUCKETS
                .iter()
                .map(|b| b.to_string())
                .chain(["+Inf".to_string()]);
            for (le, c) in bounds.zip(cumulative) {
                let _ = writeln!(self.out, "{name}_bucket{{{base}le=\"{le}\"}} {c}");
            }
            let base = base.trim_end_matches(',');
            let braces = |b: &str| {
                if b.is_empty() {
                    String::new()
                } else {
                    format!("{{{b}}}")
                }
            };
            let _ = writeln!(self.out, "{name}_sum{} {sum}", braces(base));
            let _ = writeln!(self.out, "{name}_count{} {count}", braces(base));
        }
    }
}

/// A label value as the text format wants it.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// One group's backlog on one queue (or topic).
#[derive(Default, Clone, Copy)]
struct Backlog {
    lag: u64,
    lag_seconds: f64,
    ready: u64,
    in_flight: u64,
    retrying: u64,
}

impl Backlog {
    /// Instances of a broadcasting group (and queues of a topic) add up; the lag age is the
    /// oldest.
    fn add(&mut self, o: &Backlog) {
        self.lag += o.lag;
        self.lag_seconds = self.lag_seconds.max(o.lag_seconds);
        self.ready += o.ready;
        self.in_flight += o.in_flight;
        self.retrying += o.retrying;
    }
}

impl Scraper {
    /// Renders every scraped series (blocking).
    pub fn render(&self) -> String {
        let mut t = Text { out: String::new() };
        self.backlog(&mut t);
        self.queues(&mut t);
        self.storage(&mut t);
        self.delay(&mut t);
        self.transactions(&mut t);
        self.plugins(&mut t);
        t.out
    }

    fn backlog(&self, t: &mut Text) {
        let groups = self.broker.groups();
        let now = groups.clock().now_ms();
        // (group, topic, queue) → backlog; queue None when not per queue.
        let mut rows: BTreeMap<(String, String, Option<u32>), Backlog> = BTreeMap::new();
        let mut members = Vec::new();
        for summary in groups.list() {
            let Ok(info) = groups.describe(&summary.name) else {
                continue; // deleted meanwhile
            };
            members.push((
                vec![("group", info.name.clone())],
                info.members.len() as f64,
            ));
            for p in &info.progress {
                let b = Backlog {
                    lag: p.end.saturating_sub(p.acked),
                    lag_seconds: if p.oldest_unacked_at > 0 {
                        seconds_between(p.oldest_unacked_at, now)
                    } else {
                        0.0
                    },
                    ready: p.ready,
                    in_flight: p.in_flight,
                    retrying: p.retrying,
                };
                let queue = self.per_queue.then_some(p.queue);
                rows.entry((info.name.clone(), p.topic.clone(), queue))
                    .or_default()
                    .add(&b);
            }
        }
        let series = |f: &dyn Fn(&Backlog) -> f64| -> Vec<Sample> {
            rows.iter()
                .map(|((g, topic, q), b)| {
                    let mut labels = vec![("group", g.clone()), ("topic", topic.clone())];
                    if let Some(q) = q {
                        labels.push(("queue", q.to_string()));
                    }
                    (labels, f(b))
                })
                .collect()
        };
        t.family(GROUP_LAG_MESSAGES, &series(&|b| b.lag as f64));
        t.family(GROUP_LAG_SECONDS, &series(&|b| b.lag_seconds));
        t.family(GROUP_READY_MESSAGES, &series(&|b| b.ready as f64));
        t.family(GROUP_IN_FLIGHT_MESSAGES, &series(&|b| b.in_flight as f64));
        t.family(GROUP_RETRYING_MESSAGES, &series(&|b| b.retrying as f64));
        t.family(GROUP_MEMBERS, &members);
        let mut delivery = Vec::new();
        let mut ack = Vec::new();
        groups.latencies(|name, d, a| {
            delivery.push((vec![("group", name.to_string())], d.snapshot()));
            ack.push((vec![("group", name.to_string())], a.snapshot()));
        });
        t.histogram(GROUP_DELIVERY_LATENCY_SECONDS, &delivery);
        t.histogram(GROUP_ACK_LATENCY_SECONDS, &ack);
    }

    fn queues(&self, t: &mut Text) {
        let store = self.broker.store();
        let mut stored = Vec::new();
        let mut first = Vec::new();
        let mut next = Vec::new();
        for meta in store.list_topics() {
            let Ok(info) = store.describe_topic(meta.name.as_str()) else {
                continue;
            };
            let topic = meta.name.to_string();
            if !self.per_queue {
                let n: u64 = info.queues.iter().map(|q| q.next - q.earliest).sum();
                stored.push((vec![("topic", topic)], n as f64));
                continue;
            }
            for (i, q) in info.queues.iter().enumerate() {
                let labels = vec![("topic", topic.clone()), ("queue", i.to_string())];
                stored.push((labels.clone(), (q.next - q.earliest) as f64));
                first.push((labels.clone(), q.earliest as f64));
                next.push((labels, q.next as f64));
            }
        }
        t.family(QUEUE_MESSAGES, &stored);
        if self.per_queue {
            t.family(QUEUE_FIRST_OFFSET, &first);
            t.family(QUEUE_NEXT_OFFSET, &next);
        }
    }

    fn storage(&self, t: &mut Text) {
        let s = self.broker.store().stats();
        let one = |v: f64| vec![(Vec::new(), v)];
        t.family(STORAGE_APPENDED_RECORDS_TOTAL, &one(s.records as f64));
        t.family(STORAGE_APPENDED_BYTES_TOTAL, &one(s.bytes as f64));
        t.family(STORAGE_SEGMENTS, &one(s.segments as f64));
        t.family(STORAGE_LOG_BYTES, &one(s.log_bytes as f64));
        if let Some((free, size)) = disk_space(&self.data_dir) {
            t.family(STORAGE_DISK_FREE_BYTES, &one(free as f64));
            t.family(STORAGE_DISK_SIZE_BYTES, &one(size as f64));
        }
        t.family(STORAGE_RECOVERY_SECONDS, &one(self.recovery_seconds));
    }

    fn delay(&self, t: &mut Text) {
        let stats = self.broker.delays().stats();
        let pending: Vec<Sample> = stats
            .topics
            .into_iter()
            .map(|(topic, n)| (vec![("topic", topic)], n as f64))
            .collect();
        t.family(DELAY_PENDING_MESSAGES, &pending);
        let lateness = self.broker.delays().lateness().snapshot();
        t.histogram(DELAY_LATENESS_SECONDS, &[(Vec::new(), lateness)]);
    }

    fn transactions(&self, t: &mut Text) {
        let list = self.broker.transactions().list();
        let count = |phase: TxnPhase| list.iter().filter(|x| x.phase == phase).count() as f64;
        let open: Vec<Sample> = [TxnPhase::Open, TxnPhase::Parked]
            .into_iter()
            .map(|p| (vec![("state", p.name().to_string())], count(p)))
            .collect();
        t.family(TXN_OPEN, &open);
    }

    fn plugins(&self, t: &mut Text) {
        let stats = self.broker.plugin_stats();
        let labels =
            |name: &str, kind: &str| vec![("plugin", name.to_string()), ("kind", kind.to_string())];
        let mut calls = Vec::new();
        let mut messages = Vec::new();
        let mut outcomes = Vec::new();
        for (name, kind, s) in &stats {
            let load =
                |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
            let total = load(&s.calls);
            let failed = [
                ("trap", load(&s.traps)),
                ("timeout", load(&s.timeouts)),
                ("memory", load(&s.memory)),
                ("bad_answer", load(&s.bad_answers)),
            ];
            calls.push((labels(name, kind), total as f64));
            messages.push((labels(name, kind), load(&s.messages) as f64));
            let ok = total.saturating_sub(failed.iter().map(|(_, n)| n).sum());
            for (outcome, n) in std::iter::once(("ok", ok)).chain(failed) {
                let mut l = labels(name, kind);
                l.push(("outcome", outcome.to_string()));
                outcomes.push((l, n as f64));
            }
        }
        t.family(PLUGIN_CALLS_TOTAL, &calls);
        t.family(PLUGIN_MESSAGES_TOTAL, &messages);
        t.family(PLUGIN_OUTCOMES_TOTAL, &outcomes);
    }
}

/// `(available, size)` in bytes of the file system holding `dir`.
fn disk_space(dir: &std::path::Path) -> Option<(u64, u64)> {
    let st = rustix::fs::statvfs(dir).ok()?;
    Some((st.f_bavail * st.f_frsize, st.f_blocks * st.f_frsize))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_have_help_type_and_escaped_labels() {
        let mut t = Text { out: String::new() };
        t.family(
            GROUP_LAG_MESSAGES,
            &[(vec![("group", "a\"b".into()), ("topic", "t".into())], 3.0)],
        );
        assert_eq!(
            t.out,
            format!(
                "# HELP {GROUP_LAG_MESSAGES} {}\n# TYPE {GROUP_LAG_MESSAGES} gauge\n{GROUP_LAG_MESSAGES}{{group=\"a\\\"b\",topic=\"t\"}} 3\n",
                help_of(GROUP_LAG_MESSAGES)
            )
        );
        let (free, size) = disk_space(std::path::Path::new("/")).unwrap();
        assert!(size > 0 && free <= size);
    }
}
