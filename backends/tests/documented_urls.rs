//! Every backend URL the README and docs/ show still parses, now that unknown parameters are
//! refused. Parsing only: no server is needed.

use std::path::{Path, PathBuf};

use jobs_backends::postgres::PostgresOptions;
use jobs_backends::redis::RedisOptions;
use jobs_backends::sqlite::SqliteConfig;

const SCHEMES: &[&str] = &[
    "memory://",
    "redis://",
    "rediss://",
    "postgres://",
    "postgresql://",
    "sqlite://",
];

/// The URL forms the crates' own docs give (module and type docs), beside the Markdown ones.
const IN_CODE_DOCS: &[&str] = &[
    "memory://",
    "redis://127.0.0.1:6379",
    "redis://127.0.0.1:6379/0",
    "redis://127.0.0.1:6379/3?prefix=myapp",
    "redis://:password@host:6379/3?prefix=name",
    "rediss://host:6380/0?prefix=app&protocol=resp3",
    "rediss://default:secret@redis.example.com:6380\
     ?ca=/etc/ssl/redis-ca.pem&cert=/etc/ssl/worker.pem&key=/etc/ssl/worker.key",
    "postgres://root@127.0.0.1:5432/test?schema=myapp",
    "postgres://user@host/db?schema=jobs&max_connections=10&acquire_timeout_ms=5000\
     &poll_interval_ms=1000&completed_retention_secs=0",
    "postgresql://user@host/db?sslmode=prefer&application_name=worker",
    "sqlite://jobs.db",
    "sqlite://relative/path.db",
    "sqlite:///absolute/path.db?synchronous=full&busy_timeout_ms=10000&poll_ms=250&readers=4",
];

/// The Markdown files that document URLs: README.md and every `.md` under docs/.
fn documents() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = vec![root.join("README.md")];
    let mut dirs = vec![root.join("docs")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "md") {
                files.push(path);
            }
        }
    }
    files
}

/// Every `scheme://…` in `text`, up to the first space, quote, backtick or bracket, without
/// a sentence's trailing punctuation; a scheme alone (but `memory://`) is prose, not a URL.
fn urls_in(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for scheme in SCHEMES {
        for (at, _) in text.match_indices(scheme) {
            let before = text[..at].chars().next_back();
            if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '+') {
                continue; // `rediss://` found again as `s://`, or `redis+unix://`
            }
            let url: String = text[at..]
                .chars()
                .take_while(|c| !c.is_whitespace() && !"`\"'()<>[]|".contains(*c))
                .collect();
            let url = url.trim_end_matches(['.', ',', ';', ':']);
            if url == *scheme && *scheme != "memory://" {
                continue; // the scheme named in prose (`sqlite://` reads…), not a URL
            }
            found.push(url.to_owned());
        }
    }
    found
}

async fn parses(url: &str) -> Result<(), String> {
    let scheme = url.split("://").next().unwrap_or("");
    let result = match scheme {
        "memory" => jobs::connect(url).await.map(drop),
        "redis" | "rediss" => RedisOptions::from_url(url).map(drop),
        "postgres" | "postgresql" => PostgresOptions::from_url(url).map(drop),
        "sqlite" => SqliteConfig::from_url(url).map(drop),
        other => panic!("no parser for {other}"),
    };
    result.map_err(|e| e.to_string())
}

#[tokio::test]
async fn every_documented_url_still_parses() {
    let mut checked = 0;
    let mut failures = Vec::new();
    for file in documents() {
        let text = std::fs::read_to_string(&file).unwrap();
        for url in urls_in(&text) {
            checked += 1;
            if let Err(e) = parses(&url).await {
                failures.push(format!("{} `{url}`: {e}", file.display()));
            }
        }
    }
    for url in IN_CODE_DOCS {
        checked += 1;
        if let Err(e) = parses(url).await {
            failures.push(format!("`{url}`: {e}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(checked > IN_CODE_DOCS.len() + 5, "README.md shows no URLs?");
}

#[test]
fn urls_are_cut_at_markdown_and_punctuation() {
    let text = "use `redis://host:6379/0?prefix=app`, or sqlite://jobs.db. (memory://) `redis://`:";
    assert_eq!(
        urls_in(text),
        [
            "memory://",
            "redis://host:6379/0?prefix=app",
            "sqlite://jobs.db"
        ]
    );
}
