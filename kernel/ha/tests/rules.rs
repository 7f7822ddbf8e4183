//! One test per HA rule, on a virtual clock (tests/sim): formation, fencing, each failover
//! trigger, no failback, split brain, refusal.

#![allow(clippy::unwrap_used, reason = "test helpers outside #[test] functions")]

mod sim;

use dpu_ha::{Dpu, FailoverError, Grant, Health, Heartbeat, Message, Reason, Role, Source, alias};
use sim::{World, config};

#[test]
fn boots_standby_and_does_not_forward() {
    let d = Dpu::new(config("dpu1", 100, "0.2.0"), 0);
    assert_eq!(d.role(), Role::Standby);
    assert!(!d.forwarding());
    assert_eq!(d.epoch(), 0);
}

#[test]
fn alone_without_peer_or_host_it_never_promotes() {
    let mut w = World::new(false);
    w.dpus[1] = None;
    w.hung[1] = true;
    w.run(10_000);
    assert_eq!(w.role(0), Role::Standby);
    let now = w.now;
    assert_eq!(w.dpu(0).peer(now).health, Health::Unknown);
}

#[test]
fn with_the_host_exactly_one_becomes_active_the_higher_priority() {
    let mut w = World::new(true);
    let t = w.run_until(2_000, |w| w.actives() == 1).unwrap();
    // A DPU promotes itself only past the detect time (300 ms) after its boot.
    assert!(t <= 500, "formed after {t} ms");
    w.run(2_000);
    assert_eq!(w.role(0), Role::Active);
    assert_eq!(w.role(1), Role::Standby);
    assert_eq!(w.dpu(0).epoch(), w.dpu(1).epoch());
    assert!(!w.two_active_seen);
}

#[test]
fn without_the_host_the_peers_form_on_their_own() {
    let mut w = World::new(false);
    w.run(2_000);
    assert_eq!(w.role(0), Role::Active);
    assert_eq!(w.role(1), Role::Standby);
    assert!(!w.two_active_seen);
}

#[test]
fn host_alone_with_one_dpu_forms_after_the_wait() {
    let mut w = World::new(true);
    w.dpus[1] = None;
    w.hung[1] = true;
    w.host_path[1] = false;
    w.run(2_500);
    assert_eq!(w.role(0), Role::Standby, "waits for the second DPU first");
    w.run(1_000);
    assert_eq!(w.role(0), Role::Active);
}

#[test]
fn a_higher_epoch_stops_forwarding_at_once() {
    let mut w = World::new(true);
    w.run(1_000);
    assert!(w.forwarding(0));
    let epoch = w.dpu(0).epoch();
    let now = w.now;
    let mut peer = w.dpu(1).heartbeat(now);
    peer.role = Role::Active;
    peer.epoch = epoch + 1;
    let now = w.now;
    w.dpu(0)
        .on_message(now, Source::Link, &Message::Heartbeat(peer))
        .unwrap();
    assert!(!w.forwarding(0));
    assert_eq!(w.dpu(0).epoch(), epoch + 1);
    // The same from the host.
    let mut w = World::new(true);
    w.run(1_000);
    let epoch = w.dpu(0).epoch();
    let grant = Grant {
        epoch: epoch + 1,
        active: Some(alias("dpu2")),
        ..Grant::default()
    };
    let now = w.now;
    w.dpu(0)
        .on_message(now, Source::Host, &Message::Grant(grant))
        .unwrap();
    assert!(!w.forwarding(0));
}

