//! The source-agnostic upload session on the NOR simulator: bounded work per poll.

#![allow(clippy::unwrap_used, reason = "tests")]

mod common;

use bootstate::sim::NorSim;
use bootstate::update::{
    AbortReason, FeedError, HASH_BUDGET, StartError, Upload, UploadFailure, UploadState, Work,
};
use bootstate::{Bank, BankState, BootControl, ControlError, VerifyError};
use common::{boot, image, image_signed_by, keys, provisioned, stranger_key};

/// Feeds `bytes` in `piece`-sized offers, polling once after each offer and until idle at
/// the end, and checks that no poll does more than one flash operation (the last, the
/// verdict's record write or a refusal's bad mark, does one record write: at most 3) or hashes
/// more than the budget.
/// Returns the polls made.
fn run(control: &mut BootControl<NorSim>, upload: &mut Upload, bytes: &[u8], piece: usize) -> u32 {
    let mut polls = 0;
    let mut offset = 0;
    let mut poll = |control: &mut BootControl<NorSim>, upload: &mut Upload| {
        let before = control.flash_mut().operations();
        let work = upload.poll(control, &keys());
        let operations = control.flash_mut().operations() - before;
        match work {
            Work::Finished => assert!(operations <= 3, "{operations} operations at the end"),
            Work::Hashed(bytes) => {
                assert!(bytes <= HASH_BUDGET);
                assert_eq!(operations, 0);
            }
            _ => assert!(
                operations <= 1,
                "{operations} operations in one poll ({work:?})"
            ),
        }
        polls += 1;
        work
    };
    while offset < bytes.len() {
        let end = (offset + piece).min(bytes.len());
        let taken = upload.feed(&bytes[offset..end]).unwrap();
        offset += taken;
        poll(control, upload);
    }
    while !matches!(
        poll(control, upload),
        Work::Finished | Work::Over | Work::Idle
    ) {}
    polls
}

fn start(control: &mut BootControl<NorSim>, length: usize) -> Upload {
    Upload::start(control, Bank::A, length as u32).unwrap()
}

#[test]
fn an_image_fed_in_odd_pieces_is_verified_and_activated() {
    let mut control = boot(provisioned(1));
    let bytes = image(2, 2, 70_001);
    let mut upload = start(&mut control, bytes.len());
    assert_eq!(upload.bank(), Bank::B);
    assert_eq!(control.record().bank(Bank::B).state, BankState::Writing);
    let polls = run(&mut control, &mut upload, &bytes, 700);
    let progress = upload.progress();
    let UploadState::Succeeded(activated) = progress.state else {
        panic!("{progress}");
    };
    assert_eq!((activated.bank, activated.security_counter), (Bank::B, 2));
    assert_eq!(progress.percent(), 100);
    assert_eq!(progress.received, bytes.len() as u32);
    assert_eq!(progress.written, bytes.len() as u32);
    assert!(polls > 100, "{polls} polls");
    assert_eq!(control.record().bank(Bank::B).state, BankState::Trial);
    assert_eq!(control.record().active, Bank::B);
    // What dpuboot will check agrees.
    assert!(control.verify_bank(Bank::B, &keys()).is_ok());
    assert!(
        progress
            .to_string()
            .starts_with("succeeded: bank B v2.0.0+2 counter 2")
    );
    // Over: no more data, nothing to do.
    assert_eq!(upload.feed(b"x"), Err(FeedError::NotReceiving));
    assert_eq!(upload.poll(&mut control, &keys()), Work::Over);
}

#[test]
fn the_hash_is_sliced_and_progress_is_reported() {
    let mut control = boot(provisioned(1));
    let bytes = image(2, 2, 100_000);
    let mut upload = start(&mut control, bytes.len());
    let mut offset = 0;
    let mut hashed_polls = 0;
    let mut seen_verifying = false;
    loop {
        if offset < bytes.len() {
            offset += upload.feed(&bytes[offset..]).unwrap();
        }
        let progress = upload.progress();
        assert!(progress.percent() <= 99 || matches!(progress.state, UploadState::Succeeded(_)));
        match upload.poll(&mut control, &keys()) {
            Work::Hashed(_) => {
                hashed_polls += 1;
                let progress = upload.progress();
                assert_eq!(progress.state, UploadState::Verifying);
                seen_verifying |= progress.to_string().starts_with("verifying bank B:");
            }
            Work::Finished => break,
            _ => {}
        }
    }
    assert!(seen_verifying);
    assert!(
        hashed_polls as u32 >= bytes.len() as u32 / HASH_BUDGET,
        "{hashed_polls}"
    );
}

