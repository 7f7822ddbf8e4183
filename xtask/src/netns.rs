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

/// The process that made a test namespace (`dpu-test-<pid>-<n>`, `dpu-pair-<pid>-...` and
/// their peers'), from its name; `None` for a namespace that is not ours.
fn owner(name: &str) -> Option<u32> {
    let rest = name
        .strip_prefix("dpu-test-")
        .or_else(|| name.strip_prefix("dpu-pair-"))?;
    rest.split('-').next()?.parse().ok()
}

/// Deletes the test namespaces a killed run left behind (their owner process is gone; a live
/// run's are left alone), so taps and addresses of a dead run do not linger or collide. The
/// names removed.
pub fn remove_stale() -> Vec<String> {
    if unavailable_reason().is_some() {
        return Vec::new();
    }
    let Ok(listed) = Command::new("ip").args(["netns", "list"]).output() else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for line in String::from_utf8_lossy(&listed.stdout).lines() {
        // `name (id: 3)` or `name`.
        let name = line.split_whitespace().next().unwrap_or_default();
        let Some(pid) = owner(name) else { continue };
        let alive = std::path::Path::new(&format!("/proc/{pid}")).exists();
        if !alive && ip(&["netns", "del", name]).is_ok() {
            removed.push(name.to_string());
        }
    }
    removed
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

/// A namespace holding tap devices; deleted (with its taps and its peers' namespaces) when
/// dropped.
pub struct Namespace {
    /// Its name (`dpu-test-<pid>-<n>`).
    pub name: String,
    /// Peer hosts: (tap name, the peer's own namespace).
    peers: Vec<(String, String)>,
}

/// A peer host: tap name, address/prefix, and its MAC if the test fixes one.
pub type Peer = (String, String, Option<String>);

/// No IPv6 chatter (router solicitations, MLD) from a peer: tests count frames exactly.
const NO_IPV6: &str =
    "sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1";

impl Namespace {
    /// Makes a namespace with loopback up and one tap per `(name, address/prefix)` in `taps`.
    ///
    /// Each of `peers` (tap name, address/prefix, MAC if given) is a separate Linux host: a tap
    /// of that name in this namespace (for QEMU), bridged to a veth whose other end is `eth0`
    /// in a namespace of the peer's own, holding the address. So several peers on several
    /// data ports talk to each other only through the guest.
    pub fn create(taps: &[(String, String)], peers: &[Peer]) -> Result<Self> {
        let name = format!(
            "dpu-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        ip(&["netns", "add", &name])?;
        let mut namespace = Self {
            name,
            peers: Vec::new(),
        };
        ip(&["-n", &namespace.name, "link", "set", "lo", "up"])?;
        let _ = namespace.run(NO_IPV6);
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
        for (tap, address, mac) in peers {
            let main = namespace.name.clone();
            let peer = format!("{main}-{tap}");
            ip(&["netns", "add", &peer])?;
            namespace.peers.push((tap.clone(), peer.clone()));
            ip(&["-n", &peer, "link", "set", "lo", "up"])?;
            let _ = namespace.run_in(Some(tap), NO_IPV6);
            let bridge = format!("br-{tap}");
            let veth = format!("v-{tap}");
            ip(&["-n", &main, "tuntap", "add", "dev", tap, "mode", "tap"])?;
            ip(&["-n", &main, "link", "add", &bridge, "type", "bridge"])?;
            ip(&[
                "-n", &main, "link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns",
                &peer,
            ])?;
            for device in [tap.as_str(), veth.as_str()] {
                ip(&["-n", &main, "link", "set", device, "master", &bridge])?;
                ip(&["-n", &main, "link", "set", device, "up"])?;
            }
            ip(&["-n", &main, "link", "set", &bridge, "up"])?;
            if let Some(mac) = mac {
                ip(&["-n", &peer, "link", "set", "eth0", "address", mac])?;
            }
            ip(&["-n", &peer, "addr", "add", address, "dev", "eth0"])?;
            ip(&["-n", &peer, "link", "set", "eth0", "up"])?;
        }
        Ok(namespace)
    }

    /// Runs `command` with `sh -c` in the namespace of peer `peer` (a `peer:` tap name), or in
    /// this namespace for `None`; returns (success, stdout + stderr).
    pub fn run_in(&self, peer: Option<&str>, command: &str) -> Result<(bool, String)> {
        let name = match peer {
            None => &self.name,
            Some(tap) => self
                .peers
                .iter()
                .find(|(name, _)| name == tap)
                .map(|(_, namespace)| namespace)
                .with_context(|| {
                    format!("no peer named {tap} (add a 'peer: {tap} ADDRESS' line)")
                })?,
        };
        let output = Command::new("ip")
            .args(["netns", "exec", name, "sh", "-c", command])
            .output()
            .context("running a command in the namespace")?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        Ok((output.status.success(), text))
    }

    /// Runs `command` with `sh -c` inside the namespace; returns (success, stdout + stderr).
    pub fn run(&self, command: &str) -> Result<(bool, String)> {
        self.run_in(None, command)
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        for (_, peer) in &self.peers {
            let _ = ip(&["netns", "del", peer]);
        }
        let _ = ip(&["netns", "del", &self.name]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_test_namespace_names_the_run_that_made_it() {
        assert_eq!(owner("dpu-test-10326-4"), Some(10326));
        assert_eq!(owner("dpu-test-10326-4-p1"), Some(10326));
        assert_eq!(owner("dpu-pair-77-bench-host"), Some(77));
        assert_eq!(owner("dpu-pair-x-1"), None);
        assert_eq!(owner("someone-elses"), None);
    }
}
