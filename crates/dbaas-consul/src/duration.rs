//! Consul's two spellings of a duration.
//!
//! Consul is written in Go, so a duration in a request is Go's text form
//! (`"15s"`, `"1m30s"`, `"500ms"`), while some responses (session
//! `LockDelay`) carry the raw `time.Duration`, an integer of nanoseconds.
//! These helpers convert both to [`std::time::Duration`] so callers never
//! see the difference.

use std::time::Duration;

/// Formats a duration the way Consul's request parser accepts it.
///
/// Whole seconds are written as `"15s"` (the documented examples, and what
/// the contract samples contain), sub-second values fall back to `ms` or
/// `ns` so that nothing is rounded away.
pub fn format_go_duration(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else if d.subsec_nanos() % 1_000_000 == 0 {
        format!("{}ms", d.as_millis())
    } else {
        format!("{}ns", d.as_nanos())
    }
}

/// Parses Go's duration text: a sequence of decimal numbers, each with a
/// unit (`ns`, `us`, `µs`, `ms`, `s`, `m`, `h`), e.g. `"1h2m3.5s"`.
///
/// Negative durations are refused: none of Consul's fields we read can
/// meaningfully be negative, and `std::time::Duration` cannot hold one.
pub fn parse_go_duration(text: &str) -> Result<Duration, String> {
    let s = text.trim();
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() {
        return Err("empty duration".to_string());
    }
    let s = s.strip_prefix('+').unwrap_or(s);
    if s.starts_with('-') {
        return Err(format!("negative duration {text:?}"));
    }
    let mut total_nanos: f64 = 0.0;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            return Err(format!("invalid duration {text:?}: expected a number"));
        }
        let number: f64 = rest[..num_len]
            .parse()
            .map_err(|_| format!("invalid duration {text:?}: bad number"))?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "" => return Err(format!("invalid duration {text:?}: missing unit")),
            other => return Err(format!("invalid duration {text:?}: unknown unit {other:?}")),
        };
        rest = &rest[unit_len..];
        total_nanos += number * scale;
    }
    if !total_nanos.is_finite() || total_nanos > u64::MAX as f64 {
        return Err(format!("duration {text:?} is out of range"));
    }
    Ok(Duration::from_nanos(total_nanos.round() as u64))
}

/// Serde adapter for an optional duration sent as Go text (`"15s"`).
pub mod opt_text {
    use super::*;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes `Some(d)` as Go text; `None` is skipped by the field attribute.
    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_str(&format_go_duration(*d)),
            None => s.serialize_none(),
        }
    }

    /// Reads Go text, a bare integer of nanoseconds, `null` or `""`
    /// (Consul writes `""` for a session without a TTL).
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Nanos(u64),
        }
        match Option::<Raw>::deserialize(d)? {
            None => Ok(None),
            Some(Raw::Nanos(n)) => Ok(Some(Duration::from_nanos(n))),
            Some(Raw::Text(t)) if t.is_empty() => Ok(None),
            Some(Raw::Text(t)) => parse_go_duration(&t)
                .map(Some)
                .map_err(serde::de::Error::custom),
        }
    }
}

/// Serde adapter for a duration Consul returns as integer nanoseconds
/// (Go's `time.Duration` marshalled as a number), e.g. session `LockDelay`.
pub mod opt_nanos {
    use super::*;
    use serde::{Deserializer, Serializer};

    /// Writes nanoseconds, mirroring what Consul itself sends.
    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_u64(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)),
            None => s.serialize_none(),
        }
    }

    /// Reads integer nanoseconds; also accepts Go text, because tolerating
    /// both costs nothing and protects against a server that changes form.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        super::opt_text::deserialize(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_the_docs() {
        assert_eq!(format_go_duration(Duration::from_secs(15)), "15s");
        assert_eq!(format_go_duration(Duration::from_millis(1500)), "1500ms");
        assert_eq!(format_go_duration(Duration::from_nanos(7)), "7ns");
    }

    #[test]
    fn parses_go_text() {
        assert_eq!(parse_go_duration("15s").unwrap(), Duration::from_secs(15));
        assert_eq!(parse_go_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(
            parse_go_duration("1.5s").unwrap(),
            Duration::from_millis(1500)
        );
        assert_eq!(parse_go_duration("0").unwrap(), Duration::ZERO);
        assert_eq!(parse_go_duration("2h").unwrap(), Duration::from_secs(7200));
        assert!(parse_go_duration("15").is_err());
        assert!(parse_go_duration("-1s").is_err());
        assert!(parse_go_duration("5x").is_err());
    }
}
