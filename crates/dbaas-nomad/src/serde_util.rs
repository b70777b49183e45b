//! Decoding helpers for the ways Nomad's Go encoder writes values that a
//! derived serde decoder would reject.

use serde::de::{self, DeserializeOwned, Deserializer};
use serde::Deserialize;
use serde_json::Value;

/// Decodes a Nomad JSON body into `T`.
///
/// The body is read into a [`serde_json::Value`] first: Nomad has been seen
/// to publish objects with a key twice (`PreviousAllocation` in the Read
/// Allocation sample), which a derived struct decoder rejects as a
/// "duplicate field". Go's decoder keeps the last occurrence, and so does
/// `Value`'s map, so decoding through it gives Go's answer. Integers stay
/// exact (`Value` keeps `u64`/`i64`), so nanosecond timestamps survive.
pub fn from_json_slice<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, serde_json::Error> {
    let value: Value = serde_json::from_slice(bytes)?;
    T::deserialize(value)
}

/// `null` or absent both mean "empty": Go writes nil slices, maps and
/// strings as `null`, which `#[serde(default)]` alone does not accept.
pub(crate) fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A duration in nanoseconds, as Nomad usually writes it (an integer), but
/// also accepted as a decimal string (`"5000000000"`, seen in a published
/// reschedule event) or a Go duration string (`"5s"`, `"1m30s"`), so one
/// odd field cannot fail a whole allocation read.
pub(crate) fn nanos<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    Ok(opt_nanos(d)?.unwrap_or(0))
}

/// Like [`nanos`], for optional fields: `null` stays `None`.
pub(crate) fn opt_nanos<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => {
            if let Some(i) = n.as_i64() {
                Ok(Some(i))
            } else if let Some(f) = n.as_f64() {
                // Beyond i64 or fractional: not a duration Nomad writes,
                // but truncating beats failing the whole document.
                Ok(Some(f as i64))
            } else {
                Err(de::Error::custom(format!("duration {n} is out of range")))
            }
        }
        Some(Value::String(s)) => parse_duration_nanos(&s)
            .map(Some)
            .ok_or_else(|| de::Error::custom(format!("invalid duration {s:?}"))),
        Some(other) => Err(de::Error::custom(format!(
            "expected a duration (nanoseconds or a string), got {other}"
        ))),
    }
}

/// Parses a duration written as integer nanoseconds (`"5000000000"`) or in
/// Go's notation (`"1h2m3.5s"`, `"250ms"`, `"-5s"`). `None` if neither.
pub fn parse_duration_nanos(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(n) = s.parse::<i64>() {
        return Some(n);
    }
    let (negative, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest.is_empty() {
        return None;
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            return None;
        }
        let number: f64 = rest[..num_len].parse().ok()?;
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
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += number * scale;
    }
    let total = total.round();
    if total > i64::MAX as f64 {
        return None;
    }
    Some(if negative {
        -(total as i64)
    } else {
        total as i64
    })
}

/// Formats a wait for Nomad's `wait` query parameter (a Go duration).
/// Whole seconds read naturally (`"10s"`); anything finer is sent in
/// milliseconds, the finest unit worth asking for on a long poll.
pub(crate) fn go_duration(d: std::time::Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis().max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_in_all_spellings() {
        assert_eq!(parse_duration_nanos("5000000000"), Some(5_000_000_000));
        assert_eq!(parse_duration_nanos("5s"), Some(5_000_000_000));
        assert_eq!(parse_duration_nanos("1m30s"), Some(90_000_000_000));
        assert_eq!(parse_duration_nanos("250ms"), Some(250_000_000));
        assert_eq!(parse_duration_nanos("1.5h"), Some(5_400_000_000_000));
        assert_eq!(parse_duration_nanos("-2s"), Some(-2_000_000_000));
        assert_eq!(parse_duration_nanos("5 parsecs"), None);
        assert_eq!(parse_duration_nanos(""), None);
        assert_eq!(parse_duration_nanos("s"), None);
    }

    #[test]
    fn waits_are_go_durations() {
        use std::time::Duration;
        assert_eq!(go_duration(Duration::from_secs(10)), "10s");
        assert_eq!(go_duration(Duration::from_millis(1500)), "1500ms");
        assert_eq!(go_duration(Duration::from_nanos(10)), "1ms");
    }
}
