//! The broker's series for a metrics scrape ([`Source`]): backlog per group (the same figures
//! `lockgate group describe` shows), queue bounds, storage, delay, transaction and plugin
//! figures. Read from the services' state when Prometheus scrapes; nothing here is touched
//! per message. The text format and the endpoint are `metrics`'.

use std::collections::BTreeMap;

use super::Broker;
use crate::metrics::scrape::{Sample, Source, Text};
use crate::metrics::*;
use crate::protocol::TxnPhase;

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

impl Source for Broker {
    fn collect(&self, t: &mut Text, per_queue: bool) {
        self.scrape_backlog(t, per_queue);
        self.scrape_queues(t, per_queue);
        self.scrape_storage(t);
        self.scrape_delay(t);
        self.scrape_transactions(t);
        self.scrape_plugins(t);
    }
}

impl Broker {
    fn scrape_backlog(&self, t: &mut Text, per_queue: bool) {
        let groups = self.groups();
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
                let queue = per_queue.then_some(p.queue);
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

    fn scrape_queues(&self, t: &mut Text, per_queue: bool) {
        let store = self.store();
        let mut stored = Vec::new();
        let mut first = Vec::new();
        let mut next = Vec::new();
        for meta in store.list_topics() {
            let Ok(info) = store.describe_topic(meta.name.as_str()) else {
                continue;
            };
            let topic = meta.name.to_string();
            if !per_queue {
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
        if per_queue {
            t.family(QUEUE_FIRST_OFFSET, &first);
            t.family(QUEUE_NEXT_OFFSET, &next);
        }
    }

    fn scrape_storage(&self, t: &mut Text) {
        let s = self.store().stats();
        let one = |v: f64| vec![(Vec::new(), v)];
        t.family(STORAGE_APPENDED_RECORDS_TOTAL, &one(s.records as f64));
        t.family(STORAGE_APPENDED_BYTES_TOTAL, &one(s.bytes as f64));
        t.family(STORAGE_SEGMENTS, &one(s.segments as f64));
        t.family(STORAGE_LOG_BYTES, &one(s.log_bytes as f64));
    }

    fn scrape_delay(&self, t: &mut Text) {
        let stats = self.delays().stats();
        let pending: Vec<Sample> = stats
            .topics
            .into_iter()
            .map(|(topic, n)| (vec![("topic", topic)], n as f64))
            .collect();
        t.family(DELAY_PENDING_MESSAGES, &pending);
        let lateness = self.delays().lateness().snapshot();
        t.histogram(DELAY_LATENESS_SECONDS, &[(Vec::new(), lateness)]);
    }

    fn scrape_transactions(&self, t: &mut Text) {
        let list = self.transactions().list();
        let count = |phase: TxnPhase| list.iter().filter(|x| x.phase == phase).count() as f64;
        let open: Vec<Sample> = [TxnPhase::Open, TxnPhase::Parked]
            .into_iter()
            .map(|p| (vec![("state", p.name().to_string())], count(p)))
            .collect();
        t.family(TXN_OPEN, &open);
    }

    fn scrape_plugins(&self, t: &mut Text) {
        let stats = self.plugin_stats();
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
