//! The data-port switch in the poll loop: bursts in, decisions, buffers moved out, console.
//!
//! Each pass ([`DataPorts::pass`]) receives a burst from every data port, asks the pure
//! `dpu-switch` crate what to do with each frame, sends it to its output ports and flushes
//! each output once; then it runs the switch's maintenance and sends its RARP notify frames.
//! The data ports share one packet pool (`net::POOL`), so a frame is forwarded by moving its
//! buffer: the tag edit is made in place in the buffer's headroom and the buffer itself goes
//! on the output's transmit ring ([`DataPorts::send`]). A flood copies the frame for every
//! output but the last, which gets the original. No buffer is kept across passes. Nothing
//! here allocates or unwraps: a frame that cannot go out is counted and its buffer released.
//!
//! Data port `portN` is the NIC of that name (`mgmt0` is never a switch port). The config comes
//! from the `switch.*` words of the kernel command line (docs/switch.md) when there are any,
//! else from the config saved in flash (`config.rs`, docs/config.md); a bad one is reported,
//! counted, and the default learning switch runs instead. `switch set` saves what it applies.
//!
//! `switch.crossconnect=1` on the kernel command line replaces the switch decision with a fixed
//! cross-connect (port1 to port2 and back, through the same receive, send and flush path): the
//! emulated ceiling that `cargo xtask bench switch` compares the switch with.

use crate::net::{POOL, PortNic};
use crate::print;
use crate::println;
use dpu_switch::config::PortList;
use dpu_switch::{
    Decision, DropReason, Edit, EditError, EntryKind, FrameHead, MAC_TABLE_SLOTS, MAX_PORTS,
    MacAddress, Outputs, PortId, PortRole, Switch, SwitchConfig, Tick, VlanId, apply_edit,
    apply_edit_words, parse_cmdline,
};
use netdev::{LinkState, POOL_HEADROOM, PoolBuffer, TxErrorKind};
use static_cell::ConstStaticCell;

/// Frames received from one port per pass.
const BURST: usize = 32;

/// The kernel command-line word that turns on the cross-connect bench mode.
const CROSSCONNECT_WORD: &str = "switch.crossconnect=1";

/// Longest kernel command line whose `switch.*` words are read when `switch.crossconnect` is
/// also on it (the word is taken out before the switch config is parsed).
const CMDLINE_CAPACITY: usize = 2048;

/// The switch: about 520 KiB (its MAC table), so it lives in a static, never on a stack.
static SWITCH: ConstStaticCell<Switch> = ConstStaticCell::new(Switch::new());

/// What the integration itself counts (the switch counts its decisions, the drivers their
/// rings).
#[derive(Clone, Copy, Default)]
pub struct PathCounters {
    /// Received buffers posted on an output's transmit ring as they are (no copy).
    pub moved: u64,
    /// Copies posted for the extra outputs of a flood.
    pub copied: u64,
    /// Flood outputs skipped: the pool could spare no buffer for the copy.
    pub no_buffer: u64,
    /// Outputs refused by the output NIC: no ring slot, or the pool needs its free buffers
    /// for the receive reserves.
    pub no_room: u64,
    /// Outputs refused by the output NIC for the frame's length or placement.
    pub bad_length: u64,
    /// Buffer handles refused (wrong pool or stale): by a NIC or by the pool on release.
    pub bad_handle: u64,
    /// Outputs skipped: the tag edit could not be made (frame too long with the tag).
    pub edit_failed: u64,
    /// Outputs skipped: the port has no NIC (it failed to come up).
    pub no_nic: u64,
    /// RARP notify frames sent.
    pub notifications_sent: u64,
    /// Kernel command lines whose switch config was refused (the default ran instead).
    pub config_errors: u64,
}

/// The data ports and the switch over them.
pub struct DataPorts {
    switch: &'static mut Switch,
    /// NIC index (into the network's NIC list) of each switch port.
    nic_of: [Option<usize>; MAX_PORTS],
    counters: PathCounters,
    /// Where the running config came from.
    source: Source,
    /// Bench mode: port1 and port2 cross-connected, no switch decision.
    crossconnect: bool,
    /// One port's receive burst. Empty (all `None`) between uses: kept here so a pass does not
    /// clear 32 slots for every port it polls.
    frames: [Option<PoolBuffer>; BURST],
    /// The clock at the last maintenance step (aging sweep, failover announcements).
    maintained_at: Option<Tick>,
    /// The first 24 bytes of each frame of the burst, read by the driver as it receives it
    /// (what the switch decides on). Written before read in every pass, so never cleared.
    heads: [[u64; 3]; BURST],
    /// Frames decided for each output during one ingress burst, handed to its driver as one
    /// burst (one pool lock, one ring-room check, one index publish for all of them).
    outputs: [OutputQueue; MAX_PORTS],
}