#[test]
fn a_slow_erase_is_polled_across_passes_not_waited_for() {
    let mut control = boot(provisioned(1));
    control.flash_mut().set_erase_busy_polls(5);
    let bytes = image(2, 2, 300_000);
    let mut upload = start(&mut control, bytes.len());
    let mut erasing = 0;
    let mut offset = 0;
    loop {
        if offset < bytes.len() {
            offset += upload.feed(&bytes[offset..]).unwrap();
        }
        match upload.poll(&mut control, &keys()) {
            Work::Erasing => erasing += 1,
            Work::Finished => break,
            _ => {}
        }
    }
    // Two sectors, each started once and then seen busy five times.
    assert_eq!(erasing, 2 * 6);
    assert!(matches!(upload.progress().state, UploadState::Succeeded(_)));
}

#[test]
fn a_bad_signature_marks_the_bank_bad_with_the_reason() {
    let mut control = boot(provisioned(1));
    let bytes = image_signed_by(&stranger_key(), 2, 2, 9000);
    let mut upload = start(&mut control, bytes.len());
    run(&mut control, &mut upload, &bytes, 4096);
    let progress = upload.progress();
    assert_eq!(
        progress.state,
        UploadState::Failed(UploadFailure::Refused(VerifyError::UnknownKey))
    );
    assert_eq!(
        progress.to_string(),
        "failed: image signed by an unknown key; bank B marked bad"
    );
    assert_eq!(control.record().bank(Bank::B).state, BankState::Bad);
    assert_eq!(control.record().active, Bank::A);

    // A corrupted byte: the hash catches it.
    let mut control = boot(provisioned(1));
    let mut bytes = image(2, 2, 9000);
    bytes[5000] ^= 1;
    let mut upload = start(&mut control, bytes.len());
    run(&mut control, &mut upload, &bytes, 999);
    assert_eq!(
        upload.progress().state,
        UploadState::Failed(UploadFailure::Refused(VerifyError::Hash))
    );
}

/// Polls a fully fed upload to its end; returns the polls that did signature work (each
/// without any flash operation but the last, which may write the verdict).
fn signature_polls(control: &mut BootControl<NorSim>, upload: &mut Upload) -> u32 {
    let mut polls = 0;
    for _ in 0..10_000 {
        let before = control.flash_mut().operations();
        let work = upload.poll(control, &keys());
        let operations = control.flash_mut().operations() - before;
        match work {
            Work::Signature | Work::Checked => {
                assert_eq!(operations, 0, "{work:?}");
                polls += 1;
            }
            Work::Finished | Work::Over => {
                // A refusal ends the upload in the signature step that found it.
                if !matches!(upload.progress().state, UploadState::Succeeded(_)) {
                    polls += 1;
                }
                return polls;
            }
            _ => {}
        }
    }
    panic!("the upload did not end");
}

#[test]
fn the_signature_is_checked_in_bounded_steps_and_a_forged_one_is_refused() {
    let mut control = boot(provisioned(1));
    let bytes = image(2, 2, 30_000);
    let mut upload = start(&mut control, bytes.len());
    let mut offset = 0;
    while offset < bytes.len() {
        offset += upload.feed(&bytes[offset..]).unwrap();
        upload.poll(&mut control, &keys());
    }
    let polls = signature_polls(&mut control, &mut upload);
    // One step checks the digest and the key, then the Ed25519 check's steps.
    assert_eq!(polls, bootstate::ed25519::MAX_STEPS as u32 + 1);
    assert!(matches!(upload.progress().state, UploadState::Succeeded(_)));

    // The signature is the image's last TLV: a flipped bit in its s half passes the hash and
    // the key, and the slices refuse it.
    let mut control = boot(provisioned(1));
    let mut bytes = image(2, 2, 30_000);
    let last = bytes.len() - 1;
    bytes[last - 10] ^= 0x10;
    let mut upload = start(&mut control, bytes.len());
    let mut offset = 0;
    while offset < bytes.len() {
        offset += upload.feed(&bytes[offset..]).unwrap();
        upload.poll(&mut control, &keys());
    }
    let polls = signature_polls(&mut control, &mut upload);
    assert!(
        (2..=bootstate::ed25519::MAX_STEPS as u32 + 1).contains(&polls),
        "{polls}"
    );
    assert_eq!(
        upload.progress().state,
        UploadState::Failed(UploadFailure::Refused(VerifyError::Signature))
    );
    assert_eq!(control.record().bank(Bank::B).state, BankState::Bad);
    assert_eq!(
        control.record().bank(Bank::B).reason,
        bootstate::FailureReason::Signature
    );
}

