//! Duration strings in `#[job(timeout = "1m30s")]`: whole numbers, each with a unit.

/// Milliseconds in a duration such as `"30s"`, `"500ms"`, `"5m"`, `"1h"` or `"1m30s"`.
pub(crate) fn parse_duration_ms(text: &str) -> Result<u64, String> {
    const FORMAT: &str = r#"durations look like "30s", "500ms", "5m", "1h" or "1m30s""#;
    let mut rest = text;
    let mut total: u64 = 0;
    if rest.is_empty() {
        return Err(format!("an empty string is not a duration; {FORMAT}"));
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(format!("\"{text}\" is not a duration; {FORMAT}"));
        }
        let number: u64 = rest[..digits]
            .parse()
            .map_err(|_| format!("\"{text}\" is too long"))?;
        rest = &rest[digits..];
        let (unit_ms, len) = if rest.starts_with("ms") {
            (1, 2)
        } else if rest.starts_with('s') {
            (1_000, 1)
        } else if rest.starts_with('m') {
            (60_000, 1)
        } else if rest.starts_with('h') {
            (3_600_000, 1)
        } else if rest.starts_with(['.', ',']) {
            return Err(format!(
                "\"{text}\": use whole numbers, such as \"1500ms\" rather than \"1.5s\""
            ));
        } else {
            return Err(format!(
                "\"{text}\" needs a unit (ms, s, m or h) after {number}; {FORMAT}"
            ));
        };
        rest = &rest[len..];
        total = number
            .checked_mul(unit_ms)
            .and_then(|ms| total.checked_add(ms))
            .ok_or_else(|| format!("\"{text}\" is too long"))?;
    }
    if total == 0 {
        return Err("a duration must be longer than zero".to_owned());
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ms("30s"), Ok(30_000));
        assert_eq!(parse_duration_ms("500ms"), Ok(500));
        assert_eq!(parse_duration_ms("5m"), Ok(300_000));
        assert_eq!(parse_duration_ms("1h"), Ok(3_600_000));
        assert_eq!(parse_duration_ms("1h30m15s"), Ok(5_415_000));
        assert_eq!(parse_duration_ms("1m500ms"), Ok(60_500));
    }

    #[test]
    fn bad_durations() {
        for bad in [
            "", "30", "s", "1.5s", "30 s", "10d", "-1s", "0s", "0ms", "s30",
        ] {
            assert!(parse_duration_ms(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(parse_duration_ms("99999999999999999999s").is_err());
        assert!(parse_duration_ms("18446744073709551615h").is_err());
        assert!(parse_duration_ms("0s")
            .unwrap_err()
            .contains("longer than zero"));
    }
}
