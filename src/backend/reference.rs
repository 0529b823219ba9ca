//! placeholder
pub struct ReferenceBackend;
