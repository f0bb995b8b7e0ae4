//! The socket writes of [`HttpTransport`](super::HttpTransport), each
//! checked against what the user allows at the moment it is made.
//!
//! The check sits under TLS, on the connection itself: every byte the HTTP
//! client writes to a socket (the request head, each piece of the body,
//! TLS records written late) passes [`GatedTransport::transmit_output`],
//! which holds the client's write barrier ([`Allowance::write_if`]) across
//! the check and the write. A consent change or an identity reset waits
//! for that barrier before it returns, so once it has returned, no byte of
//! a request its new state forbids is written.

use std::io;
use std::sync::{Arc, Mutex, PoisonError};

use ureq::unversioned::transport::{Buffers, ConnectionDetails, Connector, NextTimeout, Transport};

use super::allowance::Allowance;
use crate::local::identity::Identity;
use crate::Level;

/// What the writes of the request being sent must still satisfy.
#[derive(Clone)]
pub(crate) struct WriteCheck {
    pub(crate) allowance: Arc<Allowance>,
    pub(crate) identity: Arc<Identity>,
    /// Whether the sink is the user's own (governed by the user's level,
    /// not by consent).
    pub(crate) user_owned: bool,
    /// The highest level among the request's events.
    pub(crate) needed: Level,
    /// The identity generation the request's events were prepared under.
    pub(crate) generation: u64,
}

impl std::fmt::Debug for WriteCheck {
    /// Without the identity (it holds the install id).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteCheck")
            .field("user_owned", &self.user_owned)
            .field("needed", &self.needed)
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

impl WriteCheck {
    fn allows(&self) -> bool {
        let level = self.allowance.level(self.user_owned);
        level > Level::Off && self.needed <= level && self.identity.generation() == self.generation
    }
}

/// The check for the request being sent, shared by a transport and its
/// connections; and whether a write was refused.
#[derive(Debug, Default)]
pub(crate) struct Slot {
    check: Option<WriteCheck>,
    withheld: bool,
}

/// A transport's slot.
pub(crate) type SharedSlot = Arc<Mutex<Slot>>;

/// Sets the check for the next request, and clears the refusal flag.
pub(crate) fn arm(slot: &SharedSlot, check: WriteCheck) {
    *slot.lock().unwrap_or_else(PoisonError::into_inner) = Slot { check: Some(check), withheld: false };
}

/// Clears the check (no write is allowed until the next is set); returns
/// whether a write of the request was refused.
pub(crate) fn disarm(slot: &SharedSlot) -> bool {
    std::mem::take(&mut *slot.lock().unwrap_or_else(PoisonError::into_inner)).withheld
}

/// Wraps each new connection, under TLS, in a [`GatedTransport`].
#[derive(Debug)]
pub(crate) struct GateConnector(pub(crate) SharedSlot);

impl<In: Transport> Connector<In> for GateConnector {
    type Out = GatedTransport<In>;

    fn connect(
        &self,
        _: &ConnectionDetails<'_>,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        Ok(chained.map(|inner| GatedTransport { inner, slot: Arc::clone(&self.0) }))
    }
}

/// A connection whose every write is checked.
#[derive(Debug)]
pub(crate) struct GatedTransport<In> {
    inner: In,
    slot: SharedSlot,
}

impl<In: Transport> Transport for GatedTransport<In> {
    fn buffers(&mut self) -> &mut dyn Buffers {
        self.inner.buffers()
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        let check = self.slot.lock().unwrap_or_else(PoisonError::into_inner).check.clone();
        // No request armed it: nothing may be written.
        let written = check.and_then(|check| {
            let inner = &mut self.inner;
            check.allowance.write_if(|| check.allows(), || inner.transmit_output(amount, timeout))
        });
        written.unwrap_or_else(|| {
            self.slot.lock().unwrap_or_else(PoisonError::into_inner).withheld = true;
            Err(ureq::Error::Io(io::Error::other("consent no longer allows this request's events")))
        })
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.inner.await_input(timeout)
    }

    fn is_open(&mut self) -> bool {
        self.inner.is_open()
    }

    fn is_tls(&self) -> bool {
        self.inner.is_tls()
    }
}
