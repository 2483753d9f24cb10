//! Talks to one Harper node: its operations API (JSON POSTs on :9925) and its
//! REST interface (:9926), both with the admin user's Basic auth.

use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use serde_json::{json, Value};

/// The operations and REST endpoints of one node, with its credentials.
#[derive(Clone, Debug)]
pub struct NodeApi {
    pub name: String,
    /// The operations API and REST base URLs, each ending in `/`.
    ops: String,
    rest: String,
    http: reqwest::Client,
    user: String,
    password: String,
}

/// What reading a record's blob back through REST gave.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum BlobRead {
    /// The whole body: its length and SHA-256 (hex).
    Read { len: u64, sha256: String },
    /// The node does not hold the record (`504 Entry is not cached`).
    NotHeld,
    /// The read failed or did not finish within its bound.
    Failed(String),
}

pub use crate::ports::{OPS_PORT, REST_PORT};
pub use crate::text::shorten;

impl NodeApi {
    pub fn new(name: &str, ip: std::net::Ipv4Addr, user: &str, password: &str) -> Result<Self> {
        let ops = format!("http://{ip}:{OPS_PORT}/");
        let rest = format!("http://{ip}:{REST_PORT}/");
        Self::with_urls(name, ops, rest, user, password)
    }

    /// A node of an existing cluster, reached by its operations API and REST URLs.
    pub fn at(name: &str, ops_url: &str, rest_url: &str, user: &str, password: &str) -> Result<Self> {
        let slash = |u: &str| format!("{}/", u.trim_end_matches('/'));
        Self::with_urls(name, slash(ops_url), slash(rest_url), user, password)
    }

