//! Delivery: outbound HTTP, signatures and redaction. (Workers, retries and the resolver-level
//! egress policy build on these.)

pub mod egress;
pub mod redact;
pub mod signing;
pub mod transport;
