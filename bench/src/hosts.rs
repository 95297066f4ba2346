//! Worker "hosts" for `--netns`: one network namespace per worker process, made for the run
//! and removed after it, so each worker has a network stack of its own and reaches the store
//! only through the delaying proxy.
//!
//! 1. [`Hosts::create`] runs `ip netns add jobs-bench-<pid>-<i>` and brings each namespace's
//!    loopback up. Nothing outside the namespaces it made is touched. Where namespaces are
//!    not permitted (no `ip`, not root, a sandbox that forbids them) it gives the reason and
//!    the run falls back to separate processes on one stack, saying so in its report.
//! 2. The proxy child opens a listener on `127.0.0.1:<port>` inside every namespace, on the
//!    same port as its listener on this machine's loopback ([`enter`]), so the store's URL,
//!    and a cluster's announced node addresses, are the same on every host.
//! 3. [`Hosts::command`] starts a worker inside its namespace (`ip netns exec`, which execs
//!    the worker, so it is still this process's child and its CPU time is reaped here).
//! 4. Dropping [`Hosts`] deletes the namespaces (`ip netns del`).

use std::process::Stdio;

use anyhow::{bail, Context, Result};

/// Network namespaces made for one run, one per worker process.
pub struct Hosts {
    names: Vec<String>,
}

/// Runs `ip` with `args`; the error carries what `ip` printed.
fn ip(args: &[&str]) -> Result<()> {
    let out = std::process::Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running ip {}", args.join(" ")))?;
    if !out.status.success() {
        bail!(
            "ip {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

impl Hosts {
    /// Makes `n` namespaces, each with its loopback up.
    pub fn create(n: usize) -> Result<Hosts> {
        let mut hosts = Hosts { names: Vec::new() };
        let pid = std::process::id();
        for i in 0..n {
            let name = format!("jobs-bench-{pid}-{i}");
            ip(&["netns", "add", &name])?;
            hosts.names.push(name.clone());
            ip(&["-n", &name, "link", "set", "lo", "up"])?;
        }
        Ok(hosts)
    }

    /// The namespaces' names, in worker order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// A command that runs `exe` inside host `i`'s namespace.
    pub fn command(&self, i: usize, exe: &std::path::Path) -> Result<tokio::process::Command> {
        let name = self
            .names
            .get(i)
            .with_context(|| format!("no namespace for worker {i}"))?;
        let mut cmd = tokio::process::Command::new("ip");
        cmd.args(["netns", "exec", name]).arg(exe);
        Ok(cmd)
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        for name in &self.names {
            if let Err(e) = ip(&["netns", "del", name]) {
                eprintln!("jobs-bench: removing namespace {name}: {e:#}");
            }
        }
    }
}

/// Moves the calling thread into the named namespace, so the sockets it makes afterwards
/// live there. Only this thread moves: the rest of the process stays where it was.
pub fn enter(name: &str) -> Result<()> {
    use std::os::fd::AsRawFd;
    let path = format!("/run/netns/{name}");
    let file = std::fs::File::open(&path).with_context(|| format!("opening {path}"))?;
    // SAFETY: setns takes a namespace file descriptor we hold open for the call, and a
    // namespace type; it changes only this thread's network namespace.
    let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc != 0 {
        bail!(
            "entering namespace {name}: {}",
            std::io::Error::last_os_error()
        );
    }
    Ok(())
}