#[test]
fn an_aborted_upload_leaves_the_bank_writing_and_a_new_one_can_start() {
    let mut control = boot(provisioned(1));
    let bytes = image(2, 2, 20_000);
    let mut upload = start(&mut control, bytes.len());
    let taken = upload.feed(&bytes[..5000]).unwrap();
    assert_eq!(taken, 2048, "one buffer, then backpressure");
    assert_eq!(upload.feed(&bytes[taken..5000]).unwrap(), 0);
    assert!(upload.has_work());
    assert_eq!(upload.poll(&mut control, &keys()), Work::Erasing);
    assert_eq!(upload.poll(&mut control, &keys()), Work::Erased);
    assert_eq!(upload.poll(&mut control, &keys()), Work::Programmed(2048));
    assert!(!upload.has_work());
    upload.abort(AbortReason::Truncated);
    let progress = upload.progress();
    assert_eq!(
        progress.to_string(),
        "failed: the data ended before the announced length; bank B stays unbootable (writing)"
    );
    assert_eq!(progress.written, 2048);
    assert_eq!(upload.feed(&bytes[..10]), Err(FeedError::NotReceiving));
    assert_eq!(control.record().bank(Bank::B).state, BankState::Writing);
    // Abort after the end changes nothing.
    upload.abort(AbortReason::Cancelled);
    assert!(matches!(
        upload.progress().state,
        UploadState::Failed(UploadFailure::Aborted(AbortReason::Truncated))
    ));
    // Start again and finish.
    let mut upload = start(&mut control, bytes.len());
    run(&mut control, &mut upload, &bytes, 3333);
    assert!(matches!(upload.progress().state, UploadState::Succeeded(_)));
}

#[test]
fn lengths_and_preconditions_are_enforced() {
    let mut control = boot(provisioned(1));
    assert_eq!(
        Upload::start(&mut control, Bank::A, 0).unwrap_err(),
        StartError::BadLength {
            length: 0,
            maximum: bootstate::layout::BANK_SIZE
        }
    );
    assert!(matches!(
        Upload::start(&mut control, Bank::A, bootstate::layout::BANK_SIZE + 1),
        Err(StartError::BadLength { .. })
    ));
    assert_eq!(
        Upload::start(&mut control, Bank::B, 100).unwrap_err(),
        StartError::Control(ControlError::NotCommitted)
    );
    let mut upload = start(&mut control, 10);
    assert_eq!(
        upload.feed(&[0; 11]),
        Err(FeedError::TooMuchData { announced: 10 })
    );
    assert_eq!(upload.feed(&[0; 10]), Ok(10));
    assert_eq!(upload.feed(&[0; 1]), Err(FeedError::NotReceiving));
    // Ten zero bytes are no image: refused as malformed when the verification starts.
    while !matches!(upload.poll(&mut control, &keys()), Work::Finished) {}
    assert!(matches!(
        upload.progress().state,
        UploadState::Failed(UploadFailure::Refused(_))
    ));
    assert_eq!(control.record().bank(Bank::B).state, BankState::Bad);
}

#[test]
fn words_not_debug() {
    for text in [
        StartError::Busy.to_string(),
        StartError::Control(ControlError::NotCommitted).to_string(),
        FeedError::NotReceiving.to_string(),
        FeedError::TooMuchData { announced: 3 }.to_string(),
        AbortReason::Silence { seconds: 15 }.to_string(),
        AbortReason::Sender.to_string(),
        UploadFailure::Control(ControlError::NotStaging).to_string(),
    ] {
        readable::assert_words(&text);
    }
}
