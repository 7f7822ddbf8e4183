//! dpuboot: the A/B bootloader that runs from flash0 (placeholder until the boot-bank issue).

#![no_std]
#![no_main]

#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {
        core::hint::spin_loop();
    }
}