#[test]
fn user_failover_with_the_host_takes_over_and_is_recorded() {
    let mut w = World::new(true);
    w.run(1_000);
    let now = w.now;
    w.dpu(0).request_failover(now, None).unwrap();
    assert!(!w.forwarding(0), "the resigning DPU stops at once");
    let t = w.run_until(1_000, |w| w.forwarding(1)).unwrap();
    assert!(t <= 10, "takeover after {t} ms");
    w.run(1_000);
    assert_eq!(w.role(0), Role::Standby);
    let arbiter = w.arbiter.as_ref().unwrap();
    let last = arbiter.failovers().last().unwrap();
    assert_eq!(
        (last.reason, last.from.as_str(), last.to.as_str()),
        (Reason::User, "dpu1", "dpu2")
    );
    for i in 0..2 {
        let r = w.dpu(i).failovers().last().cloned().unwrap();
        assert_eq!(r.reason, Reason::User);
        assert_eq!(r.to.as_str(), "dpu2");
    }
    assert!(!w.two_active_seen);
}

#[test]
fn resign_without_the_host_takes_over_on_the_link() {
    let mut w = World::new(false);
    w.run(1_000);
    let now = w.now;
    w.dpu(0).request_failover(now, Some("dpu2")).unwrap();
    let t = w.run_until(1_000, |w| w.forwarding(1)).unwrap();
    assert!(t <= 10, "takeover after {t} ms");
    w.run(2_000);
    assert_eq!(w.role(0), Role::Standby);
    assert_eq!(w.dpu(1).failovers().last().unwrap().reason, Reason::User);
    assert!(!w.two_active_seen);
}

#[test]
fn a_panic_resign_takes_over_in_one_step() {
    for with_host in [true, false] {
        let mut w = World::new(with_host);
        w.run(1_000);
        w.panic(0);
        let t = w.run_until(1_000, |w| w.forwarding(1)).unwrap();
        assert!(t <= 10, "takeover after {t} ms (host {with_host})");
        assert_eq!(w.dpu(1).failovers().last().unwrap().reason, Reason::Crash);
        // It comes back as standby and stays there (no failback, though its priority is higher).
        w.reboot(0, config("dpu1", 200, "0.2.0"));
        w.run(5_000);
        assert_eq!(w.role(0), Role::Standby);
        assert_eq!(w.role(1), Role::Active);
        assert!(!w.two_active_seen);
    }
}

#[test]
fn missed_heartbeats_take_over_with_reason_crash() {
    let mut w = World::new(true);
    w.run(1_000);
    w.hung[0] = true; // silent on every path, still "forwarding" in its own mind
    let t = w.run_until(2_000, |w| w.role(1) == Role::Active).unwrap();
    assert!((300..=350).contains(&t), "detected after {t} ms");
    let arbiter = w.arbiter.as_ref().unwrap();
    assert_eq!(arbiter.failovers().last().unwrap().reason, Reason::Crash);
    // When it wakes up it hears the higher epoch and stops at once.
    w.hung[0] = false;
    w.run(200);
    assert_eq!(w.role(0), Role::Standby);
    assert_eq!(w.actives(), 1);
}

#[test]
fn all_uplinks_down_resigns_link_down() {
    let mut w = World::new(true);
    w.run(1_000);
    w.uplinks[0] = (0, 2);
    let t = w.run_until(1_000, |w| w.forwarding(1)).unwrap();
    assert!(t <= 10, "takeover after {t} ms");
    let arbiter = w.arbiter.as_ref().unwrap();
    assert_eq!(arbiter.failovers().last().unwrap().reason, Reason::LinkDown);
    assert_eq!(
        w.dpu(0).failovers().last().unwrap().reason,
        Reason::LinkDown
    );
    // One uplink down of two is not a failover.
    let mut w = World::new(true);
    w.run(1_000);
    w.uplinks[0] = (1, 2);
    w.run(1_000);
    assert!(w.forwarding(0));
}

#[test]
fn a_recovered_uplink_counts_after_the_updelay_and_there_is_no_failback() {
    let mut w = World::new(true);
    w.run(1_000);
    w.uplinks[0] = (0, 2);
    w.run(500);
    w.uplinks[0] = (2, 2);
    w.run(1_000);
    assert_eq!(w.dpu(0).uplinks(), (0, 2), "still inside the updelay");
    w.run(1_500);
    assert_eq!(w.dpu(0).uplinks(), (2, 2));
    w.run(3_000);
    assert_eq!(w.role(0), Role::Standby);
    assert_eq!(w.role(1), Role::Active);
}

