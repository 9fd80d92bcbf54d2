//! A local Redis Cluster of 3 primaries and 3 replicas for the failover
//! measurements: `redis-server --cluster-enabled yes` nodes on free ports
//! (each at most 55535, for the bus port), joined with
//! `redis-cli --cluster create ... --cluster-replicas 1 --cluster-yes`.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::procs::{cluster_port, query, RedisNode, TempDir};

const SLOTS: u32 = 16384;

/// The running cluster; nodes die with it.
#[derive(Debug)]
pub struct Cluster {
    /// The nodes, in start order.
    pub nodes: Vec<RedisNode>,
    _dir: TempDir,
}

/// One line of `CLUSTER NODES`.
#[derive(Debug, Clone)]
pub struct NodeLine {
    /// Node id.
    pub id: String,
    /// Client port.
    pub port: u16,
    /// Flagged `master`.
    pub primary: bool,
    /// A replica's primary id.
    pub primary_id: Option<String>,
    /// Flags other than `myself`, `master`, `slave`, `nofailover`, and a
    /// link that is not `connected`.
    pub trouble: Vec<String>,
    /// Slot ranges served, inclusive.
    pub slots: Vec<(u16, u16)>,
}

impl Cluster {
    /// Starts 6 nodes with `cluster-node-timeout` = `node_timeout_ms`,
    /// creates the cluster and waits until it is healthy.
    pub async fn start(node_timeout_ms: u64) -> Result<Self, String> {
        let dir = TempDir::new("cluster")?;
        let mut nodes: Vec<RedisNode> = Vec::new();
        let mut failures = 0;
        while nodes.len() < 6 {
            let taken: Vec<u16> = nodes.iter().map(|n| n.port).collect();
            let port = cluster_port(&taken)?;
            let extra: Vec<String> = [
                "--cluster-enabled".to_owned(),
                "yes".to_owned(),
                "--cluster-config-file".to_owned(),
                dir.0.join(format!("nodes-{port}.conf")).display().to_string(),
                "--cluster-node-timeout".to_owned(),
                node_timeout_ms.to_string(),
                // Replicas sync at once (the default waits 5 s for more).
                "--repl-diskless-sync-delay".to_owned(),
                "0".to_owned(),
            ]
            .to_vec();
            match RedisNode::start(port, &dir.0, &extra).await {
                Ok(node) => nodes.push(node),
                Err(e) if failures < 5 => {
                    failures += 1;
                    eprintln!("cluster node on {port}: {e}; trying another port");
                }
                Err(e) => return Err(e),
            }
        }
        let cluster = Cluster { nodes, _dir: dir };
        let mut create = Command::new("redis-cli");
        create.arg("--cluster").arg("create");
        for node in &cluster.nodes {
            create.arg(format!("127.0.0.1:{}", node.port));
        }
        let output = create
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run redis-cli --cluster create: {e}"))?;
        let text = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
        if !output.status.success() || !text.contains("[OK] All 16384 slots covered") {
            return Err(format!("redis-cli --cluster create failed: {text}"));
        }
        cluster.wait_healthy(Duration::from_secs(30)).await?;
        Ok(cluster)
    }

    /// Every node's URL.
    pub fn seeds(&self) -> Vec<String> {
        self.nodes.iter().map(RedisNode::url).collect()
    }

    /// The node on `port`.
    pub fn node_mut(&mut self, port: u16) -> Option<&mut RedisNode> {
        self.nodes.iter_mut().find(|n| n.port == port)
    }

    fn url(port: u16) -> String {
        format!("redis://127.0.0.1:{port}")
    }

    /// `CLUSTER NODES` as the node on `port` sees it.
    pub async fn nodes_seen_by(port: u16) -> Result<Vec<NodeLine>, String> {
        let text: String = query(&Self::url(port), redis::cmd("CLUSTER").arg("NODES")).await?;
        Ok(text.lines().filter_map(parse_node_line).collect())
    }

