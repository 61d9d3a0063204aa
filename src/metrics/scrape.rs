//! The series computed when Prometheus scrapes: the text format they are written in
//! ([`Text`]), and a [`Scraper`] that asks its [`Source`] (the broker: backlog per group, queue
//! bounds, storage, delay, transaction and plugin figures, see `broker::scrape`) and adds the
//! data directory's disk space and the recovery time. Blocking (a source reads queue bounds and
//! index entries), so the endpoint runs it on the blocking pool. Nothing here is touched per
//! message, and nothing here knows the broker: it is handed its source.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

use super::*;
use crate::auth::AuthError;

/// Whatever has series to add at scrape time.
pub trait Source: Send + Sync {
    /// Writes its families to `t`; per queue, or per topic when `per_queue` is false.
    fn collect(&self, t: &mut Text, per_queue: bool);
}

/// Whether a scrape presenting this bearer token (if any) may read the metrics.
pub type Authorize = dyn Fn(Option<&str>) -> Result<(), AuthError> + Send + Sync;

/// What a scrape reads.
pub struct Scraper {
    pub source: Arc<dyn Source>,
    /// The access check of a scrape (the broker's current rules).
    pub authorize: Arc<Authorize>,
    /// Backlog and queue series per queue (else per topic).
    pub per_queue: bool,
    pub data_dir: PathBuf,
    /// How long opening the store took at start.
    pub recovery_seconds: f64,
}

/// Prometheus text: a family's HELP and TYPE, then its samples.
pub struct Text {
    out: String,
}

pub type Labels = Vec<(&'static str, String)>;
/// One sample: label pairs and a value.
pub type Sample = (Labels, f64);
/// One histogram series: label pairs and a [`Buckets::snapshot`].
pub type HistogramSample = (Labels, (Vec<u64>, u64, f64));

impl Text {
    /// A family (its HELP and TYPE from [`DESCRIPTIONS`]) and its samples.
    pub fn family(&mut self, name: &str, samples: &[Sample]) {
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
    pub fn histogram(&mut self, name: &str, series: &[HistogramSample]) {
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

impl Scraper {
    /// Renders every scraped series (blocking): the sources', then the data directory's.
    pub fn render(&self) -> String {
        let mut t = Text { out: String::new() };
        self.source.collect(&mut t, self.per_queue);
        let one = |v: f64| vec![(Vec::new(), v)];
        if let Some((free, size)) = disk_space(&self.data_dir) {
            t.family(STORAGE_DISK_FREE_BYTES, &one(free as f64));
            t.family(STORAGE_DISK_SIZE_BYTES, &one(size as f64));
        }
        t.family(STORAGE_RECOVERY_SECONDS, &one(self.recovery_seconds));
        t.out
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
