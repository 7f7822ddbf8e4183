//! The management HTTP server: connection slots and response buffering.
//!
//! The TCP plumbing (`dpu_net::MgmtStack`) numbers its connections `0..SLOTS` and calls
//! [`HttpServer::open`], [`receive`](HttpServer::receive), [`send`](HttpServer::send) and
//! [`close`](HttpServer::close) for each; `dpu_net` forwards its `TcpService` calls here. Each
//! slot holds one [`Connection`] and the response it is sending: a response is written whole
//! into the slot's buffer and then handed out in pieces as the socket has room, so a small
//! send window never truncates one. A response after which the connection closes
//! (`Connection: close`) is sent to the end before [`SendOutcome::close`] is set.
//!
//! The clock ([`set_clock`](HttpServer::set_clock)) and the `/healthz` data
//! ([`set_snapshot`](HttpServer::set_snapshot)) come from the caller before each poll.

use crate::connection::{Action, Connection, Counters, RESPONSE_BUFFER_SIZE};
use crate::status::StatusSnapshot;

/// What [`HttpServer::send`] wrote, and whether the connection should close.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SendOutcome {
    /// Bytes written at the start of the output buffer.
    pub written: usize,
    /// Close the connection once the written bytes are sent.
    pub close: bool,
}

impl SendOutcome {
    const CLOSE: Self = Self {
        written: 0,
        close: true,
    };
}

/// One connection slot: the parser state and the response being sent.
struct Slot {
    connection: Connection,
    response: [u8; RESPONSE_BUFFER_SIZE],
    /// Bytes of `response` that make up the current response.
    response_length: usize,
    /// Bytes of the current response already handed out.
    response_sent: usize,
    /// Close once the current response is sent.
    close_after: bool,
    open: bool,
}

impl Slot {
    const fn new() -> Self {
        Self {
            connection: Connection::new(0),
            response: [0; RESPONSE_BUFFER_SIZE],
            response_length: 0,
            response_sent: 0,
            close_after: false,
            open: false,
        }
    }

    fn reset(&mut self, now_ms: u64, open: bool) {
        self.connection = Connection::new(now_ms);
        self.response_length = 0;
        self.response_sent = 0;
        self.close_after = false;
        self.open = open;
    }
}

/// The management HTTP server: `SLOTS` connections, about 6 KiB each (keep it in static storage).
pub struct HttpServer<'a, const SLOTS: usize> {
    slots: [Slot; SLOTS],
    snapshot: StatusSnapshot<'a>,
    /// When `snapshot` was taken (the caller's milliseconds).
    snapshot_taken_ms: Option<u64>,
    now_ms: u64,
    /// Counts of connections already closed.
    closed_totals: Counters,
}

