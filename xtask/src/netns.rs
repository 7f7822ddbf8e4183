//! Network namespaces with tap devices: real Linux peers for the NICs.
//!
//! Made and removed by the tests themselves (root only). Nothing here reaches beyond the
//! namespace.

use anyhow::{Context, Result, bail};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

static NEXT: AtomicU32 = AtomicU32::new(0);

/// Why namespace tests cannot run here, if they cannot.
pub fn unavailable_reason() -> Option<String> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Some("needs root (network namespaces and tap devices); CI runs it as root".into());
    }
    let has_ip = Command::new("ip")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_ip {
        return Some("needs the `ip` command (apt-get install iproute2)".into());
    }
    None
}

fn ip(arguments: &[&str]) -> Result<()> {
    let output = Command::new("ip")
        .args(arguments)
        .output()
        .context("running ip")?;
    if !output.status.success() {
        bail!(
            "ip {}: {}",
            arguments.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

/// A namespace holding tap devices; deleted (with its taps) when dropped.
pub struct Namespace {
    /// Its name (`dpu-test-<pid>-<n>`).
    pub name: String,
}

impl Namespace {
    /// Makes a namespace with loopback up and one tap per `(name, address/prefix)`.
    pub fn create(taps: &[(String, String)]) -> Result<Self> {
        let name = format!(
            "dpu-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        ip(&["netns", "add", &name])?;
        let namespace = Self { name };
        ip(&["-n", &namespace.name, "link", "set", "lo", "up"])?;
        // No IPv6 chatter (router solicitations, MLD) from the peer: tests count frames exactly.
        let _ = namespace.run(
            "sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1",
        );
        for (tap, address) in taps {
            ip(&[
                "-n",
                &namespace.name,
                "tuntap",
                "add",
                "dev",
                tap,
                "mode",
                "tap",
            ])?;
            ip(&["-n", &namespace.name, "link", "set", tap, "mtu", "9000"])?;
            ip(&["-n", &namespace.name, "addr", "add", address, "dev", tap])?;
            ip(&["-n", &namespace.name, "link", "set", tap, "up"])?;
        }
        Ok(namespace)
    }

    /// Runs `command` with `sh -c` inside the namespace; returns (success, stdout + stderr).
    pub fn run(&self, command: &str) -> Result<(bool, String)> {
        let output = Command::new("ip")
            .args(["netns", "exec", &self.name, "sh", "-c", command])
            .output()
            .context("running a command in the namespace")?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        Ok((output.status.success(), text))
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = ip(&["netns", "del", &self.name]);
    }
}