#[test]
fn failover_requests_are_refused_with_a_reason() {
    let mut w = World::new(true);
    w.run(1_000);
    let now = w.now;
    assert_eq!(
        w.dpu(1).request_failover(now, None),
        Err(FailoverError::NotActive)
    );
    assert_eq!(
        w.dpu(0).request_failover(now, Some("dpu9")),
        Err(FailoverError::UnknownTarget)
    );
    w.uplinks[1] = (0, 2); // the standby cannot take over
    w.run(500);
    let now = w.now;
    assert_eq!(
        w.dpu(0).request_failover(now, None),
        Err(FailoverError::PeerNotReady)
    );
    assert!(w.forwarding(0));
}

#[test]
fn link_cut_while_the_host_sees_both_is_no_split_brain() {
    let mut w = World::new(true);
    w.run(1_000);
    w.link_up = false;
    w.run(5_000);
    assert_eq!(w.role(0), Role::Active);
    assert_eq!(w.role(1), Role::Standby);
    assert!(!w.two_active_seen);
    // And a crash of the active still fails over through the host.
    w.hung[0] = true;
    w.run(500);
    assert_eq!(w.role(1), Role::Active);
}

#[test]
fn host_lost_and_link_cut_nobody_newly_promotes() {
    let mut w = World::new(true);
    w.run(1_000);
    w.host_path = [false, false];
    w.link_up = false;
    w.run(5_000);
    assert_eq!(w.role(1), Role::Standby);
    assert_eq!(w.role(0), Role::Active, "the active keeps forwarding");
    // Even if the active is really dead, the standby cannot tell: it stays standby.
    w.hung[0] = true;
    w.run(5_000);
    assert_eq!(w.role(1), Role::Standby);
    assert!(!w.two_active_seen);
}

#[test]
fn host_lost_link_up_a_silent_active_is_not_replaced() {
    let mut w = World::new(false);
    w.run(1_000);
    w.hung[0] = true;
    w.run(5_000);
    assert_eq!(w.role(1), Role::Standby);
    let now = w.now;
    assert_eq!(w.dpu(1).peer(now).health, Health::Down);
}

#[test]
fn firmware_mismatch_is_refused_naming_both_dpus() {
    for with_host in [true, false] {
        let mut w = World::new(with_host);
        w.reboot(1, config("dpu2", 100, "0.3.0"));
        w.run(5_000);
        for i in 0..2 {
            assert_eq!(w.role(i), Role::Refused, "host {with_host}");
            let reason = w.dpu(i).refused_reason().unwrap().to_string();
            assert!(
                reason.contains("dpu2") && reason.contains("0.3.0"),
                "{reason}"
            );
            assert!(
                reason.contains("dpu1") && reason.contains("0.2.0"),
                "{reason}"
            );
        }
        assert_eq!(w.actives(), 0);
        // The fixed image comes back: HA forms.
        w.reboot(1, config("dpu2", 100, "0.2.0"));
        w.run(5_000);
        assert_eq!(w.actives(), 1, "host {with_host}");
    }
}

#[test]
fn config_digest_mismatch_is_refused_naming_both_dpus() {
    let mut w = World::new(true);
    let mut c = config("dpu2", 100, "0.2.0");
    c.config_digest = [9; 32];
    w.reboot(1, c);
    w.run(3_000);
    assert_eq!(w.role(0), Role::Refused);
    let reason = w.dpu(0).refused_reason().unwrap();
    assert_eq!(reason, "dpu2 has config digest 09090909, dpu1 07070707");
}