impl<const SLOTS: usize> Default for HttpServer<'_, SLOTS> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'a, const SLOTS: usize> HttpServer<'a, SLOTS> {
    /// A server with every slot free and an empty snapshot.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            slots: [const { Slot::new() }; SLOTS],
            snapshot: StatusSnapshot::new("", "", 0),
            snapshot_taken_ms: None,
            now_ms: 0,
            closed_totals: Counters {
                requests: 0,
                responses_by_class: [0; 5],
                malformed: 0,
                timeouts: 0,
            },
        }
    }

    /// Sets the time (milliseconds since boot) the following calls see.
    pub fn set_clock(&mut self, now_ms: u64) {
        self.now_ms = now_ms;
    }

    /// Whether [`set_snapshot`](Self::set_snapshot) is due at `now_ms`: always while a client
    /// is connected (it may ask at any poll), else once the snapshot is `max_age_ms` old, so a
    /// client that connects and asks within one poll gets one at most that old.
    #[must_use]
    pub fn snapshot_due(&self, now_ms: u64, max_age_ms: u64) -> bool {
        self.open_connections() > 0
            || self
                .snapshot_taken_ms
                .is_none_or(|taken| now_ms.saturating_sub(taken) >= max_age_ms)
    }

    /// Replaces the `/healthz` data, taken at `now_ms`.
    pub fn set_snapshot(&mut self, snapshot: StatusSnapshot<'a>, now_ms: u64) {
        self.snapshot = snapshot;
        self.snapshot_taken_ms = Some(now_ms);
    }

    /// Connections opened and not yet closed.
    #[must_use]
    pub fn open_connections(&self) -> usize {
        self.slots.iter().filter(|slot| slot.open).count()
    }

    /// Totals over closed and open connections.
    #[must_use]
    pub fn counters(&self) -> Counters {
        let mut totals = self.closed_totals;
        for slot in &self.slots {
            totals.merge(&slot.connection.counters());
        }
        totals
    }

    /// A client connected on `slot`. A slot out of range is ignored (its sends say close).
    pub fn open(&mut self, slot: usize) {
        let now_ms = self.now_ms;
        if let Some(slot) = self.slots.get_mut(slot) {
            slot.reset(now_ms, true);
        }
    }

    /// Bytes arrived on `slot`; returns how many were taken (the rest are offered again later).
    pub fn receive(&mut self, slot: usize, input: &[u8]) -> usize {
        let now_ms = self.now_ms;
        self.slots.get_mut(slot).map_or(input.len(), |slot| {
            slot.connection.on_bytes(now_ms, input).consumed
        })
    }

    /// `slot` can send up to `output.len()` bytes: the rest of the current response, or the
    /// next one if the connection has one ready.
    pub fn send(&mut self, slot: usize, output: &mut [u8]) -> SendOutcome {
        let now_ms = self.now_ms;
        let Some(slot) = self.slots.get_mut(slot) else {
            return SendOutcome::CLOSE;
        };
        if slot.response_sent == slot.response_length {
            slot.response_length = 0;
            slot.response_sent = 0;
            if slot.close_after {
                return SendOutcome::CLOSE;
            }
            match slot
                .connection
                .poll(now_ms, &self.snapshot, &mut slot.response)
            {
                Action::Nothing => return SendOutcome::default(),
                Action::Respond(length) => {
                    slot.response_length = length.min(RESPONSE_BUFFER_SIZE);
                    slot.close_after = slot.connection.is_closed();
                }
                Action::Close => return SendOutcome::CLOSE,
            }
        }
        let remaining = &slot.response[slot.response_sent..slot.response_length];
        let written = remaining.len().min(output.len());
        output[..written].copy_from_slice(&remaining[..written]);
        slot.response_sent += written;
        SendOutcome {
            written,
            close: slot.response_sent == slot.response_length && slot.close_after,
        }
    }

    /// The connection on `slot` is gone (either side closed it, reset, or idle timeout).
    pub fn close(&mut self, slot: usize) {
        let now_ms = self.now_ms;
        if let Some(slot) = self.slots.get_mut(slot) {
            self.closed_totals.merge(&slot.connection.counters());
            slot.reset(now_ms, false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GET: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: dpu\r\n\r\n";

    /// Sends until nothing more comes, in windows of `window` bytes.
    fn drain(
        server: &mut HttpServer<'_, 2>,
        slot: usize,
        window: usize,
    ) -> (std::vec::Vec<u8>, bool) {
        let mut out = std::vec::Vec::new();
        let mut buffer = std::vec![0u8; window];
        for _ in 0..100_000 {
            let outcome = server.send(slot, &mut buffer);
            out.extend_from_slice(&buffer[..outcome.written]);
            if outcome.close {
                return (out, true);
            }
            if outcome.written == 0 {
                return (out, false);
            }
        }
        panic!("send never finished");
    }

    #[test]
    fn a_response_larger_than_the_window_arrives_whole() {
        let mut server = HttpServer::<2>::new();
        server.open(0);
        assert_eq!(server.receive(0, GET), GET.len());
        let (whole, closed) = drain(&mut server, 0, 4096);
        assert!(!closed);
        server.open(1);
        server.receive(1, GET);
        let (pieces, closed) = drain(&mut server, 1, 7);
        assert!(!closed);
        assert!(whole.starts_with(b"HTTP/1.1 200 OK\r\n"));
        assert_eq!(whole, pieces);
    }

    #[test]
    fn close_comes_only_after_the_last_byte_of_a_closing_response() {
        let mut server = HttpServer::<2>::new();
        server.open(0);
        server.receive(0, b"GET /healthz HTTP/1.0\r\n\r\n");
        let mut window = [0u8; 16];
        let first = server.send(0, &mut window);
        assert_eq!(first.written, 16);
        assert!(!first.close, "the response is not finished");
        let (rest, closed) = drain(&mut server, 0, 16);
        assert!(closed);
        assert!(!rest.is_empty());
        // And the slot keeps saying close until it is reused.
        assert_eq!(server.send(0, &mut window), SendOutcome::CLOSE);
    }

    #[test]
    fn slots_are_independent_and_counted_after_close() {
        let mut server = HttpServer::<2>::new();
        server.open(0);
        server.open(1);
        assert_eq!(server.open_connections(), 2);
        server.receive(0, GET);
        server.receive(1, b"GET /nowhere HTTP/1.1\r\nHost: dpu\r\n\r\n");
        let (ok, _) = drain(&mut server, 0, 64);
        let (missing, _) = drain(&mut server, 1, 64);
        assert!(ok.starts_with(b"HTTP/1.1 200"));
        assert!(missing.starts_with(b"HTTP/1.1 404"));
        server.close(0);
        assert_eq!(server.open_connections(), 1);
        let counters = server.counters();
        assert_eq!(counters.requests, 2);
        assert_eq!(counters.responses(2), 1);
        assert_eq!(counters.responses(4), 1);
        assert_eq!(
            std::format!("{counters}"),
            "2 requests, 2xx 1 4xx 1 5xx 0, malformed 0, timeouts 0"
        );
        // A reused slot starts fresh: nothing pending, counts kept in the totals.
        server.open(0);
        assert_eq!(server.send(0, &mut [0u8; 64]), SendOutcome::default());
        assert_eq!(server.counters().requests, 2);
    }

    #[test]
    fn a_closed_slot_drops_a_half_sent_response() {
        let mut server = HttpServer::<2>::new();
        server.open(0);
        server.receive(0, GET);
        assert_eq!(server.send(0, &mut [0u8; 10]).written, 10);
        server.close(0);
        server.open(0);
        assert_eq!(server.send(0, &mut [0u8; 64]), SendOutcome::default());
    }

    #[test]
    fn out_of_range_slots_are_refused() {
        let mut server = HttpServer::<2>::new();
        server.open(5);
        assert_eq!(server.open_connections(), 0);
        assert_eq!(server.receive(5, GET), GET.len(), "discarded");
        assert_eq!(server.send(5, &mut [0u8; 64]), SendOutcome::CLOSE);
        server.close(5);
    }

    #[test]
    fn the_idle_timeout_uses_the_clock_given() {
        let mut server = HttpServer::<2>::new();
        server.set_clock(1000);
        server.open(0);
        server.set_clock(1000 + crate::IDLE_TIMEOUT_MS - 1);
        assert_eq!(server.send(0, &mut [0u8; 64]), SendOutcome::default());
        server.set_clock(1000 + crate::IDLE_TIMEOUT_MS);
        assert_eq!(server.send(0, &mut [0u8; 64]), SendOutcome::CLOSE);
        assert_eq!(server.counters().timeouts, 1);
    }

    #[test]
    fn the_snapshot_is_due_when_old_or_while_clients_are_connected() {
        let mut server = HttpServer::<2>::new();
        assert!(server.snapshot_due(0, 100), "never taken");
        server.set_snapshot(StatusSnapshot::new("1", "g", 0), 50);
        assert!(!server.snapshot_due(149, 100));
        assert!(server.snapshot_due(150, 100));
        assert!(!server.snapshot_due(10, 100), "a clock that went back");
        server.open(1);
        assert!(server.snapshot_due(51, 100));
        server.close(1);
        assert!(!server.snapshot_due(51, 100));
    }

    #[test]
    fn the_snapshot_given_is_served() {
        let mut server = HttpServer::<2>::new();
        server.set_snapshot(StatusSnapshot::new("9.9.9", "feed", 77), 0);
        server.open(0);
        server.receive(0, GET);
        let (response, _) = drain(&mut server, 0, 4096);
        let text = std::str::from_utf8(&response).unwrap_or("");
        assert!(
            text.contains(r#""version":"9.9.9","git":"feed","uptime_ms":77"#),
            "{text}"
        );
    }
}
