//! The management HTTP server as the stack's TCP service.
//!
//! Pure forwarding: the stack's connection numbers are the server's slots. Each poll, the
//! caller builds a [`Service`] from the server, the API handler and the credentials
//! (`server.service(&mut handler, &tokens)`) and passes it to
//! [`MgmtStack::poll`](crate::MgmtStack::poll), after setting the server's clock.

use crate::stack::{SendStatus, TcpService};
use core::net::IpAddr;
use dpu_mgmt::{Credentials, Handler, Service};
use smoltcp::wire::{IpAddress, IpEndpoint};

impl<H: Handler, C: Credentials + ?Sized, const SLOTS: usize> TcpService
    for Service<'_, '_, H, C, SLOTS>
{
    fn on_open(&mut self, connection: usize, remote: IpEndpoint) {
        let IpAddress::Ipv4(address) = remote.addr;
        self.open(connection, Some(IpAddr::V4(address)));
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

    fn evict(&mut self) -> Option<usize> {
        Service::evict(self)
    }
}
