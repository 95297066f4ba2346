//! Single-job pushes on plain connections of their own, off the multiplexed connection.
//!
//! 1. **Why.** A command on the multiplexed connection goes to its driver task and the reply
//!    comes back through a channel: two task wake-ups per call, which is most of the cost of
//!    a sequential enqueue on a local server. Here the calling task writes the command and
//!    reads the reply itself.
//! 2. **What.** Only pipelines whose replies are each one line (`:<n>`, `+OK`, `-ERR ...`),
//!    such as `SADD` and `LPUSH`; anything else stays on the shared connection.
//! 3. **Connections.** Taken from an idle list or opened (TCP, then `AUTH` and `SELECT` as the
//!    URL says), and put back only after every reply was read, so a connection is never reused
//!    mid-reply. An error or a timeout drops it; so does a caller that gives up mid-command.
//!    At most [`MAX_CONNS`] are open at once: a push that finds them all busy (many pushing
//!    at the same time) goes on the shared connection, which pipelines concurrent callers,
//!    so bursts never open and close connections.
//! 4. **Reconnects, and never a second send.** An idle connection the server closed (a
//!    restart, `CLIENT KILL`, its idle `timeout`) is found closed before anything is written
//!    to it (it reads end of file), or its write fails with nothing written; the pipeline then
//!    goes on a fresh connection. Once any byte of it was written, a failure is returned,
//!    never sent again: the server may have applied the push and lost only the reply (a
//!    connection killed between the two), and a second send would store the jobs twice.
//!    The caller sees an error for a push that may be stored, as the backend contract says.
//! 5. Plain TCP only: other addresses use the shared connection: Unix sockets, and TLS
//!    (`rediss://`), whose bytes must never go out in plain text.
//! 6. **Known queues.** Sidekiq's client sends `SADD queues <name>` with every push, but the
//!    set only has to list the queue: [`KnownQueues`] skips it for a queue this backend added
//!    less than [`KNOWN_FOR`] ago. Removing a queue through this backend forgets it at once;
//!    one removed elsewhere (another process, Sidekiq's web UI) is listed again by the next
//!    push after at most [`KNOWN_FOR`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redis::{ConnectionAddr, ConnectionInfo, ErrorKind, RedisError, RedisResult, Value};
use tokio::net::TcpStream;

/// Plain push connections open at once, idle or busy.
pub(crate) const MAX_CONNS: usize = 8;

/// Plain connections for pushes; see the module docs.
pub(crate) struct PushPool {
    host: String,
    port: u16,
    username: Option<String>,
    password: Option<String>,
    db: i64,
    connect_timeout: Duration,
    response_timeout: Duration,
    idle: Mutex<Vec<Conn>>,
    /// Connections open, idle or busy.
    open: Arc<AtomicUsize>,
}

/// One of the [`MAX_CONNS`] places, given back when its connection is dropped.
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// One connection, with its read buffer (`buf[start..]` is read and not yet parsed).
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    start: usize,
    _slot: Slot,
}

impl PushPool {
    /// A pool for `info`, or `None` when it is not a plain TCP address.
    pub(crate) fn new(
        info: &ConnectionInfo,
        connect_timeout: Duration,
        response_timeout: Duration,
    ) -> Option<Self> {
        let ConnectionAddr::Tcp(host, port) = info.addr() else {
            return None;
        };
        let settings = info.redis_settings();
        Some(PushPool {
            host: host.clone(),
            port: *port,
            username: settings.username().map(str::to_owned),
            password: settings.password().map(str::to_owned),
            db: settings.db(),
            connect_timeout,
            response_timeout,
            idle: Mutex::new(Vec::new()),
            open: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// Takes a place for a new connection, unless [`MAX_CONNS`] are open.
    fn slot(&self) -> Option<Slot> {
        self.open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < MAX_CONNS).then_some(n + 1)
            })
            .ok()
            .map(|_| Slot(self.open.clone()))
    }

    /// Sends `pipe` (of `replies` one-line replies) and returns the replies, or the first
    /// error the server answered; `None`, with nothing sent, when every connection is busy.
    pub(crate) async fn run(
        &self,
        pipe: &redis::Pipeline,
        replies: usize,
    ) -> Option<RedisResult<Vec<Value>>> {
        let packed = pipe.get_packed_pipeline();
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        if let Some(mut conn) = idle {
            if conn.is_open() {
                match self.send(conn, &packed, replies).await {
                    Err(Failure::Unsent(e)) => {
                        tracing::debug!(error = %e, "idle push connection was closed; reconnecting");
                        self.clear();
                    }
                    // Sent, even if its reply was lost: never sent again (module docs, 4).
                    other => return Some(other.map_err(Failure::into_error)),
                }
            } else {
                tracing::debug!("idle push connection was closed; reconnecting");
                self.clear();
            }
        }
        let slot = self.slot()?;
        let conn = match self.open(slot).await {
            Ok(conn) => conn,
            Err(e) => return Some(Err(e)),
        };
        Some(
            self.send(conn, &packed, replies)
                .await
                .map_err(Failure::into_error),
        )
    }

