//! Harper's port numbers: the one table of a node's listeners. A leaf.

/// One listener of a node: the install setting that sets it, and its port
/// (on the node's own address).
#[derive(Debug, Clone, Copy)]
pub struct Port {
    pub install_flag: &'static str,
    pub number: u16,
}

pub const OPS_PORT: u16 = 9925;
pub const REST_PORT: u16 = 9926;
pub const REPLICATION_PORT: u16 = 9933;

/// Every port a node binds, each on its own loopback address: the
/// operations API, REST, replication, MQTT and MQTT over TLS.
pub const PORTS: [Port; 5] = [
    Port { install_flag: "OPERATIONSAPI_NETWORK_PORT", number: OPS_PORT },
    Port { install_flag: "HTTP_PORT", number: REST_PORT },
    Port { install_flag: "REPLICATION_SECUREPORT", number: REPLICATION_PORT },
    Port { install_flag: "MQTT_NETWORK_PORT", number: 1883 },
    Port { install_flag: "MQTT_NETWORK_SECUREPORT", number: 8883 },
];

/// The port numbers alone, in the table's order.
pub fn port_numbers() -> [u16; 5] {
    PORTS.map(|p| p.number)
}