    fn with_urls(name: &str, ops: String, rest: String, user: &str, password: &str) -> Result<Self> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .pool_max_idle_per_host(64)
            .no_proxy()
            .build()
            .context("failed to build the http client")?;
        Ok(Self {
            name: name.to_string(),
            ops,
            rest,
            http,
            user: user.to_string(),
            password: password.to_string(),
        })
    }

    pub fn ops_url(&self) -> String {
        self.ops.clone()
    }

    pub fn rest_url(&self, path: &str) -> String {
        format!("{}{}", self.rest, path.trim_start_matches('/'))
    }

    /// One operation; a non-2xx answer is an error carrying Harper's message.
    pub async fn op(&self, body: Value, timeout: Duration) -> Result<Value> {
        let what = body.get("operation").and_then(Value::as_str).unwrap_or("?").to_string();
        let resp = self
            .http
            .post(self.ops_url())
            .basic_auth(&self.user, Some(&self.password))
            .timeout(timeout)
            .json(&body)
            .send()
            .await
            .with_context(|| format!("{what} on node {} ({})", self.name, self.ops_url()))?;
        let status = resp.status();
        let text = resp
            .text()
            .await
            .with_context(|| format!("{what} on node {}: reading the answer", self.name))?;
        if !status.is_success() {
            return Err(anyhow!(
                "{what} on node {} answered {status}: {}",
                self.name,
                shorten(&text, 300)
            ));
        }
        serde_json::from_str(&text)
            .with_context(|| format!("{what} on node {}: answer is not JSON: {}", self.name, shorten(&text, 200)))
    }

    /// The exact number of records in `data.<table>`.
    pub async fn record_count(&self, table: &str) -> Result<u64> {
        self.count(table, true, Duration::from_secs(10)).await
    }

    /// The number of records in `data.<table>`, exact (a count of every
    /// record, slow on a large table that is being written) or Harper's
    /// estimate (cheap), within `timeout`.
    pub async fn count(&self, table: &str, exact: bool, timeout: Duration) -> Result<u64> {
        let v = self
            .op(json!({"operation":"describe_table","database":"data","table":table,"exact_count":exact}), timeout)
            .await?;
        v.get("record_count")
            .and_then(Value::as_u64)
            .ok_or_else(|| anyhow!("describe_table on node {} has no record_count: {}", self.name, shorten(&v.to_string(), 200)))
    }

    pub async fn cluster_status(&self) -> Result<Value> {
        self.op(json!({"operation":"cluster_status"}), Duration::from_secs(10)).await
    }

    /// The ids the node itself stores. A scan of the primary key
    /// (`search_by_value` on `id` = `*`) never falls through to a table's
    /// `sourcedFrom` source (verified on 4.7.29, unlike `search_by_id`,
    /// which calls the source for ids the node lacks and so creates them),
    /// and answers in tens of milliseconds where `SELECT id` took 5 s.
    pub async fn stored_ids(&self, table: &str) -> Result<Vec<String>> {
        let v = self
            .op(
                json!({"operation":"search_by_value","database":"data","table":table,
                       "search_attribute":"id","search_value":"*","get_attributes":["id"]}),
                Duration::from_secs(60),
            )
            .await?;
        let rows = v.as_array().ok_or_else(|| {
            anyhow!("search_by_value on node {} did not return rows: {}", self.name, shorten(&v.to_string(), 200))
        })?;
        Ok(rows
            .iter()
            .filter_map(|r| match r.get("id") {
                Some(Value::String(s)) => Some(s.clone()),
                Some(Value::Number(n)) => Some(n.to_string()),
                _ => None,
            })
            .collect())
    }

    /// Whether this node holds the record `id` itself (an index search:
    /// never calls the table's source, so it cannot create what it asks for).
    pub async fn holds_id(&self, table: &str, id: &str) -> Result<bool> {
        let v = self
            .op(
                json!({"operation":"search_by_value","database":"data","table":table,
                       "search_attribute":"id","search_value":id,"get_attributes":["id"]}),
                Duration::from_secs(10),
            )
            .await?;
        let rows = v.as_array().ok_or_else(|| {
            anyhow!("search_by_value on node {} did not return rows: {}", self.name, shorten(&v.to_string(), 200))
        })?;
        Ok(rows.iter().any(|r| r.get("id").and_then(Value::as_str) == Some(id)))
    }

    /// GET a REST path on this node (the workload's request).
    pub async fn get(&self, path: &str, timeout: Duration) -> reqwest::Result<reqwest::StatusCode> {
        let resp = self
            .http
            .get(self.rest_url(path))
            .basic_auth(&self.user, Some(&self.password))
            .timeout(timeout)
            .send()
            .await?;
        let status = resp.status();
        // Drain the body so the connection goes back to the pool.
        resp.bytes().await?;
        Ok(status)
    }

    /// GET `url` with `Cache-Control: only-if-cached` (Harper then answers
    /// from what the node stores, 504 for a record it lacks, instead of
    /// calling the table's source; verified on 4.7.29): the status and the
    /// whole body, or why there is none (a failed request, a body cut off,
    /// no answer within `timeout`).
    async fn get_only_if_cached(&self, url: &str, timeout: Duration) -> Result<(reqwest::StatusCode, Vec<u8>), String> {
        let fut = async {
            let resp = self
                .http
                .get(url)
                .basic_auth(&self.user, Some(&self.password))
                .header("Cache-Control", "only-if-cached")
                .send()
                .await
                .map_err(|e| format!("request failed: {}", error_chain(&e)))?;
            let status = resp.status();
            let body = resp.bytes().await.map_err(|e| format!("body failed after {status}: {}", error_chain(&e)))?;
            Ok((status, body.to_vec()))
        };
        tokio::time::timeout(timeout, fut).await.unwrap_or_else(|_| Err(format!("no answer within {} s", timeout.as_secs_f64())))
    }

    /// The bytes of `<table>/<id>.<attr>` as the node stores them
    /// (`only-if-cached`), for a comparison byte by byte; an error status,
    /// a failed request or no answer within `timeout` is an `Err`.
    pub async fn blob_bytes(&self, table: &str, id: &str, attr: &str, timeout: Duration) -> Result<Vec<u8>, String> {
        let (status, body) = self.get_only_if_cached(&self.rest_url(&format!("{table}/{id}.{attr}")), timeout).await?;
        if !status.is_success() {
            return Err(format!("answered {status}"));
        }
        Ok(body)
    }

    /// Read `<table>/<id>.<attr>` as bytes, only from what the node stores:
    /// `Cache-Control: only-if-cached` makes Harper answer 504 instead of
    /// calling the table's source for a record it lacks (verified on 4.7.29).
    pub async fn read_blob(&self, table: &str, id: &str, attr: &str, timeout: Duration) -> BlobRead {
        use sha2::{Digest, Sha256};
        let (status, body) = match self.get_only_if_cached(&self.rest_url(&format!("{table}/{id}.{attr}")), timeout).await {
            Ok(answer) => answer,
            Err(e) => return BlobRead::Failed(e),
        };
        if status.as_u16() == 504 {
            return BlobRead::NotHeld;
        }
        if !status.is_success() {
            return BlobRead::Failed(format!("answered {status}: {}", shorten(&String::from_utf8_lossy(&body), 120)));
        }
        let digest = Sha256::digest(&body);
        BlobRead::Read { len: body.len() as u64, sha256: digest.iter().map(|b| format!("{b:02x}")).collect() }
    }
}

/// An error and its causes on one line.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}
