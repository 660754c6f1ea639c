//! The values of the command line that clap cannot parse alone: durations and periods,
//! concurrency, request rates. Each refuses what no command could use, saying what it takes.

use std::time::Duration;

/// Parses `500ms`, `30s`, `5m`, `2h` (a bare number means seconds).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration such as 500ms, 30s, 5m or 1h"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "" | "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => {
            return Err(format!(
                "`{text}`: unknown unit `{unit}`; use ms, s, m or h"
            ))
        }
    };
    if !seconds.is_finite() || seconds > MAX_DURATION_SECS {
        return Err(format!(
            "`{text}` is longer than the 7 days any tenantsync duration may be"
        ));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// The longest duration any option takes.
const MAX_DURATION_SECS: f64 = 7.0 * 24.0 * 3600.0;

/// A period (poll, resync, timeout): a duration of at least 100 ms.
pub fn parse_period(text: &str) -> Result<Duration, String> {
    let d = parse_duration(text)?;
    if d < Duration::from_millis(100) {
        return Err(format!(
            "`{text}` is too short: a period must be at least 100ms (0 would spin)"
        ));
    }
    Ok(d)
}

/// Writes in flight: 1 to 256.
pub fn parse_concurrency(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(n) if (1..=256).contains(&n) => Ok(n),
        _ => Err(format!("`{text}` is not a concurrency between 1 and 256")),
    }
}

/// A request rate: more than 0 and at most 100,000 per second.
pub fn parse_rate(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(r) if r.is_finite() && (0.01..=100_000.0).contains(&r) => Ok(r),
        _ => Err(format!(
            "`{text}` is not a request rate between 0.01 and 100000 per second"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("1e300").is_err());
        assert!(parse_duration("99999h").is_err());
        assert!(parse_period("0s").is_err());
        assert!(parse_period("0").is_err());
        assert_eq!(parse_period("1s"), Ok(Duration::from_secs(1)));
        assert!(
            parse_rate("1e-20").is_err() && parse_rate("0").is_err() && parse_rate("nan").is_err()
        );
        assert_eq!(parse_rate("20"), Ok(20.0));
    }
}