/// One output's frames of the current ingress burst. Each frame of a burst goes at most once
/// to an output, so [`BURST`] entries always suffice (a full queue is handed over early all
/// the same).
struct OutputQueue {
    frames: [Option<PoolBuffer>; BURST],
    length: usize,
    /// Bit `i`: `frames[i]` is a flood copy (for the moved and copied counters).
    copies: u32,
    /// Frames the switch decided to send here during the burst, and their bytes after the
    /// edit: handed to the switch's `tx_packets`/`tx_bytes` once per burst.
    decided: u64,
    decided_bytes: u64,
}

impl OutputQueue {
    const EMPTY: Self = Self {
        frames: [const { None }; BURST],
        length: 0,
        copies: 0,
        decided: 0,
        decided_bytes: 0,
    };
}

/// Where the running config came from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Source {
    Default,
    Cmdline,
    Stored,
    Console,
    Api,
}

impl Source {
    fn describe(self) -> &'static str {
        match self {
            Source::Default => "default learning switch (every port a host port on vlan 1)",
            Source::Cmdline => "config from the kernel command line",
            Source::Stored => "config from flash (config save)",
            Source::Console => "config changed from the console",
            Source::Api => "config changed through the management API",
        }
    }
}

/// The switch port a NIC is, from its name (`port3` is port 3; `mgmt0` is none).
fn port_of(name: &str) -> Option<PortId> {
    name.strip_prefix("port").and_then(PortId::parse)
}

/// `fdb` lines printed per loop pass: under QEMU TCG each console byte is an exit into QEMU
/// (about 7 us), so two 45-byte lines keep a pass near 0.6 ms; on a board at 115 200 baud the
/// UART's FIFO paces it anyway.
pub const FDB_LINES_PER_PASS: usize = 2;
/// MAC table slots an `fdb` listing looks at per pass (a sparse table still ends in 32 passes).
pub const FDB_SLOTS_PER_PASS: usize = 1024;

/// An `fdb` listing in progress (see [`DataPorts::start_fdb`]).
pub struct FdbListing {
    vlan: Option<u16>,
    port: Option<u8>,
    /// The next table slot to look at.
    next_slot: usize,
    /// Entries printed so far.
    shown: usize,
}

fn now() -> Tick {
    Tick::from_millis(crate::arch::aarch64::timer::uptime_milliseconds())
}

impl DataPorts {
    /// The switch over the data ports among `nics`, configured from `bootargs`; `None` without
    /// data ports.
    pub fn new(nics: &[PortNic], bootargs: &str) -> Option<Self> {
        let mut nic_of = [None; MAX_PORTS];
        let mut port_count = 0u8;
        for (index, nic) in nics.iter().enumerate() {
            if let Some(port) = port_of(nic.name) {
                nic_of[port.index()] = Some(index);
                port_count = port_count.max(port.number());
            }
        }
        if port_count == 0 {
            return None;
        }
        let Some(switch) = SWITCH.try_take() else {
            println!("switch: already running; data ports not switched");
            return None;
        };
        let mut ports = Self {
            switch,
            nic_of,
            counters: PathCounters::default(),
            source: Source::Default,
            crossconnect: false,
            frames: [const { None }; BURST],
            maintained_at: None,
            heads: [[0; 3]; BURST],
            outputs: [const { OutputQueue::EMPTY }; MAX_PORTS],
        };
        // `switch.crossconnect` is a bench mode, not a switch config key: take it out first.
        let mut rest: heapless::String<CMDLINE_CAPACITY> = heapless::String::new();
        for word in bootargs.split_ascii_whitespace() {
            if let Some(value) = word.strip_prefix("switch.crossconnect=") {
                ports.crossconnect = word == CROSSCONNECT_WORD;
                if value != "0" && value != "1" {
                    println!("switch: bootargs: {}: expected 0 or 1", word);
                }
                continue;
            }
            if rest.push_str(word).is_err() || rest.push(' ').is_err() {
                println!("switch: bootargs longer than {} bytes", CMDLINE_CAPACITY);
                break;
            }
        }
        let bootargs = rest.as_str();
        // Precedence (docs/config.md): switch.* words on the command line, else the stored
        // config, else the default.
        let has_keys = bootargs
            .split_ascii_whitespace()
            .any(|word| word.starts_with(dpu_switch::cmdline::PREFIX));
        let stored = if has_keys {
            None
        } else {
            crate::config::stored_switch(port_count)
        };
        let config = if let Some(stored) = stored {
            ports.source = Source::Stored;
            stored
        } else {
            match parse_cmdline(port_count, bootargs) {
                Ok(config) => {
                    if bootargs
                        .split_ascii_whitespace()
                        .any(|word| word.starts_with(dpu_switch::cmdline::PREFIX))
                    {
                        ports.source = Source::Cmdline;
                    }
                    config
                }
                Err(error) => {
                    ports.counters.config_errors += 1;
                    println!(
                        "switch: bootargs: {}; using the default learning switch",
                        error
                    );
                    SwitchConfig::new(port_count)
                }
            }
        };
        if let Err(error) = ports.switch.apply(&config) {
            ports.counters.config_errors += 1;
            println!(
                "switch: config refused: {}; using the default learning switch",
                error
            );
            // The default for the ports present always validates; a new switch has no ports.
            let _ = ports.switch.apply(&SwitchConfig::new(port_count));
        }
        crate::config::switch_applied(ports.switch.config());
        ports.sync_links(nics);
        if ports.crossconnect {
            println!(
                "switch: {} data port(s), cross-connect port1 <-> port2 (bench mode, no switching)",
                port_count
            );
        } else {
            println!(
                "switch: {} data port(s), {}",
                port_count,
                ports.source.describe()
            );
        }
        Some(ports)
    }

