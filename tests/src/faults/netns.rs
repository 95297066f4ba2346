//! A worker "host" of a fault run: a network namespace made for the test, whose only way
//! to the store is the listeners the test opens inside it. Each listener sits on the same
//! `127.0.0.1:<port>` as a store node on this machine's loopback, so the store's URL, and a
//! Redis Cluster's node addresses from `CLUSTER SLOTS`, lead a worker in the namespace to
//! the test's proxies, one per node, and a fault can cut one node off from one host while
//! every other client reaches it directly.
//!
//! Made with `ip netns add` (as root); nothing outside the namespace is touched, and it is
//! deleted when dropped. Where namespaces are not permitted [`Host::create`] says why and
//! the test is skipped, as a test whose server is not installed is.

use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};

use tokio::net::TcpListener;

/// A network namespace of the test's own, with its loopback up; deleted when dropped.
pub struct Host {
    name: String,
}

/// Runs `ip args`; the error is what `ip` printed.
fn ip(args: &[&str]) -> Result<(), String> {
    let out = std::process::Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run ip {}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl Host {
    /// Makes a namespace `jobs-f-<pid>-<n>` with its loopback up; `None` (said on stderr)
    /// where namespaces are not permitted here.
    pub fn create() -> Option<Host> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "jobs-f-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        if let Err(e) = ip(&["netns", "add", &name]) {
            eprintln!("skipped: no network namespace for a worker host: {e}");
            return None;
        }
        let host = Host { name };
        if let Err(e) = ip(&["-n", &host.name, "link", "set", "lo", "up"]) {
            eprintln!("skipped: no loopback in the worker host's namespace: {e}");
            return None;
        }
        Some(host)
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A listener on `addr` inside the namespace. A thread of its own enters the namespace
    /// to bind it (only that thread moves); the socket stays there, and connections made
    /// from the rest of the process (upstream, say) are on this machine's own stack.
    pub async fn listen(&self, addr: SocketAddr) -> std::io::Result<TcpListener> {
        let path = format!("/run/netns/{}", self.name);
        let bound = std::thread::spawn(move || {
            let file = std::fs::File::open(&path)?;
            // SAFETY: setns gets a namespace file descriptor held open for the call and the
            // network namespace type; it moves only this thread, which ends right after.
            if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                return Err(std::io::Error::last_os_error());
            }
            let listener = std::net::TcpListener::bind(addr)?;
            listener.set_nonblocking(true)?;
            Ok(listener)
        })
        .join()
        .map_err(|_| std::io::Error::other("the thread binding in the namespace panicked"))??;
        TcpListener::from_std(bound)
    }

    /// A command that runs `program` inside the namespace (`ip netns exec` execs it, so it
    /// keeps the pid the test signals).
    pub fn command(&self, program: &std::path::Path) -> tokio::process::Command {
        let mut command = tokio::process::Command::new("ip");
        command.args(["netns", "exec", &self.name]).arg(program);
        command
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        if let Err(e) = ip(&["netns", "del", &self.name]) {
            eprintln!("removing the worker host's namespace: {e}");
        }
    }
}
