//! What a node gives each of its services: identity, calendar, signing key
//! and the bus, built once and passed by clone.

use std::path::PathBuf;

use crate::auth::TokenKey;
use crate::bus::Bus;
use crate::calendar::Calendar;
use crate::config::{NatsConfig, NodeConfig};

#[derive(Clone)]
pub struct Runtime {
    pub node: NodeConfig,
    pub calendar: Calendar,
    pub keys: TokenKey,
    pub bus: Bus,
}

impl Runtime {
    /// Loads the calendar and the signing key and connects to NATS (which
    /// may be down: the connection retries in the background).
    pub async fn start(node: NodeConfig, nats: &NatsConfig) -> anyhow::Result<Runtime> {
        node.validate()?;
        nats.validate()?;
        std::fs::create_dir_all(&node.data_dir)?;
        let calendar =
            Calendar::load_dir(&node.calendar_dir).map_err(|e| anyhow::anyhow!("calendar: {e}"))?;
        let keys = TokenKey::load_or_create(&key_path(&node))?;
        let bus = Bus::connect(nats, &format!("gongkai {}", node.unit)).await?;
        Ok(Runtime {
            node,
            calendar,
            keys,
            bus,
        })
    }
}

/// Where the node keeps its token signing key.
pub fn key_path(node: &NodeConfig) -> PathBuf {
    node.data_dir.join("node.key")
}