    /// Tells the switch every port's real link state (after a config change, at start).
    fn sync_links(&mut self, nics: &[PortNic]) {
        for port in self.switch.config().port_ids() {
            let up = self.nic_of[port.index()]
                .and_then(|index| nics.get(index))
                .is_some_and(|nic| nic.driver.link_state() == LinkState::Up);
            self.switch.set_link(port, up);
        }
    }

    /// A NIC reported a link change.
    pub fn link_changed(&mut self, name: &str, link: LinkState) {
        if let Some(port) = port_of(name) {
            self.switch.set_link(port, link == LinkState::Up);
        }
    }

    /// The health signal for the boot commit: the switch is running over the data ports.
    pub fn forwarding(&self) -> bool {
        self.switch.config().port_count > 0
    }

    /// One fast-path pass over every data port; returns the frames received.
    pub fn pass(&mut self, nics: &mut [PortNic]) -> usize {
        if self.crossconnect {
            return self.cross_pass(nics);
        }
        let now = now();
        let mut received_total = 0;
        // Outputs that got frames this pass: each is flushed once, at the end.
        let mut touched = [false; crate::net::MAX_DATA_PORTS];
        for ingress in self.switch.config().port_ids() {
            let Some(input) = self.nic_of[ingress.index()] else {
                continue;
            };
            let Some(nic) = nics.get_mut(input) else {
                continue;
            };
            // The heads of the burst (the first 24 bytes of each frame, as words) are read by
            // the driver under the lock it receives with, as it hands each buffer over.
            let received = nic
                .driver
                .receive_with_heads(&mut self.frames, &mut self.heads)
                .min(BURST);
            received_total += received;
            // The burst's rx packets and bytes go to the switch once, after it.
            let (mut frames, mut bytes) = (0u64, 0u64);
            for position in 0..received {
                let Some(buffer) = self.frames.get_mut(position).and_then(Option::take) else {
                    continue;
                };
                let length = buffer.len();
                frames += 1;
                bytes += length as u64;
                let head = FrameHead::from_words(self.heads[position], length);
                match self.switch.process_head_uncounted(ingress, &head, now) {
                    Decision::Drop(_) => self.release(buffer),
                    Decision::Forward(output) => {
                        self.send_decided(nics, buffer, output.port, output.edit, length);
                    }
                    Decision::Flood(outputs) => {
                        for output in outputs.iter() {
                            self.decided(output.port, output.edit, length);
                        }
                        self.flood(nics, buffer, &outputs);
                    }
                }
            }
            self.switch.count_received(ingress, frames, bytes);
            self.count_decided();
            self.transmit_queued(nics, &mut touched);
        }
        // Aging sweeps a fixed number of slots per step: once per clock tick (10 ms) is ample
        // for a 300 s aging time (a full sweep then takes under 8 s), where a step in every
        // pass cost a spinning loop hundreds of instructions per frame. A failover
        // announcement scan still gets a step every pass, so its RARP frames go out at once.
        if self.maintained_at != Some(now) || self.switch.announcing() {
            self.switch.maintain(now);
            self.maintained_at = Some(now);
        }
        while let Some(notification) = self.switch.next_notification() {
            let Some(index) = self.nic_of[notification.uplink.index()] else {
                self.counters.no_nic += 1;
                continue;
            };
            let Some(nic) = nics.get_mut(index) else {
                self.counters.no_nic += 1;
                continue;
            };
            let Some(mut buffer) = POOL.allocate(POOL_HEADROOM) else {
                self.counters.no_buffer += 1;
                continue;
            };
            let written = POOL
                .buffer_mut(&mut buffer)
                .get_mut(POOL_HEADROOM..)
                .map(|area| notification.write_frame(area));
            let Some(Ok(length)) = written else {
                self.counters.edit_failed += 1;
                self.release(buffer);
                continue;
            };
            buffer.set_frame(POOL_HEADROOM, length);
            match nic.driver.transmit_pooled(buffer, POOL_HEADROOM, length) {
                Ok(()) => {
                    self.counters.notifications_sent += 1;
                    if let Some(flag) = touched.get_mut(index) {
                        *flag = true;
                    }
                }
                Err(error) => {
                    self.count_refusal(error.kind);
                    self.release(error.buffer);
                }
            }
        }
        for (index, nic) in nics.iter_mut().enumerate() {
            if touched.get(index).copied().unwrap_or(false) {
                nic.driver.flush();
            }
        }
        received_total
    }