    /// `CLUSTER NODES` from the first node that answers, skipping `down`.
    pub async fn topology(&self, down: &[u16]) -> Result<Vec<NodeLine>, String> {
        let mut last = String::from("no node");
        for node in self.nodes.iter().filter(|n| !down.contains(&n.port)) {
            match Self::nodes_seen_by(node.port).await {
                Ok(lines) => return Ok(lines),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// `CLUSTER KEYSLOT key`.
    pub async fn keyslot(&self, key: &str) -> Result<u16, String> {
        query(&self.nodes[0].url(), redis::cmd("CLUSTER").arg("KEYSLOT").arg(key)).await
    }

    /// `CLUSTER COUNTKEYSINSLOT slot` on the node at `port`.
    pub async fn keys_in_slot(port: u16, slot: u16) -> Result<u64, String> {
        query(&Self::url(port), redis::cmd("CLUSTER").arg("COUNTKEYSINSLOT").arg(slot)).await
    }

    /// The primary serving `slot` and its replicas, as the first answering
    /// node (not in `down`) sees it.
    pub async fn shard_of(&self, slot: u16, down: &[u16]) -> Result<(NodeLine, Vec<NodeLine>), String> {
        let lines = self.topology(down).await?;
        let primary = lines
            .iter()
            .find(|n| n.primary && n.slots.iter().any(|&(a, b)| a <= slot && slot <= b))
            .ok_or_else(|| format!("no primary serves slot {slot}"))?
            .clone();
        let replicas = lines
            .iter()
            .filter(|n| n.primary_id.as_deref() == Some(primary.id.as_str()))
            .cloned()
            .collect();
        Ok((primary, replicas))
    }

    /// Waits until every node (not in `down`) reports `cluster_state:ok`
    /// with all slots served, sees no flagged node other than those in
    /// `down`, all agree on the primaries, and every replica among them
    /// has its link to its primary up.
    pub async fn wait_healthy_except(&self, down: &[u16], limit: Duration) -> Result<Duration, String> {
        let start = Instant::now();
        loop {
            match self.health(down).await {
                Ok(()) => return Ok(start.elapsed()),
                Err(why) if start.elapsed() > limit => {
                    return Err(format!("cluster not healthy after {limit:?}: {why}"))
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    }

    /// [`Self::wait_healthy_except`] with every node up.
    pub async fn wait_healthy(&self, limit: Duration) -> Result<Duration, String> {
        self.wait_healthy_except(&[], limit).await
    }

    async fn health(&self, down: &[u16]) -> Result<(), String> {
        let live: Vec<u16> = self
            .nodes
            .iter()
            .map(|n| n.port)
            .filter(|p| !down.contains(p))
            .collect();
        let mut views = Vec::new();
        for &port in &live {
            let info: String = query(&Self::url(port), redis::cmd("CLUSTER").arg("INFO")).await?;
            for needed in ["cluster_state:ok".to_owned(), format!("cluster_slots_ok:{SLOTS}")] {
                if !info.lines().any(|l| l.trim() == needed) {
                    return Err(format!("node {port}: no {needed}"));
                }
            }
            let lines = Self::nodes_seen_by(port).await?;
            if let Some(bad) = lines.iter().find(|n| !down.contains(&n.port) && !n.trouble.is_empty()) {
                return Err(format!("node {port} sees {} as {:?}", bad.port, bad.trouble));
            }
            let mut primaries: Vec<u16> = lines
                .iter()
                .filter(|n| n.primary && !n.slots.is_empty() && !down.contains(&n.port))
                .map(|n| n.port)
                .collect();
            primaries.sort_unstable();
            views.push(primaries);
        }
        if views.windows(2).any(|w| w[0] != w[1]) {
            return Err(format!("nodes disagree on the primaries: {views:?}"));
        }
        if views.first().map(Vec::len) != Some(3) {
            return Err(format!("primaries serving slots: {views:?}"));
        }
        for &port in live.iter().filter(|p| !views[0].contains(p)) {
            let info: String = query(&Self::url(port), redis::cmd("INFO").arg("replication")).await?;
            let role_replica = info.lines().any(|l| l.trim() == "role:slave");
            if role_replica && !info.lines().any(|l| l.trim() == "master_link_status:up") {
                return Err(format!("replica {port}: link to its primary is not up"));
            }
        }
        Ok(())
    }

    /// Sends `CLUSTER FAILOVER` to the replica on `port`.
    pub async fn manual_failover(replica: u16) -> Result<(), String> {
        let reply: String = query(&Self::url(replica), redis::cmd("CLUSTER").arg("FAILOVER")).await?;
        if reply == "OK" {
            Ok(())
        } else {
            Err(format!("CLUSTER FAILOVER answered {reply}"))
        }
    }
}

/// `<id> <ip:port@cport[,hostname]> <flags> <primary|-> <ping> <pong> <epoch> <link> <slot>...`
fn parse_node_line(line: &str) -> Option<NodeLine> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    if fields.len() < 8 {
        return None;
    }
    let address = fields[1].split(['@', ',']).next()?;
    let port: u16 = address.rsplit_once(':')?.1.parse().ok()?;
    let flags: Vec<&str> = fields[2].split(',').collect();
    let mut trouble: Vec<String> = flags
        .iter()
        .filter(|f| !matches!(**f, "myself" | "master" | "slave" | "nofailover"))
        .map(|f| (*f).to_owned())
        .collect();
    if fields[7] != "connected" {
        trouble.push(format!("link {}", fields[7]));
    }
    let slots = fields[8..]
        .iter()
        .filter(|s| !s.starts_with('['))
        .filter_map(|s| match s.split_once('-') {
            Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
            None => s.parse().ok().map(|n| (n, n)),
        })
        .collect();
    Some(NodeLine {
        id: fields[0].to_owned(),
        port,
        primary: flags.contains(&"master"),
        primary_id: (fields[3] != "-").then(|| fields[3].to_owned()),
        trouble,
        slots,
    })
}
