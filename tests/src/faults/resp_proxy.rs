//! A TCP proxy on 127.0.0.1 that reads the Redis protocol and can play a demoted primary:
//! while read-only, it answers commands itself with `-READONLY` instead of forwarding them.
//!
//! 1. Each client connection is joined to the upstream server. Requests are parsed into
//!    commands (RESP arrays, or inline commands); replies into frames. Every command gets
//!    exactly one reply, in the order the commands came, whether the server or the proxy
//!    gives it: an answer the proxy makes waits until every earlier command's reply from the
//!    server has been passed on, so pipelined commands (which the Redis client sends without
//!    waiting) never get each other's replies.
//! 2. While [`ReadOnlyProxy::set_readonly`] is on, every command except the connection's
//!    housekeeping ([`HOUSEKEEPING`]: `HELLO`, `AUTH`, `SELECT`, `PING`, `CLIENT`, ...) is
//!    answered `-READONLY You can't write against a read only replica.` and never reaches
//!    the server, reads included: a client still talking to a primary that was demoted gets
//!    the error a replica gives for writes, and nothing it sends changes the store. (A real
//!    replica would serve reads; refusing them too gives the client more errors to handle,
//!    never fewer.) New connections are accepted and set up as usual.
//! 3. A transaction is judged as one unit at its `MULTI`: refused, the proxy answers `+OK`,
//!    `-READONLY` for each queued command and `-EXECABORT` for `EXEC`, as a replica does for a
//!    transaction holding writes; forwarded, all of it reaches the server even if read-only
//!    is switched on half-way, so the server never sees half a transaction.
//! 4. Out-of-band frames (RESP3 pushes and attributes) are passed on without taking a reply's
//!    place. Switched off, traffic flows through unchanged.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// The reply to a refused command, as a read-only replica gives it.
pub const READONLY: &[u8] = b"-READONLY You can't write against a read only replica.\r\n";
/// The reply to the `EXEC` of a refused transaction.
const EXECABORT: &[u8] = b"-EXECABORT Transaction discarded because of previous errors.\r\n";
/// Commands a read-only replica answers as usual, which the proxy forwards even while
/// read-only: setting a connection up and checking it.
pub const HOUSEKEEPING: [&str; 8] = [
    "HELLO", "AUTH", "SELECT", "PING", "ECHO", "CLIENT", "QUIT", "RESET",
];

/// A proxy that answers `-READONLY` while switched on; it stops (and drops its connections)
/// when dropped.
///
/// ```no_run
/// # async fn f() -> std::io::Result<()> {
/// use jobs_conformance::faults::resp_proxy::ReadOnlyProxy;
/// let proxy = ReadOnlyProxy::start("127.0.0.1:6379".parse().unwrap()).await?;
/// let url = format!("redis://127.0.0.1:{}", proxy.port());
/// proxy.set_readonly(true);
/// // ... every command through `url` gets -READONLY ...
/// proxy.set_readonly(false);
/// # let _ = url;
/// # Ok(())
/// # }
/// ```
pub struct ReadOnlyProxy {
    port: u16,
    shared: Arc<Shared>,
    accept: JoinHandle<()>,
}

#[derive(Default)]
struct Shared {
    readonly: AtomicBool,
    refused: AtomicU64,
}

impl ReadOnlyProxy {
    /// Listens on a free port of 127.0.0.1 and forwards to `upstream`.
    pub async fn start(upstream: SocketAddr) -> std::io::Result<ReadOnlyProxy> {
        Self::start_on(TcpListener::bind("127.0.0.1:0").await?, upstream)
    }

    /// Accepts on `listener` (one inside a worker host's namespace, say) and forwards to
    /// `upstream`.
    pub fn start_on(listener: TcpListener, upstream: SocketAddr) -> std::io::Result<ReadOnlyProxy> {
        let port = listener.local_addr()?.port();
        let shared = Arc::new(Shared::default());
        let accept = tokio::spawn(accept_loop(listener, upstream, shared.clone()));
        Ok(ReadOnlyProxy {
            port,
            shared,
            accept,
        })
    }