    /// The cross-connect pass: each frame received on port1 goes to port2 and back, through
    /// the same burst receive, [`DataPorts::send`] and once-per-pass flush as the switch, with
    /// no switch decision (the bench's ceiling).
    fn cross_pass(&mut self, nics: &mut [PortNic]) -> usize {
        let (Some(first), Some(second)) = (PortId::new(1), PortId::new(2)) else {
            return 0;
        };
        let mut received_total = 0;
        let mut touched = [false; crate::net::MAX_DATA_PORTS];
        for (ingress, egress) in [(first, second), (second, first)] {
            let Some(nic) = self.nic_of[ingress.index()].and_then(|input| nics.get_mut(input))
            else {
                continue;
            };
            let received = nic.driver.receive(&mut self.frames);
            received_total += received;
            for position in 0..received {
                if let Some(buffer) = self.frames.get_mut(position).and_then(Option::take) {
                    self.send(nics, buffer, egress, Edit::Keep, Sent::Moved);
                }
            }
            self.transmit_queued(nics, &mut touched);
        }
        for (index, nic) in nics.iter_mut().enumerate() {
            if touched.get(index).copied().unwrap_or(false) {
                nic.driver.flush();
            }
        }
        received_total
    }

    /// Notes that the switch decided to send a frame of `length` bytes to `port` with `edit`
    /// (counted into the switch's tx counters once per burst, [`DataPorts::count_decided`]).
    fn decided(&mut self, port: PortId, edit: Edit, length: usize) {
        if let Some(queue) = self.outputs.get_mut(port.index()) {
            queue.decided += 1;
            queue.decided_bytes += edit.edited_length(length) as u64;
        }
    }

    /// Hands each output's decided frames and bytes of the burst to the switch's counters.
    fn count_decided(&mut self) {
        for (index, queue) in self.outputs.iter_mut().enumerate() {
            if queue.decided == 0 {
                continue;
            }
            if let Some(port) = PortId::from_index(index) {
                self.switch
                    .count_sent(port, queue.decided, queue.decided_bytes);
            }
            queue.decided = 0;
            queue.decided_bytes = 0;
        }
    }

    /// A flood: a copy for every output but the last, made from the unedited original, which
    /// itself goes to the last output.
    fn flood(&mut self, nics: &mut [PortNic], buffer: PoolBuffer, outputs: &Outputs) {
        let last = outputs.len().saturating_sub(1);
        let mut original = Some(buffer);
        for (position, output) in outputs.iter().enumerate() {
            if position == last {
                if let Some(buffer) = original.take() {
                    self.send(nics, buffer, output.port, output.edit, Sent::Moved);
                }
                continue;
            }
            let Some(copy) = original.as_ref().and_then(|source| POOL.copy_of(source)) else {
                self.counters.no_buffer += 1;
                continue;
            };
            self.send(nics, copy, output.port, output.edit, Sent::Copied);
        }
        if let Some(buffer) = original.take() {
            self.release(buffer);
        }
    }

    /// Edits `buffer`'s frame in place for `port` and queues the buffer for that port's
    /// transmit ring ([`DataPorts::transmit_queued`] hands the queue over after the ingress
    /// burst). A frame that cannot be queued is counted and its buffer released. Inlined: a
    /// call per frame cost more than its work (prologue, argument moves, epilogue).
    #[inline(always)]
    fn send(
        &mut self,
        nics: &mut [PortNic],
        buffer: PoolBuffer,
        port: PortId,
        edit: Edit,
        sent: Sent,
    ) {
        let length = buffer.len();
        let Some(buffer) = self.edited(buffer, length, edit) else {
            return;
        };
        self.queue(nics, buffer, port.index(), sent);
    }

