//! Human-readable sizes ("1 GiB", "512KiB", "100 MB") and durations ("500ms", "72h", "1h30m").
//!
//! Parsing and printing only: the config layer decides which values are acceptable for which
//! key. Imports nothing of the crate, so every floor above may use it.

use std::time::Duration;

/// Parses a size: an integer or decimal number, optional spaces, and a unit.
/// Binary units (KiB, MiB, GiB, TiB) are powers of 1024, decimal ones (KB, MB, GB, TB) powers of
/// 1000; `B` or no unit means bytes. Units are case-insensitive. Returns `None` for anything else.
pub fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "tib" => 1 << 40,
        _ => return None,
    };
    scale(number, multiplier)
}

/// Parses a duration: one or more `<number><unit>` parts (`1h30m`, `1.5s`), units `ms`, `s`,
/// `m`, `h`, `d`. A bare `0` is zero. Returns `None` for anything else.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    if text == "0" {
        return Some(Duration::ZERO);
    }
    if text.is_empty() {
        return None;
    }
    let mut total_ms: u64 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, after) = rest.split_at(digits);
        let after = after.trim_start();
        let unit_len = after
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(after.len());
        let (unit, tail) = after.split_at(unit_len);
        let ms_per_unit: u64 = match unit {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return None,
        };
        total_ms = total_ms.checked_add(scale(number, ms_per_unit)?)?;
        rest = tail.trim_start();
    }
    Some(Duration::from_millis(total_ms))
}

/// Formats a duration the way the config accepts it: `365d`, `1h30m`, `1500ms`.
pub fn format_duration(d: Duration) -> String {
    const UNITS: [(&str, u128); 4] = [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
    ];
    let mut ms = d.as_millis();
    if ms == 0 {
        return "0".into();
    }
    if !ms.is_multiple_of(1_000) && ms < 60_000 {
        return format!("{ms}ms");
    }
    let mut out = String::new();
    for (name, unit) in UNITS {
        if ms >= unit {
            out.push_str(&format!("{}{name}", ms / unit));
            ms %= unit;
        }
    }
    if ms > 0 {
        out.push_str(&format!("{ms}ms"));
    }
    out
}

/// Formats a byte count the way the config accepts it, choosing the largest exact binary unit.
pub fn format_size(bytes: u64) -> String {
    const UNITS: [(&str, u64); 4] = [
        ("TiB", 1 << 40),
        ("GiB", 1 << 30),
        ("MiB", 1 << 20),
        ("KiB", 1 << 10),
    ];
    for (name, unit) in UNITS {
        if bytes >= unit && bytes.is_multiple_of(unit) {
            return format!("{} {name}", bytes / unit);
        }
    }
    format!("{bytes} B")
}

/// `number × multiplier` for a decimal string, rejecting empty input, several dots, overflow and
/// results that are not whole units of the base (e.g. "0.5B").
fn scale(number: &str, multiplier: u64) -> Option<u64> {
    let (whole, fraction) = match number.split_once('.') {
        Some((w, f)) if !f.contains('.') && !f.is_empty() => (w, f),
        Some(_) => return None,
        None => (number, ""),
    };
    if whole.is_empty() && fraction.is_empty() {
        return None;
    }
    let whole: u64 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let mut value = whole.checked_mul(multiplier)?;
    if !fraction.is_empty() {
        let digits = u32::try_from(fraction.len()).ok()?;
        let denominator = 10u64.checked_pow(digits)?;
        let numerator: u64 = fraction.parse().ok()?;
        let scaled = u128::from(numerator) * u128::from(multiplier);
        if scaled % u128::from(denominator) != 0 {
            return None;
        }
        value = value.checked_add(u64::try_from(scaled / u128::from(denominator)).ok()?)?;
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1 GiB"), Some(1 << 30));
        assert_eq!(parse_size("512KiB"), Some(512 << 10));
        assert_eq!(parse_size("100 MB"), Some(100_000_000));
        assert_eq!(parse_size("1.5 KiB"), Some(1536));
        assert_eq!(parse_size("4096"), Some(4096));
        assert_eq!(parse_size("7 b"), Some(7));
        assert_eq!(parse_size("12 XB"), None);
        assert_eq!(parse_size(""), None);
        assert_eq!(parse_size("GiB"), None);
        assert_eq!(parse_size("1.2.3 MiB"), None);
        assert_eq!(parse_size("0.5 B"), None);
        assert_eq!(parse_size("99999999999 TiB"), None);
        assert_eq!(parse_size("-1 MiB"), None);
    }

    #[test]
    fn durations_format_as_they_parse() {
        for text in ["365d", "1h30m", "1500ms", "2s", "1d2h3m4s5ms"] {
            let d = parse_duration(text).unwrap();
            assert_eq!(format_duration(d), text);
        }
        assert_eq!(format_duration(Duration::ZERO), "0");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("72h"), Some(Duration::from_secs(72 * 3600)));
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2d"), Some(Duration::from_secs(2 * 86400)));
        assert_eq!(parse_duration("0"), Some(Duration::ZERO));
        assert_eq!(parse_duration("10"), None);
        assert_eq!(parse_duration("10 parsecs"), None);
        assert_eq!(parse_duration(""), None);
        assert_eq!(parse_duration("s"), None);
    }

    #[test]
    fn format_round_trips() {
        for bytes in [1u64, 1000, 1024, 3 << 20, 1 << 30, (1 << 40) * 2] {
            assert_eq!(parse_size(&format_size(bytes)), Some(bytes));
        }
    }
}