    /// Drops every idle connection.
    pub(crate) fn clear(&self) {
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    async fn send(
        &self,
        mut conn: Conn,
        packed: &[u8],
        replies: usize,
    ) -> Result<Vec<Value>, Failure> {
        let exchange = async {
            conn.write_all(packed).await.map_err(|(written, e)| {
                if written == 0 {
                    Failure::Unsent(e.into())
                } else {
                    Failure::Sent(e.into())
                }
            })?;
            let mut out = Vec::with_capacity(replies);
            for _ in 0..replies {
                // Whatever failed here, the server may have applied the pipeline.
                out.push(conn.read_line().await.map_err(Failure::Sent)?);
            }
            Ok(out)
        };
        let values = match tokio::time::timeout(self.response_timeout, exchange).await {
            Ok(r) => r?,
            Err(_) => return Err(Failure::Sent(timed_out())),
        };
        self.put(conn);
        values
            .into_iter()
            .map(Value::extract_error)
            .collect::<RedisResult<Vec<_>>>()
            .map_err(Failure::Sent)
    }

    fn put(&self, conn: Conn) {
        if !conn.buf.is_empty() {
            return;
        }
        self.idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(conn);
    }

    /// Connects and authenticates.
    async fn open(&self, slot: Slot) -> RedisResult<Conn> {
        let connect = TcpStream::connect((self.host.as_str(), self.port));
        let stream = match tokio::time::timeout(self.connect_timeout, connect).await {
            Ok(s) => s?,
            Err(_) => return Err(timed_out()),
        };
        stream.set_nodelay(true)?;
        let mut conn = Conn {
            stream,
            buf: Vec::with_capacity(256),
            start: 0,
            _slot: slot,
        };
        let mut hello = redis::pipe();
        if let Some(password) = &self.password {
            let auth = hello.cmd("AUTH");
            if let Some(user) = &self.username {
                auth.arg(user);
            }
            auth.arg(password);
        }
        if self.db != 0 {
            hello.cmd("SELECT").arg(self.db);
        }
        let n = usize::from(self.password.is_some()) + usize::from(self.db != 0);
        if n > 0 {
            let setup = async {
                conn.write_all(&hello.get_packed_pipeline())
                    .await
                    .map_err(|(_, e)| e)?;
                for _ in 0..n {
                    conn.read_line().await?.extract_error()?;
                }
                Ok::<_, RedisError>(())
            };
            match tokio::time::timeout(self.response_timeout, setup).await {
                Ok(r) => r?,
                Err(_) => return Err(timed_out()),
            }
        }
        Ok(conn)
    }
}

impl Conn {
    /// Whether an idle connection is still open: the server has not closed it (which reads
    /// as end of file) nor written anything on it (it has nothing to say to an idle client).
    /// Checked before a push is written to it, so a connection known closed is never used.
    fn is_open(&mut self) -> bool {
        let mut byte = [0u8; 1];
        matches!(
            self.stream.try_read(&mut byte),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock
        )
    }

    /// Writes all of `bytes`; on failure, how many were written, and the error.
    async fn write_all(&mut self, bytes: &[u8]) -> Result<(), (usize, std::io::Error)> {
        let mut written = 0;
        while let Some(rest) = bytes.get(written..).filter(|r| !r.is_empty()) {
            match self.stream.try_write(rest) {
                Ok(0) => return Err((written, std::io::ErrorKind::WriteZero.into())),
                Ok(n) => written += n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    self.stream.writable().await.map_err(|e| (written, e))?
                }
                Err(e) => return Err((written, e)),
            }
        }
        Ok(())
    }

    /// Reads one reply that fits on one line.
    async fn read_line(&mut self) -> RedisResult<Value> {
        loop {
            let pending = self.buf.get(self.start..).unwrap_or_default();
            if let Some(end) = pending.windows(2).position(|w| w == b"\r\n") {
                let line = pending.get(..end + 2).unwrap_or_default();
                if !matches!(line.first(), Some(b':' | b'+' | b'-')) {
                    return Err(RedisError::from((
                        ErrorKind::Parse,
                        "a push reply that is not one line",
                    )));
                }
                let value = one_line(line);
                self.start += end + 2;
                if self.start == self.buf.len() {
                    self.buf.clear();
                    self.start = 0;
                }
                return value;
            }
            self.stream.readable().await?;
            let old = self.buf.len();
            self.buf.resize(old + 512, 0);
            let read = self
                .stream
                .try_read(self.buf.get_mut(old..).unwrap_or_default());
            match read {
                Ok(0) => {
                    self.buf.truncate(old);
                    return Err(RedisError::from(std::io::Error::from(
                        std::io::ErrorKind::UnexpectedEof,
                    )));
                }
                Ok(n) => self.buf.truncate(old + n),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => self.buf.truncate(old),
                Err(e) => {
                    self.buf.truncate(old);
                    return Err(e.into());
                }
            }
        }
    }
}