    /// `buffer` with `edit` made on its frame of `length` bytes, or `None` (counted, the
    /// buffer released) if it cannot be made. Most frames go out as they came: no edit, so no
    /// look at the bytes (that would take the pool lock and check the handle once more).
    #[inline(always)]
    fn edited(&mut self, mut buffer: PoolBuffer, length: usize, edit: Edit) -> Option<PoolBuffer> {
        if edit != Edit::Keep {
            let start = buffer.start();
            // The pool's 128 bytes of headroom leave room for a pushed tag.
            let Ok(edited) = edit_in_place(POOL.buffer_mut(&mut buffer), start, length, edit)
            else {
                self.counters.edit_failed += 1;
                self.release(buffer);
                return None;
            };
            buffer.set_frame(edited.0, edited.1);
        }
        Some(buffer)
    }

    /// A forwarded frame: [`DataPorts::decided`] and [`DataPorts::send`] with one look at the
    /// output's queue (its count and its burst share the entry; the frame is counted even if
    /// its edit then fails, as the flood's outputs are).
    #[inline(always)]
    fn send_decided(
        &mut self,
        nics: &mut [PortNic],
        buffer: PoolBuffer,
        port: PortId,
        edit: Edit,
        length: usize,
    ) {
        let index = port.index();
        let Some(queue) = self.outputs.get_mut(index) else {
            self.counters.no_room += 1;
            self.release(buffer);
            return;
        };
        queue.decided += 1;
        queue.decided_bytes += if edit == Edit::Keep {
            length
        } else {
            edit.edited_length(length)
        } as u64;
        let Some(buffer) = self.edited(buffer, length, edit) else {
            return;
        };
        self.queue(nics, buffer, index, Sent::Moved);
    }

    /// Puts `buffer` on output `index`'s queue for the burst. One check finds both a full
    /// queue (not reached: one entry per frame of a burst, handed over early all the same) and
    /// a bad index.
    #[inline(always)]
    fn queue(&mut self, nics: &mut [PortNic], buffer: PoolBuffer, index: usize, sent: Sent) {
        let free = self
            .outputs
            .get(index)
            .is_some_and(|queue| queue.length < BURST);
        if !free {
            self.transmit_output(nics, index);
        }
        let Some(queue) = self.outputs.get_mut(index) else {
            self.counters.no_room += 1;
            self.release(buffer);
            return;
        };
        let Some(slot) = queue.frames.get_mut(queue.length) else {
            self.counters.no_room += 1;
            self.release(buffer);
            return;
        };
        *slot = Some(buffer);
        if sent == Sent::Copied {
            queue.copies |= 1 << queue.length;
        }
        queue.length += 1;
    }

    /// Hands every output's queued frames to its driver as one burst; marks the outputs that
    /// took any for the end-of-pass flush.
    fn transmit_queued(
        &mut self,
        nics: &mut [PortNic],
        touched: &mut [bool; crate::net::MAX_DATA_PORTS],
    ) {
        for index in 0..MAX_PORTS {
            if self.outputs[index].length == 0 {
                continue;
            }
            if let Some(output) = self.transmit_output(nics, index)
                && let Some(flag) = touched.get_mut(output)
            {
                *flag = true;
            }
        }
    }

    /// Hands port `index`'s queue to its driver; the NIC index if it posted any frame. Refused
    /// frames are counted by reason and their buffers released.
    fn transmit_output(&mut self, nics: &mut [PortNic], index: usize) -> Option<usize> {
        let output = self.nic_of.get(index).copied().flatten();
        let queue = &mut self.outputs[index];
        let length = queue.length.min(BURST);
        let copies = queue.copies;
        queue.length = 0;
        queue.copies = 0;
        let nic = output.and_then(|output| nics.get_mut(output));
        let no_nic = nic.is_none();
        let posted = match nic {
            Some(nic) => {
                let burst = nic.driver.transmit_burst(&mut queue.frames[..length]);
                self.counters.no_room += burst.no_room as u64;
                self.counters.bad_length += burst.bad_length as u64;
                self.counters.bad_handle += burst.bad_handle as u64;
                burst.posted
            }
            None => 0,
        };
        let copied = u64::from(copies.count_ones());
        if posted == length {
            self.counters.copied += copied;
            self.counters.moved += length as u64 - copied;
            return output;
        }
        // Some were refused (or the port has no NIC): they are still in the queue.
        let (mut moved, mut copies_posted) = (0u64, 0u64);
        for position in 0..length {
            let is_copy = copies & (1 << position) != 0;
            match self.outputs[index].frames[position].take() {
                Some(buffer) => {
                    if no_nic {
                        self.counters.no_nic += 1;
                    }
                    self.release(buffer);
                }
                None if is_copy => copies_posted += 1,
                None => moved += 1,
            }
        }
        self.counters.moved += moved;
        self.counters.copied += copies_posted;
        (posted > 0).then_some(output).flatten()
    }

