//! What the dashboard shows about the Redis server, read from `INFO`.

use jobs::backend::BackendError;

use super::Inner;

/// `INFO` fields shown, with their labels.
const SHOWN: [(&str, &str); 5] = [
    ("redis_version", "Redis version"),
    ("used_memory_human", "Used memory"),
    ("used_memory_peak_human", "Peak memory"),
    ("maxmemory_policy", "Maxmemory policy"),
    ("connected_clients", "Connected clients"),
];

/// Version, memory, eviction policy and clients, from one `INFO`.
pub(super) async fn facts(inner: &Inner) -> Result<Vec<(String, String)>, BackendError> {
    let info: String = inner.query(&redis::cmd("INFO")).await?;
    Ok(pick(&info))
}

/// The shown fields of an `INFO` reply, in the order of [`SHOWN`].
fn pick(info: &str) -> Vec<(String, String)> {
    let fields: Vec<(&str, &str)> = info
        .lines()
        .filter_map(|l| l.trim_end().split_once(':'))
        .collect();
    SHOWN
        .iter()
        .filter_map(|(key, label)| {
            fields
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| ((*label).to_owned(), (*v).to_owned()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_shown_fields_in_order() {
        let info = "# Server\r\nredis_version:7.2.4\r\n# Clients\r\nconnected_clients:3\r\n\
                    # Memory\r\nused_memory_human:1.02M\r\nmaxmemory_policy:noeviction\r\n";
        let facts = pick(info);
        assert_eq!(facts[0], ("Redis version".into(), "7.2.4".into()));
        assert_eq!(facts[1], ("Used memory".into(), "1.02M".into()));
        assert_eq!(facts[2], ("Maxmemory policy".into(), "noeviction".into()));
        assert_eq!(facts[3], ("Connected clients".into(), "3".into()));
    }
}