#[test]
fn a_standby_on_other_firmware_joining_an_active_is_reported_not_refused() {
    // A rolling update: the standby reboots into the new image while the other forwards.
    let mut w = World::new(true);
    w.run(1_000);
    w.reboot(1, config("dpu2", 100, "0.3.0"));
    w.run(2_000);
    assert_eq!(w.role(0), Role::Active);
    assert_eq!(w.role(1), Role::Standby);
    assert!(w.dpu(1).mismatch().unwrap().contains("0.2.0"));
    let now = w.now;
    w.dpu(0).request_failover(now, None).unwrap();
    w.run(200);
    assert_eq!(w.role(1), Role::Active);
}

/// A rolling update midway: dpu1 (0.2.0) active at epoch 5, dpu2 on 0.3.0 standby with the
/// difference noted. dpu1 resigns for an operator, the arbiter names dpu2 at epoch 9, and
/// dpu1's next heartbeat (epoch 9, standby, nobody active) reaches dpu2 before dpu2's own
/// grant. dpu2 must not refuse HA there (the pair formed long ago): it takes over when its
/// grant arrives. (Found by `cargo xtask bench pair --update`: the pair ended with nobody
/// active, dpu2 "refused" at epoch 9.)
#[test]
fn a_peer_heartbeat_ahead_of_the_grant_does_not_refuse_a_formed_pair() {
    let mut d = Dpu::new(config("dpu2", 100, "0.3.0"), 0);
    d.on_uplinks(0, 2, 2);
    let mut peer = booted("dpu1", 200);
    let mut active = peer.poll(0).unwrap();
    active.epoch = 5;
    active.role = Role::Active;
    d.on_message(400, Source::Link, &Message::Heartbeat(active.clone()))
        .unwrap();
    d.on_message(400, Source::Host, &grant_naming(5, Some("dpu1")))
        .unwrap();
    assert_eq!(d.role(), Role::Standby);
    assert!(d.mismatch().unwrap().contains("0.2.0"));
    let mut resigned = active;
    resigned.epoch = 9;
    resigned.role = Role::Standby;
    d.on_message(500, Source::Link, &Message::Heartbeat(resigned))
        .unwrap();
    assert_eq!(d.role(), Role::Standby, "refused: {:?}", d.refused_reason());
    d.on_message(505, Source::Host, &grant_naming(9, Some("dpu2")))
        .unwrap();
    assert_eq!(d.role(), Role::Active);
    assert!(d.mismatch().is_some(), "the difference is still reported");
}

#[test]
fn arbiter_user_failover_and_its_errors() {
    let mut w = World::new(true);
    w.run(1_000);
    let now = w.now;
    let arbiter = w.arbiter.as_mut().unwrap();
    let err = arbiter
        .on_failover_request(
            now,
            &dpu_ha::FailoverRequest {
                target: Some(alias("dpu7")),
            },
        )
        .unwrap_err();
    assert_eq!(err, dpu_ha::ArbiterError::UnknownTarget);
    let grant = arbiter
        .on_failover_request(now, &dpu_ha::FailoverRequest::default())
        .unwrap();
    // Two phases: first an epoch naming nobody fences the old active ...
    assert_eq!(grant.active, None);
    w.broadcast_grant();
    assert_eq!(w.actives(), 0);
    // ... then, once it says it stopped, the target is granted.
    let t = w.run_until(100, |w| w.forwarding(1)).unwrap();
    assert!(t <= 10, "handover after {t} ms");
    assert_eq!(w.role(0), Role::Standby);
    let last = w
        .arbiter
        .as_ref()
        .unwrap()
        .failovers()
        .last()
        .cloned()
        .unwrap();
    assert_eq!(
        (last.reason, last.from.as_str(), last.to.as_str()),
        (Reason::User, "dpu1", "dpu2")
    );
    assert!(!w.two_active_seen);
}

#[test]
fn own_alias_and_wrong_path_messages_are_ignored() {
    let mut d = Dpu::new(config("dpu1", 100, "0.2.0"), 0);
    let own: Heartbeat = d.heartbeat(0);
    assert_eq!(
        d.on_message(1, Source::Link, &Message::Heartbeat(own.clone())),
        Err(dpu_ha::Ignored::OwnAlias)
    );
    assert_eq!(
        d.on_message(1, Source::Host, &Message::Heartbeat(own)),
        Err(dpu_ha::Ignored::WrongPath)
    );
    assert_eq!(
        d.on_message(1, Source::Link, &Message::Grant(Grant::default())),
        Err(dpu_ha::Ignored::WrongPath)
    );
}

