//! The management HTTP server as the stack's TCP service.
//!
//! Pure forwarding: the stack's connection numbers are the server's slots. Set the server's
//! clock ([`HttpServer::set_clock`]) before each [`MgmtStack::poll`](crate::MgmtStack::poll).

use crate::stack::{SendStatus, TcpService};
use dpu_mgmt::HttpServer;
use smoltcp::wire::IpEndpoint;

impl<const SLOTS: usize> TcpService for HttpServer<'_, SLOTS> {
    fn on_open(&mut self, connection: usize, _remote: IpEndpoint) {
        self.open(connection);
    }

    fn on_receive(&mut self, connection: usize, input: &[u8]) -> usize {
        self.receive(connection, input)
    }

    fn on_send(&mut self, connection: usize, output: &mut [u8]) -> SendStatus {
        let outcome = self.send(connection, output);
        SendStatus {
            written: outcome.written,
            close: outcome.close,
        }
    }

    fn on_close(&mut self, connection: usize) {
        self.close(connection);
    }
}
