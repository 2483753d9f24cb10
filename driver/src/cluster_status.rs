//! Reading Harper's `cluster_status` answer: which database sockets a node
//! has to a peer, and whether they are all connected.

use serde_json::Value;

/// The database sockets one node has to a peer, from `cluster_status`.
#[derive(Debug, Clone, PartialEq)]
pub struct PeerSockets {
    pub url: String,
    pub sockets: Vec<(String, bool)>,
}

impl PeerSockets {
    pub fn all_connected(&self) -> bool {
        !self.sockets.is_empty() && self.sockets.iter().all(|(_, c)| *c)
    }

    pub fn describe(&self) -> String {
        self.sockets
            .iter()
            .map(|(db, c)| format!("{db}: {}", if *c { "connected" } else { "not connected" }))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Finds the connection to `peer` (its node name or address) in a
/// `cluster_status` answer.
pub fn peer_sockets(status: &Value, peer: &str) -> Option<PeerSockets> {
    let conns = status.get("connections")?.as_array()?;
    let conn = conns.iter().find(|c| {
        c.get("name").and_then(Value::as_str) == Some(peer)
            || c.get("url").and_then(Value::as_str).is_some_and(|u| u.contains(&format!("//{peer}:")))
    })?;
    let sockets = conn
        .get("database_sockets")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|s| {
                    (
                        s.get("database").and_then(Value::as_str).unwrap_or("?").to_string(),
                        s.get("connected").and_then(Value::as_bool).unwrap_or(false),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    Some(PeerSockets { url: conn.get("url").and_then(Value::as_str).unwrap_or("").to_string(), sockets })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    /// cluster_status as node B answered it on 4.7.29 (trimmed); the
    /// checks' tests judge it too.
    pub(crate) fn status(connected: bool) -> Value {
        json!({"type":"cluster-status","connections":[{"url":"wss://127.0.0.12:9933","name":"127.0.0.12",
          "database_sockets":[{"database":"system","connected":connected,"threadId":1},{"database":"data","connected":true,"threadId":1}]}],
          "node_name":"127.0.0.13","url":"wss://127.0.0.13:9933","is_enabled":true})
    }

    #[test]
    fn a_peer_is_found_by_name_or_address_with_its_sockets() {
        let p = peer_sockets(&status(false), "127.0.0.12").unwrap();
        assert_eq!(p.url, "wss://127.0.0.12:9933");
        assert_eq!(p.sockets, vec![("system".to_string(), false), ("data".to_string(), true)]);
        assert!(!p.all_connected());
        assert!(peer_sockets(&status(true), "127.0.0.12").unwrap().all_connected());
        assert_eq!(peer_sockets(&status(true), "127.0.0.99"), None);
    }
}
