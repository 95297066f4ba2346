//! Query strings and form bodies: parsed by hand so every bad value gets a 400 that says
//! which parameter was wrong, and every number is clamped to a safe range.

use jobs::backend::JobFilter;

use crate::WebError;

/// Rows per page: default and bounds.
pub(crate) const PER_PAGE: (u64, u64, u64) = (25, 1, 100);
/// Pages: default and bounds.
pub(crate) const PAGE: (u64, u64, u64) = (1, 1, 100_000);
/// Days of history: default and bounds.
pub(crate) const DAYS: (u64, u64, u64) = (30, 1, 90);
/// Hours of job metrics: default and bounds.
pub(crate) const HOURS: (u64, u64, u64) = (24, 1, 72);
/// Seconds between live refreshes: default and bounds.
pub(crate) const POLL: (u64, u64, u64) = (5, 2, 60);
/// The most jobs one selection may name.
pub(crate) const MAX_JIDS: usize = 1_000;

/// Decoded `key=value` pairs, in order, repeated keys kept.
#[derive(Debug, Default, Clone)]
pub(crate) struct Pairs(pub Vec<(String, String)>);

impl Pairs {
    pub(crate) fn parse(raw: Option<&str>) -> Pairs {
        Pairs(
            form_urlencoded::parse(raw.unwrap_or("").as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    pub(crate) fn from_body(body: &[u8]) -> Pairs {
        Pairs(
            form_urlencoded::parse(body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// The first value of `key`, trimmed, `None` when absent or empty.
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// Every non-empty value of `key`.
    pub(crate) fn all(&self, key: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, v)| k == key && !v.trim().is_empty())
            .map(|(_, v)| v.trim().to_owned())
            .collect()
    }

    /// A whole number clamped to `(default, min, max)`; anything else is a 400.
    pub(crate) fn num(
        &self,
        key: &str,
        (default, min, max): (u64, u64, u64),
    ) -> Result<u64, WebError> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => {
                if !v.bytes().all(|b| b.is_ascii_digit()) || v.len() > 30 {
                    return Err(WebError::bad_request(format!(
                        "{key} must be a whole number from {min} to {max}"
                    )));
                }
                // All digits: too big to parse means above the maximum.
                Ok(v.parse::<u64>().unwrap_or(max).clamp(min, max))
            }
        }
    }

    /// The job filter: `class` (exact job name) and `q` (text in arguments or error).
    pub(crate) fn filter(&self) -> JobFilter {
        let mut filter = JobFilter::new();
        filter.class = self.get("class").map(|s| cap(s, 200));
        filter.text = self.get("q").map(|s| cap(s, 200));
        filter
    }

    /// The job ids named with `jid`, at most [`MAX_JIDS`].
    pub(crate) fn jids(&self) -> Result<Vec<String>, WebError> {
        let jids = self.all("jid");
        if jids.len() > MAX_JIDS {
            return Err(WebError::bad_request(format!(
                "select at most {MAX_JIDS} jobs at once"
            )));
        }
        Ok(jids)
    }
}

fn cap(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

/// Page number and page size of a listing.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Paging {
    pub page: u64,
    pub per_page: u64,
}

impl Paging {
    pub(crate) fn from(p: &Pairs) -> Result<Paging, WebError> {
        Ok(Paging {
            page: p.num("page", PAGE)?,
            per_page: p.num("per_page", PER_PAGE)?,
        })
    }

    pub(crate) fn offset(&self) -> u64 {
        (self.page - 1).saturating_mul(self.per_page)
    }

    pub(crate) fn pages(&self, total: u64) -> u64 {
        total.div_ceil(self.per_page).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_clamp_or_refuse() {
        let p = Pairs::parse(Some(
            "page=0&per_page=100000&days=99999999999999999999999&poll=x",
        ));
        assert_eq!(p.num("page", PAGE).ok(), Some(1));
        assert_eq!(p.num("per_page", PER_PAGE).ok(), Some(100));
        assert_eq!(p.num("days", DAYS).ok(), Some(90));
        assert!(p.num("poll", POLL).is_err());
        assert!(Pairs::parse(Some("page=-1")).num("page", PAGE).is_err());
        assert_eq!(Pairs::parse(None).num("page", PAGE).ok(), Some(1));
        assert_eq!(
            Pairs::parse(Some("hours=0")).num("hours", HOURS).ok(),
            Some(1)
        );
        assert_eq!(
            Pairs::parse(Some("hours=999")).num("hours", HOURS).ok(),
            Some(72)
        );
    }
}