/// Parses a one-line reply (`line` ends in CRLF). Integers and `+` replies are read here:
/// `redis::parse_redis_value` builds a parser and zeroes its buffers per call, ~10k
/// instructions for a `:1` reply. Errors, and anything unexpected, go to it for their kinds.
fn one_line(line: &[u8]) -> RedisResult<Value> {
    let body = line
        .get(1..line.len().saturating_sub(2))
        .unwrap_or_default();
    match line.first() {
        Some(b':') => {
            if let Some(n) = std::str::from_utf8(body).ok().and_then(|t| t.parse().ok()) {
                return Ok(Value::Int(n));
            }
        }
        Some(b'+') if body == b"OK" => return Ok(Value::Okay),
        Some(b'+') => {
            if let Ok(text) = std::str::from_utf8(body) {
                return Ok(Value::SimpleString(text.to_owned()));
            }
        }
        _ => {}
    }
    redis::parse_redis_value(line)
}

/// Why an exchange failed: before any byte of it was written (safe to send again), or after
/// (the server may have applied it: never sent again).
enum Failure {
    Unsent(RedisError),
    Sent(RedisError),
}

impl Failure {
    fn into_error(self) -> RedisError {
        match self {
            Failure::Unsent(e) | Failure::Sent(e) => e,
        }
    }
}

fn timed_out() -> RedisError {
    RedisError::from(std::io::Error::from(std::io::ErrorKind::TimedOut))
}

/// How long a queue added to `queues` counts as known.
pub(crate) const KNOWN_FOR: Duration = Duration::from_secs(5);

/// The queues this backend recently added to the `queues` set, and when.
#[derive(Default)]
pub(crate) struct KnownQueues {
    state: Mutex<Known>,
}

#[derive(Default)]
struct Known {
    added: HashMap<String, Instant>,
    /// Bumped by every [`KnownQueues::forget`].
    generation: u64,
}

impl KnownQueues {
    /// Whether `queue` was added less than [`KNOWN_FOR`] before `now`.
    pub(crate) fn is_known(&self, queue: &str, now: Instant) -> bool {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state
            .added
            .get(queue)
            .is_some_and(|&t| now.saturating_duration_since(t) < KNOWN_FOR)
    }

    /// The current generation, taken before a push is sent.
    pub(crate) fn generation(&self) -> u64 {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .generation
    }

    /// Records that a push sent at `at`, when the generation was `generation`, added `queue`;
    /// ignored when a queue was removed since (the push may have raced the removal).
    pub(crate) fn added(&self, queue: &str, at: Instant, generation: u64) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.generation != generation {
            return;
        }
        match state.added.get_mut(queue) {
            Some(t) => *t = (*t).max(at),
            None => {
                state.added.insert(queue.to_owned(), at);
            }
        }
    }

    /// Forgets every queue (one was removed, or all were).
    pub(crate) fn forget(&self) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.added.clear();
        state.generation += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_replies_parse_as_redis_parses_them() {
        for line in [
            &b":1\r\n"[..],
            b":-42\r\n",
            b"+OK\r\n",
            b"+QUEUED\r\n",
            b"-ERR wrong number of arguments\r\n",
            b"-NOSCRIPT No matching script\r\n",
            b":x\r\n",
        ] {
            let ours = one_line(line).map_err(|e| (e.kind(), e.code().map(str::to_owned)));
            let theirs =
                redis::parse_redis_value(line).map_err(|e| (e.kind(), e.code().map(str::to_owned)));
            assert_eq!(ours, theirs, "{}", String::from_utf8_lossy(line));
        }
        assert_eq!(one_line(b":7\r\n").ok(), Some(Value::Int(7)));
    }

    #[test]
    fn known_queues_expire_and_are_forgotten() {
        let known = KnownQueues::default();
        let t0 = Instant::now();
        assert!(!known.is_known("q", t0));
        known.added("q", t0, known.generation());
        assert!(known.is_known("q", t0 + Duration::from_secs(1)));
        assert!(!known.is_known("q", t0 + KNOWN_FOR));
        known.forget();
        assert!(!known.is_known("q", t0));
    }

    #[test]
    fn at_most_max_conns_are_open() {
        use redis::IntoConnectionInfo;
        let info = "redis://127.0.0.1:1".into_connection_info().unwrap();
        let secs = Duration::from_secs(1);
        let pool = PushPool::new(&info, secs, secs).unwrap();
        let slots: Vec<Slot> = std::iter::from_fn(|| pool.slot()).take(100).collect();
        assert_eq!(slots.len(), MAX_CONNS);
        drop(slots);
        assert!(pool.slot().is_some());
    }

    #[test]
    fn a_tls_address_gets_no_plain_push_connections() {
        use redis::IntoConnectionInfo;
        let secs = Duration::from_secs(1);
        let info = "rediss://127.0.0.1:6380".into_connection_info().unwrap();
        assert!(PushPool::new(&info, secs, secs).is_none());
        let info = "redis://127.0.0.1:6379".into_connection_info().unwrap();
        assert!(PushPool::new(&info, secs, secs).is_some());
    }

    #[test]
    fn a_push_that_raced_a_removal_does_not_mark_its_queue() {
        let known = KnownQueues::default();
        let before = known.generation();
        known.forget();
        known.added("q", Instant::now(), before);
        assert!(!known.is_known("q", Instant::now()));
    }
}