/// The kernel learns the image version after HA starts (the boot bank is read after the
/// network): a version set then is what the heartbeats carry and the peer compares. Before this,
/// every build of the same source announced the crate version and a mismatch went unseen.
#[test]
fn a_firmware_version_set_after_start_is_the_one_compared() {
    let mut w = World::new(true);
    let mut late = dpu_ha::Version::new();
    late.push_str("0.3.0+7").unwrap();
    w.dpu(1).set_firmware(late.clone());
    assert_eq!(w.dpu(1).heartbeat(0).firmware, late);
    w.run(5_000);
    assert_eq!(w.actives(), 0);
    let reason = w.dpu(0).refused_reason().unwrap().to_string();
    assert!(reason.contains("0.3.0+7"), "{reason}");
}

/// Both DPUs boot with their uplinks down, which then come up: each counts them only after
/// the updelay, and the pair still forms with exactly one active and stays so.
#[test]
fn a_dpu_named_during_its_updelay_becomes_active_when_the_uplinks_count() {
    let mut w = World::new(true);
    w.uplinks[0] = (0, 2);
    w.uplinks[1] = (0, 2);
    w.step();
    w.uplinks[0] = (2, 2);
    w.uplinks[1] = (2, 2);
    let formed = w.run_until(10_000, |w| w.actives() == 1);
    assert!(formed.is_some(), "roles {:?} {:?}", w.role(0), w.role(1));
    w.run(2_000);
    assert_eq!(w.actives(), 1);
}

/// A grant can name a DPU whose uplinks do not count at that moment (a link flap inside the
/// updelay): it takes the epoch but cannot be active. The arbiter keeps naming it at that same
/// epoch; once its uplinks count it must take over, or the pair never forms (both standby, seen
/// on the QEMU pair under load).
#[test]
fn a_dpu_named_while_its_uplinks_did_not_count_takes_over_when_they_do() {
    let mut dpu = Dpu::new(config("dpu1", 200, "0.2.0"), 0);
    dpu.on_uplinks(0, 1, 1);
    dpu.on_uplinks(10, 0, 1);
    dpu.on_uplinks(20, 1, 1);
    let grant = Grant {
        epoch: 1,
        active: Some(alias("dpu1")),
        ..Grant::default()
    };
    dpu.on_message(30, Source::Host, &Message::Grant(grant.clone()))
        .unwrap();
    assert_eq!(dpu.role(), Role::Standby, "uplinks inside the updelay");
    let mut now = 30;
    while now < 3_000 {
        now += 10;
        dpu.on_uplinks(now, 1, 1);
        let _ = dpu.poll(now);
        if now % 100 == 0 {
            dpu.on_message(now, Source::Host, &Message::Grant(grant.clone()))
                .unwrap();
        }
    }
    assert_eq!(dpu.role(), Role::Active);
    assert!(dpu.forwarding());
}

fn grant_naming(epoch: u64, active: Option<&str>) -> Message {
    Message::Grant(Grant {
        epoch,
        active: active.map(alias),
        reason: None,
        standby_ready: None,
        refused: None,
    })
}

/// A DPU of `name` booted at 0 with both uplinks up.
fn booted(name: &str, priority: u8) -> Dpu {
    let mut d = Dpu::new(config(name, priority, "0.2.0"), 0);
    d.on_uplinks(0, 2, 2);
    d
}