    /// The port clients connect to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Switches read-only on (commands arriving from now on are refused) or off.
    pub fn set_readonly(&self, on: bool) {
        self.shared.readonly.store(on, Ordering::SeqCst);
    }

    /// How many commands the proxy has answered itself (`-READONLY`) so far.
    pub fn refused(&self) -> u64 {
        self.shared.refused.load(Ordering::SeqCst)
    }
}

impl Drop for ReadOnlyProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

async fn accept_loop(listener: TcpListener, upstream: SocketAddr, shared: Arc<Shared>) {
    // Dropped with this task (when the proxy is dropped), which aborts every connection.
    let mut connections = tokio::task::JoinSet::new();
    loop {
        while connections.try_join_next().is_some() {}
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        let shared = shared.clone();
        connections.spawn(async move {
            let Ok(server) = TcpStream::connect(upstream).await else {
                return;
            };
            let _ = client.set_nodelay(true);
            let _ = server.set_nodelay(true);
            let (client_read, client_write) = client.into_split();
            let (server_read, server_write) = server.into_split();
            let (slots, pending) = mpsc::unbounded_channel();
            let up = requests(client_read, server_write, slots, shared);
            let down = replies(server_read, client_write, pending);
            // When either side closes, the other direction is finished too.
            tokio::select! {
                () = up => {}
                () = down => {}
            }
        });
    }
}

/// Who answers one command: the server, or the proxy with these bytes.
enum Slot {
    Server,
    Proxy(&'static [u8]),
}

/// A transaction under way on a connection, and whether the proxy refuses it.
#[derive(Clone, Copy)]
enum Multi {
    None,
    Forwarded,
    Refused,
}

/// Reads the client's commands; forwards each to the server or answers it, and tells
/// [`replies`] which, in order.
async fn requests(
    mut client: OwnedReadHalf,
    mut server: OwnedWriteHalf,
    slots: mpsc::UnboundedSender<Slot>,
    shared: Arc<Shared>,
) {
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 16 * 1024];
    let mut multi = Multi::None;
    loop {
        let n = match client.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        let mut forward = Vec::new();
        let mut used = 0;
        while let Some((len, name)) = match parse_request(&buf[used..]) {
            Ok(next) => next,
            Err(()) => return,
        } {
            let frame = &buf[used..used + len];
            used += len;
            let readonly = shared.readonly.load(Ordering::SeqCst);
            let (slot, next) = judge(&name, multi, readonly);
            multi = next;
            match slot {
                Slot::Server => forward.extend_from_slice(frame),
                Slot::Proxy(reply) => {
                    if reply == READONLY {
                        shared.refused.fetch_add(1, Ordering::SeqCst);
                    }
                }
            }
            // Sent before the command is written, so the reply always finds its slot.
            if slots.send(slot).is_err() {
                return;
            }
        }
        buf.drain(..used);
        if !forward.is_empty() && server.write_all(&forward).await.is_err() {
            break;
        }
    }
    let _ = server.shutdown().await;
}

/// Who answers command `name`, and the transaction state after it.
fn judge(name: &str, multi: Multi, readonly: bool) -> (Slot, Multi) {
    match (multi, name) {
        (Multi::None, "MULTI") if readonly => (Slot::Proxy(b"+OK\r\n"), Multi::Refused),
        (Multi::None, "MULTI") => (Slot::Server, Multi::Forwarded),
        (Multi::Forwarded, "EXEC" | "DISCARD") => (Slot::Server, Multi::None),
        (Multi::Forwarded, _) => (Slot::Server, Multi::Forwarded),
        (Multi::Refused, "EXEC") => (Slot::Proxy(EXECABORT), Multi::None),
        (Multi::Refused, "DISCARD") => (Slot::Proxy(b"+OK\r\n"), Multi::None),
        (Multi::Refused, _) => (Slot::Proxy(READONLY), Multi::Refused),
        (Multi::None, _) if readonly && !HOUSEKEEPING.contains(&name) => {
            (Slot::Proxy(READONLY), Multi::None)
        }
        (Multi::None, _) => (Slot::Server, Multi::None),
    }
}

