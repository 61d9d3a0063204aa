//! The `[metrics]` section: where the Prometheus endpoint listens (or `"off"`), and whether
//! backlog and queue series are per queue.

use std::net::SocketAddr;

use super::Validator;
use super::raw::RawMetrics;

pub const DEFAULT_METRICS_LISTEN: &str = "127.0.0.1:9464";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsConfig {
    /// TCP address of `GET /metrics`; `None` (`"off"`): no endpoint and no recording.
    pub listen: Option<SocketAddr>,
    /// Backlog and queue series per queue (`true`), or per topic.
    pub per_queue: bool,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            listen: Some(
                DEFAULT_METRICS_LISTEN
                    .parse()
                    .expect("default metrics address parses"),
            ),
            per_queue: true,
        }
    }
}

pub(super) fn validate(v: &mut Validator, raw: RawMetrics) -> MetricsConfig {
    let d = MetricsConfig::default();
    let listen = v.value("metrics.listen", raw.listen, d.listen, |s| {
        if s.trim() == "off" {
            return Ok(None);
        }
        s.parse::<SocketAddr>()
            .map(Some)
            .map_err(|_| format!("{s:?} is not an address like \"127.0.0.1:9464\" nor \"off\""))
    });
    MetricsConfig {
        listen,
        per_queue: raw.per_queue.unwrap_or(d.per_queue),
    }
}