/// A grant sent before a reboot and delivered after it (the arbiter has named the peer since)
/// must not make the fresh DPU active: it takes the epoch, and promotes only on a grant that
/// still names it once the detect time since boot has passed.
#[test]
fn a_stale_grant_right_after_boot_does_not_promote() {
    let mut d = booted("dpu1", 200);
    d.on_message(20, Source::Host, &grant_naming(1, Some("dpu1")))
        .unwrap();
    let _ = d.poll(20);
    assert_eq!(d.role(), Role::Standby);
    assert_eq!(d.epoch(), 1);
    d.on_message(320, Source::Host, &grant_naming(1, Some("dpu1")))
        .unwrap();
    assert_eq!(d.role(), Role::Active);
}

/// An active DPU whose loop stalls just before a heartbeat is due has been silent since that
/// earlier heartbeat; the peer counts its detect time from there, so the DPU must resign once
/// that much has passed since its last heartbeat, not since its last poll.
#[test]
fn a_stall_counts_from_the_last_heartbeat_sent() {
    let mut d = booted("dpu1", 200);
    d.on_message(400, Source::Host, &grant_naming(1, Some("dpu1")))
        .unwrap();
    assert_eq!(d.role(), Role::Active);
    assert!(
        d.poll(400).is_some(),
        "a promotion sends a heartbeat at once"
    );
    for now in (405..=495).step_by(5) {
        assert!(d.poll(now).is_none());
    }
    // Stalled from 495 to 705: 210 ms since the last poll, 305 ms since the last heartbeat.
    let _ = d.poll(705);
    assert_eq!(d.role(), Role::Standby);
}

/// A standby that was deaf for longer than a heartbeat interval must not form alone on what it
/// heard of the peer before the gap (the peer may have been granted active meanwhile).
#[test]
fn after_a_deaf_gap_forming_alone_waits_for_a_fresh_standby_hold() {
    let mut d = booted("dpu1", 200);
    let peer = |epoch| {
        let mut p = booted("dpu2", 100);
        let mut h = p.poll(0).unwrap();
        h.epoch = epoch;
        Message::Heartbeat(h)
    };
    // The host is heard until 100, the peer as a standby every 100 ms until 200.
    for now in (0..=250).step_by(10) {
        if now <= 100 && now % 100 == 0 {
            d.on_message(now, Source::Host, &grant_naming(0, None))
                .unwrap();
        }
        if now % 100 == 0 {
            d.on_message(now, Source::Link, &peer(0)).unwrap();
        }
        let _ = d.poll(now);
    }
    assert_eq!(d.role(), Role::Standby, "the host was heard 150 ms ago");
    // Deaf from 250 to 450: the host is gone, the peer was heard 250 ms ago, as a standby.
    let _ = d.poll(450);
    assert_eq!(
        d.role(),
        Role::Standby,
        "formed on a view from before the gap"
    );
    // Heard as a standby again for the detect time: it forms.
    for now in (460..=800).step_by(10) {
        if now % 100 == 0 {
            d.on_message(now, Source::Link, &peer(0)).unwrap();
        }
        let _ = d.poll(now);
    }
    assert_eq!(d.role(), Role::Active);
}

/// The arbiter and the two DPUs never mint the same epoch.
#[test]
fn minters_take_disjoint_epochs() {
    use dpu_ha::{Minter, next_epoch};
    assert_eq!(next_epoch(0, Minter::Arbiter), 1);
    assert_eq!(next_epoch(1, Minter::BetterDpu), 2);
    assert_eq!(next_epoch(1, Minter::OtherDpu), 3);
    assert_eq!(next_epoch(1, Minter::Arbiter), 5);
    for after in 0..200u64 {
        let minted = [Minter::Arbiter, Minter::BetterDpu, Minter::OtherDpu]
            .map(|minter| next_epoch(after, minter));
        assert!(
            minted
                .iter()
                .all(|&epoch| epoch > after && epoch <= after + 4)
        );
        assert!(minted[0] != minted[1] && minted[1] != minted[2] && minted[0] != minted[2]);
        for (epoch, minter) in minted.iter().zip(0u64..) {
            assert_eq!(epoch % 4, minter + 1);
        }
    }
}