/// Writes each command's reply to the client in command order: the server's next reply
/// for a forwarded command, the proxy's own for a refused one.
async fn replies(
    mut server: OwnedReadHalf,
    mut client: OwnedWriteHalf,
    mut slots: mpsc::UnboundedReceiver<Slot>,
) {
    let mut queue: VecDeque<Slot> = VecDeque::new();
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        if flush_own(&mut queue, &mut client).await.is_err() {
            return;
        }
        tokio::select! {
            slot = slots.recv() => match slot {
                Some(slot) => queue.push_back(slot),
                None => return,
            },
            read = server.read(&mut chunk) => {
                let n = match read {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                buf.extend_from_slice(&chunk[..n]);
                let mut used = 0;
                while let Some(len) = match frame_len(&buf[used..]) {
                    Ok(next) => next,
                    Err(()) => return,
                } {
                    let frame = &buf[used..used + len];
                    used += len;
                    while let Ok(slot) = slots.try_recv() {
                        queue.push_back(slot);
                    }
                    // A push or an attribute is no command's reply; anything else answers
                    // the oldest forwarded command.
                    if !matches!(frame[0], b'>' | b'|')
                        && matches!(queue.front(), Some(Slot::Server))
                    {
                        queue.pop_front();
                    }
                    if client.write_all(frame).await.is_err() {
                        return;
                    }
                    if flush_own(&mut queue, &mut client).await.is_err() {
                        return;
                    }
                }
                buf.drain(..used);
            }
        }
    }
}

/// Writes the proxy's own replies at the head of `queue`, up to the next forwarded command.
async fn flush_own(queue: &mut VecDeque<Slot>, client: &mut OwnedWriteHalf) -> std::io::Result<()> {
    while let Some(Slot::Proxy(reply)) = queue.front() {
        client.write_all(reply).await?;
        queue.pop_front();
    }
    Ok(())
}

/// The end of the line starting at `at` (the index of its `\r`), if it is all there.
fn line_end(buf: &[u8], at: usize) -> Option<usize> {
    buf.get(at..)?
        .windows(2)
        .position(|w| w == b"\r\n")
        .map(|p| at + p)
}

/// The number on the line starting at `at + 1` (after a type byte), and where the next
/// line starts.
fn header(buf: &[u8], at: usize) -> Result<Option<(i64, usize)>, ()> {
    let Some(end) = line_end(buf, at) else {
        return Ok(None);
    };
    let text = std::str::from_utf8(&buf[at + 1..end]).map_err(|_| ())?;
    let n = text.parse::<i64>().map_err(|_| ())?;
    Ok(Some((n, end + 2)))
}

/// The length of the RESP2 or RESP3 frame starting at `at`, if all of it is in `buf`;
/// `Err` for bytes that are not RESP (or a streamed frame, which Redis does not send).
fn frame_end(buf: &[u8], at: usize) -> Result<Option<usize>, ()> {
    let Some(&kind) = buf.get(at) else {
        return Ok(None);
    };
    match kind {
        b'+' | b'-' | b':' | b'_' | b',' | b'#' | b'(' => Ok(line_end(buf, at).map(|e| e + 2)),
        b'$' | b'!' | b'=' => {
            let Some((len, body)) = header(buf, at)? else {
                return Ok(None);
            };
            if len < 0 {
                return Ok(Some(body));
            }
            let end = body + len as usize + 2;
            Ok((buf.len() >= end).then_some(end))
        }
        b'*' | b'~' | b'>' | b'%' | b'|' => {
            let Some((count, mut next)) = header(buf, at)? else {
                return Ok(None);
            };
            let items = if matches!(kind, b'%' | b'|') {
                count.max(0) * 2
            } else {
                count.max(0)
            };
            for _ in 0..items {
                match frame_end(buf, next)? {
                    Some(end) => next = end,
                    None => return Ok(None),
                }
            }
            Ok(Some(next))
        }
        _ => Err(()),
    }
}