    /// Counts an output NIC's refusal by kind.
    fn count_refusal(&mut self, kind: TxErrorKind) {
        match kind {
            TxErrorKind::NoRoom => self.counters.no_room += 1,
            TxErrorKind::TooLong | TxErrorKind::TooShort | TxErrorKind::BadPlacement => {
                self.counters.bad_length += 1
            }
            TxErrorKind::WrongPool | TxErrorKind::StaleHandle | TxErrorKind::NotReserved => {
                self.counters.bad_handle += 1
            }
        }
    }

    /// Gives a buffer back to the pool (a refused handle is counted; nothing else to do).
    fn release(&mut self, buffer: PoolBuffer) {
        if POOL.release(buffer).is_err() {
            self.counters.bad_handle += 1;
        }
    }
}

/// Makes `edit` on the frame at `bytes[start..start + length]`: by words when the frame starts
/// on one (a received frame does, at the pool's headroom), so the 12 address bytes move as three
/// word loads and stores instead of about 30 byte loads and stores; by bytes otherwise. Both
/// give the same bytes and the same result (`dpu_switch`'s test `word_edits_match_byte_edits`).
fn edit_in_place(
    bytes: &mut [u8],
    start: usize,
    length: usize,
    edit: Edit,
) -> Result<(usize, usize), EditError> {
    let address = bytes.as_mut_ptr();
    if address.cast::<u32>().is_aligned() && start.is_multiple_of(4) {
        let count = bytes.len() / 4;
        // SAFETY: `address` is 4-byte aligned (checked) and the `count` words lie inside
        // `bytes`, which this function borrows exclusively, so nothing else reads or writes
        // them while `words` lives; `u32` has no padding and every bit pattern is a valid
        // `u32` and four valid bytes. (`align_to_mut` says the same but cost about 20
        // instructions per frame for its general split.)
        let words = unsafe { core::slice::from_raw_parts_mut(address.cast::<u32>(), count) };
        match apply_edit_words(words, start, length, edit) {
            // Past the last whole word: the byte edit decides.
            Err(EditError::OutOfBounds) => {}
            result => return result,
        }
    }
    apply_edit(bytes, start, length, edit)
}

/// How an output got its frame.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Sent {
    /// The received buffer itself.
    Moved,
    /// A copy (flood outputs but the last).
    Copied,
}

/// Console views and changes (`switch`, `fdb`): full scans are fine here, never per frame.
impl DataPorts {
    /// `switch`: ports, roles, VLANs, teaming, counters and drops by reason.
    pub fn show(&self) {
        let switch = &*self.switch;
        let config = switch.config();
        if self.crossconnect {
            println!("switch: cross-connect port1 <-> port2 (bench mode): the switch is bypassed");
        }
        println!(
            "switch: {} data port(s), {}; {} of {} macs; aging {}",
            config.port_count,
            self.source.describe(),
            switch.mac_count(),
            dpu_switch::MAC_TABLE_CAPACITY,
            Seconds(config.aging_seconds)
        );
        println!(
            "{:<6} {:<6} {:<26} {:<4} {:<6} {:>10} {:>10} {:>8} {:>8} {:>7} {:>5}",
            "port",
            "role",
            "vlans",
            "link",
            "uplink",
            "rx-packets",
            "tx-packets",
            "flooded",
            "dropped",
            "learned",
            "moves"
        );
        for port in config.port_ids() {
            let settings = config.port(port);
            let counters = switch.port_counters(port);
            let mut vlans: heapless::String<64> = heapless::String::new();
            let _ = core::fmt::write(&mut vlans, format_args!("{}", settings.vlan));
            let mut uplink: heapless::String<8> = heapless::String::new();
            match (settings.role, switch.pinned_uplink(port)) {
                (PortRole::Host, Some(pinned)) => {
                    let _ = core::fmt::write(&mut uplink, format_args!("{}", pinned));
                }
                (PortRole::Host, None) => {
                    let _ = uplink.push_str("none");
                }
                (PortRole::Uplink, _) => {
                    let _ = uplink.push_str("-");
                }
            }
            let link = if self.nic_of[port.index()].is_none() {
                "none"
            } else if switch.link(port) {
                "up"
            } else {
                "down"
            };
            println!(
                "{:<6} {:<6} {:<26} {:<4} {:<6} {:>10} {:>10} {:>8} {:>8} {:>7} {:>5}",
                text::<8>(port).as_str(),
                text::<8>(settings.role).as_str(),
                vlans.as_str(),
                link,
                uplink.as_str(),
                counters.rx_packets,
                counters.tx_packets,
                counters.flooded,
                counters.dropped,
                switch.learned_on(port),
                counters.moves
            );
        }
        println!(
            "{:<6} {:<17} {:<11} {:<11} {:<16} {:>9} {}",
            "port", "mac", "promiscuous", "mac-changes", "forged-transmits", "mac-limit", "policy"
        );
        for port in config.port_ids() {
            let settings = config.port(port);
            if settings.role != PortRole::Host {
                continue;
            }
            let mut mac: heapless::String<17> = heapless::String::new();
            match settings.mac {
                Some(address) => {
                    let _ = core::fmt::write(&mut mac, format_args!("{}", address));
                }
                None => {
                    let _ = mac.push_str("not checked");
                }
            }
            println!(
                "{:<6} {:<17} {:<11} {:<11} {:<16} {:>9} {}",
                text::<8>(port).as_str(),
                mac.as_str(),
                text::<8>(settings.security.promiscuous).as_str(),
                text::<8>(settings.security.mac_changes).as_str(),
                text::<8>(settings.security.forged_transmits).as_str(),
                settings.mac_limit,
                text::<8>(settings.limit_policy).as_str()
            );
        }
        let (active, standby) = config.team();
        if active.is_empty() && standby.is_empty() {
            println!("teaming: no uplinks");
        } else {
            println!(
                "teaming: active {} standby {} failback {}; carrying traffic: {}",
                Ports(&active),
                Ports(&standby),
                if config.teaming.failback { "on" } else { "off" },
                switch.active_uplinks()
            );
        }
        let counters = switch.counters();
        let mut any = false;
        for reason in DropReason::ALL {
            let count = counters.dropped(reason);
            if count > 0 {
                if !any {
                    println!("drops by reason:");
                    any = true;
                }
                println!("  {:<20} {:>10}  {}", reason.label(), count, reason);
            }
        }
        if !any {
            println!("drops by reason: none");
        }
        println!(
            "table: full {} limit-allowed {} aged {} moves {} learn-writes {} repins {} notify-overflow {}",
            counters.table_full,
            counters.limit_allowed,
            counters.aged,
            counters.moves,
            counters.learn_writes,
            counters.repins,
            counters.notify_overflow
        );
        let path = &self.counters;
        println!(
            "datapath: copied {} moved {} no-buffer {} no-room {} bad-length {} bad-handle {} edit-failed {} no-nic {} rarp-sent {} bad-configs {}",
            path.copied,
            path.moved,
            path.no_buffer,
            path.no_room,
            path.bad_length,
            path.bad_handle,
            path.edit_failed,
            path.no_nic,
            path.notifications_sent,
            path.config_errors
        );
        crate::net::print_shared_pool();
    }

