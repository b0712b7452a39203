//! What every Gongkai service needs: configuration, unit paths and subjects,
//! storage, the event bus with its outbox and idempotent consumers,
//! telemetry, auth, the working-day calendar and error mapping.

pub mod auth;
pub mod bus;
pub mod calendar;
pub mod config;
pub mod consumer;
pub mod db;
pub mod error;
pub mod grpc;
pub mod ids;
pub mod outbox;
pub mod priority;
pub mod runtime;
pub mod schedule;
pub mod telemetry;
pub mod unit;

pub use error::ApiError;
pub use unit::UnitPath;
