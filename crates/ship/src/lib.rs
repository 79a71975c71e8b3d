//! How agents and proxies ship what they see to a Watchpost server.
//!
//! A sender is registered on the server (`watchpost agent-token create`), which prints a
//! token once: `wps_<id>_<secret>`. The server keeps only the SHA-256 of the secret. The
//! sender appends each event and detection to a [`Spool`] on disk first, then a
//! [`Shipper`] sends the spool's segments oldest first as gzip-compressed JSON batches to
//! `POST /api/v1/ingest`, with retries and backoff. A server that is away only delays
//! delivery; a spool that outgrows its bound drops its oldest segment, counts what was
//! dropped and says so.

mod protocol;
mod shipper;
mod spool;

pub use protocol::{
    Batch, BatchError, BatchLimits, INGEST_PATH, Record, SenderInfo, Token, TokenError, secret_hash,
};
pub use shipper::{Shipper, ShipperConfig};
pub use spool::{Spool, SpoolError, SpoolLimits};