    /// `fdb [vlan N] [port P]`: prints the header and returns the listing, which the shell
    /// prints a few lines per loop pass ([`DataPorts::continue_fdb`]): a full table is 16 384
    /// lines, seconds of console output, and the fast path must not wait for them.
    pub fn start_fdb(&self, vlan: Option<u16>, port: Option<u8>) -> FdbListing {
        println!(
            "{:<5} {:<17} {:<6} {:<8} {:>8}",
            "vlan", "mac", "port", "type", "age"
        );
        FdbListing {
            vlan,
            port,
            next_slot: 0,
            shown: 0,
        }
    }

    /// One pass's share of `listing`: at most [`FDB_LINES_PER_PASS`] entries printed and
    /// [`FDB_SLOTS_PER_PASS`] table slots looked at. Returns whether the listing ended (then
    /// its summary line is printed). The table is live: an entry learned, aged or moved while
    /// the listing runs may be missed or shown twice, and the summary counts the table as it is
    /// at the end.
    pub fn continue_fdb(&self, listing: &mut FdbListing) -> bool {
        let now = now().coarse_seconds();
        let table = self.switch.table();
        let mut lines = 0;
        let last = listing
            .next_slot
            .saturating_add(FDB_SLOTS_PER_PASS)
            .min(MAC_TABLE_SLOTS);
        while listing.next_slot < last && lines < FDB_LINES_PER_PASS {
            let slot = listing.next_slot;
            listing.next_slot += 1;
            let Some(entry) = table.entry_at_position(slot) else {
                continue;
            };
            if listing.vlan.is_some_and(|vlan| entry.vlan.get() != vlan)
                || listing.port.is_some_and(|port| entry.port.number() != port)
            {
                continue;
            }
            lines += 1;
            listing.shown += 1;
            print!(
                "{:<5} {:<17} {:<6} {:<8} ",
                text::<8>(entry.vlan).as_str(),
                text::<17>(entry.mac).as_str(),
                text::<8>(entry.port).as_str(),
                text::<8>(entry.kind).as_str()
            );
            match entry.kind {
                EntryKind::Static => println!("{:>8}", "-"),
                EntryKind::Learned => {
                    let mut age: heapless::String<16> = heapless::String::new();
                    let _ = core::fmt::write(
                        &mut age,
                        format_args!("{} s", now.saturating_sub(entry.last_seen)),
                    );
                    println!("{:>8}", age.as_str());
                }
            }
        }
        if listing.next_slot < MAC_TABLE_SLOTS {
            return false;
        }
        println!(
            "{} entr{} shown, {} in the table",
            listing.shown,
            if listing.shown == 1 { "y" } else { "ies" },
            self.switch.mac_count()
        );
        true
    }

