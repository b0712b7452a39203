//! The requests service (依申请公开): disclosure requests under the
//! statutory clock.

pub mod domain;
pub mod store;