/// The length of the reply frame at the start of `buf`, if it is all there.
fn frame_len(buf: &[u8]) -> Result<Option<usize>, ()> {
    frame_end(buf, 0)
}

/// The length of the command at the start of `buf` and its name (upper case), if all of it
/// is there: a RESP array of bulk strings, or an inline command ending in a newline.
fn parse_request(buf: &[u8]) -> Result<Option<(usize, String)>, ()> {
    match buf.first() {
        None => Ok(None),
        Some(b'*') => {
            let Some(len) = frame_len(buf)? else {
                return Ok(None);
            };
            // The frame is whole, so its first element (when it has one) is too.
            let name = match header(buf, 0)? {
                Some((count, first)) if count > 0 && buf.get(first) == Some(&b'$') => {
                    match header(buf, first)? {
                        Some((n, body)) if n >= 0 => &buf[body..body + n as usize],
                        _ => &[][..],
                    }
                }
                _ => &[][..],
            };
            Ok(Some((len, String::from_utf8_lossy(name).to_uppercase())))
        }
        Some(_) => {
            let Some(end) = buf.iter().position(|b| *b == b'\n') else {
                return Ok(None);
            };
            let line = String::from_utf8_lossy(&buf[..end]);
            let name = line.split_whitespace().next().unwrap_or_default();
            Ok(Some((end + 1, name.to_uppercase())))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_measured_whole_or_not_at_all() {
        let reply = b"*3\r\n$3\r\nabc\r\n:5\r\n*-1\r\n+OK\r\n";
        assert_eq!(frame_len(reply), Ok(Some(reply.len() - 5)));
        for cut in 0..reply.len() - 5 {
            assert_eq!(frame_len(&reply[..cut]), Ok(None), "cut at {cut}");
        }
        assert_eq!(frame_len(b"$-1\r\n"), Ok(Some(5)));
        assert_eq!(frame_len(b"%1\r\n+a\r\n:1\r\n"), Ok(Some(12)));
        assert_eq!(frame_len(b"?\r\n"), Err(()));
    }

    #[test]
    fn requests_give_their_command_name() {
        let set = b"*3\r\n$3\r\nset\r\n$1\r\nk\r\n$1\r\nv\r\n*1\r\n$4\r\nEXEC\r\n";
        assert_eq!(parse_request(set), Ok(Some((27, "SET".to_owned()))));
        assert_eq!(parse_request(&set[27..]), Ok(Some((14, "EXEC".to_owned()))));
        assert_eq!(parse_request(&set[..20]), Ok(None));
        assert_eq!(parse_request(b"ping\r\n"), Ok(Some((6, "PING".to_owned()))));
    }

    #[test]
    fn a_transaction_is_judged_at_its_multi() {
        let (slot, multi) = judge("MULTI", Multi::None, false);
        assert!(matches!((slot, multi), (Slot::Server, Multi::Forwarded)));
        let (slot, multi) = judge("SADD", multi, true);
        assert!(matches!((slot, multi), (Slot::Server, Multi::Forwarded)));
        let (slot, _) = judge("EXEC", multi, true);
        assert!(matches!(slot, Slot::Server));
        let (_, multi) = judge("MULTI", Multi::None, true);
        let (slot, multi) = judge("SADD", multi, false);
        assert!(matches!(slot, Slot::Proxy(READONLY)));
        let (slot, multi) = judge("EXEC", multi, false);
        assert!(matches!(
            (slot, multi),
            (Slot::Proxy(EXECABORT), Multi::None)
        ));
        assert!(matches!(judge("PING", Multi::None, true).0, Slot::Server));
        assert!(matches!(
            judge("GET", Multi::None, true).0,
            Slot::Proxy(READONLY)
        ));
    }
}