    /// `fdb add MAC vlan N port P`: a static entry.
    pub fn fdb_add(&mut self, mac: [u8; 6], vlan: u16, port: u8) {
        let (Some(vlan), Some(port)) = (VlanId::new(vlan), PortId::new(port)) else {
            println!("error: vlan 1..4094 and port1..port7");
            return;
        };
        let mac = MacAddress(mac);
        match self.switch.add_static(vlan, mac, port, now()) {
            Ok(()) => println!("fdb: {} vlan {} on {} (static)", mac, vlan, port),
            Err(error) => println!("error: {}; nothing changed", error),
        }
    }

    /// `fdb del MAC vlan N`: removes an entry, static or learned.
    pub fn fdb_del(&mut self, mac: [u8; 6], vlan: u16) {
        let Some(vlan) = VlanId::new(vlan) else {
            println!("error: vlan 1..4094");
            return;
        };
        let mac = MacAddress(mac);
        match self.switch.remove_entry(vlan, mac) {
            Some(entry) => println!(
                "fdb: removed {} vlan {} ({} on {})",
                mac, vlan, entry.kind, entry.port
            ),
            None => println!("error: no entry for {} vlan {}", mac, vlan),
        }
    }

    /// `fdb flush`: every learned entry (static ones stay).
    pub fn fdb_flush(&mut self) {
        let before = self.switch.mac_count();
        self.switch.flush_learned(None);
        let flushed = before.saturating_sub(self.switch.mac_count());
        println!(
            "fdb: {} learned entr{} flushed; static entries kept",
            flushed,
            if flushed == 1 { "y" } else { "ies" }
        );
    }

    /// `switch set KEY VALUE`: one `switch.*` key, validated with the whole config and applied
    /// atomically; a bad key or value changes nothing.
    pub fn set(&mut self, nics: &[PortNic], key: &str, value: &str) {
        let key = key.strip_prefix(dpu_switch::cmdline::PREFIX).unwrap_or(key);
        let mut config = self.switch.config().clone();
        if let Err(problem) = config.set(key, value) {
            println!(
                "error: switch.{}={}: {}; nothing changed",
                key, value, problem
            );
            return;
        }
        if let Err(error) = self.switch.apply(&config) {
            println!(
                "error: switch.{}={}: {}; nothing changed",
                key, value, error
            );
            return;
        }
        self.source = Source::Console;
        self.sync_links(nics);
        println!("switch: switch.{}={} applied", key, value);
        // What the console changes survives a reboot.
        crate::config::switch_applied(self.switch.config());
        crate::config::save_and_report("switch config");
    }
}

/// The management API's view (`api.rs`): reads, and changes that print nothing.
impl DataPorts {
    /// The switch (read-only).
    pub fn switch(&self) -> &Switch {
        self.switch
    }

    /// The switch, to change its MAC table.
    pub fn switch_mut(&mut self) -> &mut Switch {
        self.switch
    }

    /// Index into the data NICs of `port`'s NIC, if it came up.
    pub fn nic_index(&self, port: PortId) -> Option<usize> {
        self.nic_of.get(port.index()).copied().flatten()
    }

    /// Validates and applies a whole config (the API's PATCH and PUT); nothing changes on
    /// error. The link states are re-read, as after `switch set`.
    pub fn apply_config(
        &mut self,
        nics: &[PortNic],
        config: &SwitchConfig,
    ) -> Result<(), dpu_switch::ConfigError> {
        self.switch.apply(config)?;
        self.source = Source::Api;
        self.sync_links(nics);
        Ok(())
    }
}

/// `value` as text, so column widths apply (the switch types' Display impls ignore them).
fn text<const N: usize>(value: impl core::fmt::Display) -> heapless::String<N> {
    let mut text = heapless::String::new();
    let _ = core::fmt::write(&mut text, format_args!("{}", value));
    text
}

/// A port list in words (`port1,port2`, or `none`).
struct Ports<'a>(&'a PortList);

impl core::fmt::Display for Ports<'_> {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        if self.0.is_empty() {
            return formatter.write_str("none");
        }
        for (position, port) in self.0.iter().enumerate() {
            if position > 0 {
                formatter.write_str(",")?;
            }
            write!(formatter, "{}", port)?;
        }
        Ok(())
    }
}

/// An aging time in words (`300 s`, or `never` for 0).
struct Seconds(u32);

impl core::fmt::Display for Seconds {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.0 {
            0 => formatter.write_str("never"),
            seconds => write!(formatter, "{} s", seconds),
        }
    }
}
