//! A real local Redis Cluster for tests: `redis-server --cluster-enabled yes`
//! nodes on free ports (each <= 55535, since a node also listens on its
//! port + 10000 for the cluster bus), joined by `redis-cli --cluster create`.
//!
//! - [`shared_cluster`]: 3 primaries + 3 replicas, started once per test
//!   process (that is, once per test binary) and killed by watchdogs when
//!   the process is gone. Tests share it through their own key prefixes.
//! - [`start_cluster`]: a cluster of the caller's own shape (e.g. TLS).
//! - [`Cluster::wait_healthy`]: every node agrees: all slots served, every
//!   replica attached and in sync. Used after start and after a failover;
//!   [`Cluster::wait_healthy_except`] while nodes are down.
//! - Faults: [`Cluster::kill_node`], [`Cluster::respawn_node`] /
//!   [`Cluster::restart_node`], [`Cluster::manual_failover`].
//! - [`Cluster::error_stats`] / [`Cluster::assert_no_cross_slot`]: what the
//!   nodes counted as errors, to prove the store stays within one slot.

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, Hasher};
use std::net::{Ipv4Addr, TcpListener};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use redis::cluster_async::ClusterConnection;
use tokengate::store::{RedisStore, RedisStoreConfig};

use crate::redis_harness::{remove_when_gone, start_server, unique_prefix, Probe, RedisProcess};

/// Slots in a Redis Cluster.
pub const SLOTS: u32 = 16384;
/// Highest usable node port: its bus port (+10000) must exist too.
const MAX_PORT: u16 = 55535;
const HEALTH_TIMEOUT: Duration = Duration::from_secs(30);

/// The shape of a test cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClusterSpec {
    /// Primaries (at least 3: `redis-cli --cluster create` wants 3).
    pub primaries: usize,
    /// Replicas per primary.
    pub replicas: usize,
    /// TLS only (client port and bus), certificates from [`crate::tls`].
    pub tls: bool,
    /// `cluster-node-timeout` in ms: how long a silent node takes to be
    /// failed over.
    pub node_timeout_ms: u64,
}

impl Default for ClusterSpec {
    fn default() -> Self {
        ClusterSpec {
            primaries: 3,
            replicas: 1,
            tls: false,
            node_timeout_ms: 2000,
        }
    }
}

/// A running test cluster; its nodes die with the test process (or on drop).
#[derive(Debug)]
pub struct Cluster {
    spec: ClusterSpec,
    ports: Vec<u16>,
    /// Per node (in `ports` order): its process.
    nodes: Mutex<Vec<RedisProcess>>,
    /// Where the nodes keep their `nodes.conf` (removed with the process).
    pub dir: PathBuf,
}

/// What [`Cluster::health`] requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Health {
    /// [`Cluster::wait_healthy`]: settled, every node in its final role.
    Settled,
    /// [`Cluster::wait_serving_except`]: serving, roles may still settle.
    Serving,
}

/// One node as `CLUSTER NODES` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    /// Node id.
    pub id: String,
    /// Client port.
    pub port: u16,
    /// Whether it is a primary.
    pub primary: bool,
    /// A replica's primary id.
    pub primary_id: Option<String>,
    /// Flags other than `myself`/`master`/`slave` (e.g. `fail?`, `handshake`).
    pub trouble: Vec<String>,
    /// Slot ranges served (primaries), inclusive.
    pub slots: Vec<(u16, u16)>,
}

/// The cluster shared by the tests of this process: 3 primaries, 3 replicas.
pub fn shared_cluster() -> &'static Cluster {
    static SHARED: OnceLock<Cluster> = OnceLock::new();
    SHARED.get_or_init(|| start_cluster(ClusterSpec::default()))
}

/// Held by tests that disrupt the shared cluster (failovers, crashes) or
/// that count what its nodes do (WAIT), so that no two of them overlap in
/// one test process.
pub async fn exclusive_cluster_use() -> tokio::sync::MutexGuard<'static, ()> {
    static EXCLUSIVE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    EXCLUSIVE.lock().await
}

/// [`shared_cluster`] from async code (the start blocks for a few seconds).
pub async fn shared_cluster_async() -> &'static Cluster {
    tokio::task::spawn_blocking(shared_cluster)
        .await
        .expect("starting the cluster panicked")
}

/// Starts a cluster of this shape and waits until it is healthy. Blocking.
pub fn start_cluster(spec: ClusterSpec) -> Cluster {
    try_start_cluster(spec).unwrap_or_else(|e| panic!("{e}"))
}

/// [`start_cluster`], failing with a message instead of panicking.
pub fn try_start_cluster(spec: ClusterSpec) -> Result<Cluster, String> {
    if spec.primaries < 3 {
        return Err("redis-cli --cluster create needs 3 primaries".to_owned());
    }
    if spec.tls && !crate::tls::redis_supports_tls() {
        return Err("this redis-server was built without TLS".to_owned());
    }
    let started = Instant::now();
    let dir = std::env::temp_dir().join(format!("tokengate-cluster-{}", unique_prefix()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    remove_when_gone(&dir);
    let count = spec.primaries * (1 + spec.replicas);
    let mut ports = Vec::with_capacity(count);
    let mut nodes = Vec::with_capacity(count);
    let mut failures = 0;
    while ports.len() < count {
        let port = cluster_port(&ports)?;
        let mut args: Vec<String> = vec![
            "--cluster-enabled".into(),
            "yes".into(),
            "--cluster-config-file".into(),
            dir.join(format!("nodes-{port}.conf")).display().to_string(),
            "--cluster-node-timeout".into(),
            spec.node_timeout_ms.to_string(),
            // Replicas sync at once (the default waits 5 s for more replicas).
            "--repl-diskless-sync-delay".into(),
            "0".into(),
            "--dir".into(),
            dir.display().to_string(),
        ];
        let probe = if spec.tls {
            args.extend(crate::tls::tls_server_args(port));
            args.extend(["--tls-cluster", "yes", "--tls-replication", "yes"].map(String::from));
            Probe::Listen
        } else {
            Probe::Ping
        };
        match start_server(port, &args, probe) {
            Ok(process) => {
                ports.push(port);
                nodes.push(process);
            }
            // Taken in between: pick another port.
            Err(err) if failures < 5 => {
                failures += 1;
                eprintln!("cluster node on {port}: {err}; retrying");
            }
            Err(err) => return Err(format!("could not start a cluster node: {err}")),
        }
    }
    let cluster = Cluster {
        spec,
        ports,
        nodes: Mutex::new(nodes),
        dir,
    };
    cluster.create()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("a runtime: {e}"))?;
    runtime.block_on(cluster.wait_healthy_except(&[], HEALTH_TIMEOUT))?;
    eprintln!(
        "test cluster ({} primaries, {} replicas each{}) on ports {:?} ready in {:?}",
        spec.primaries,
        spec.replicas,
        if spec.tls { ", TLS" } else { "" },
        cluster.ports,
        started.elapsed()
    );
    Ok(cluster)
}

/// A random port whose bus port is free too, within the cluster's range.
fn cluster_port(taken: &[u16]) -> Result<u16, String> {
    for _ in 0..1000 {
        let random = std::collections::hash_map::RandomState::new().build_hasher().finish();
        let port = 20000 + (random % u64::from(MAX_PORT - 20000)) as u16;
        if taken.contains(&port) || taken.contains(&(port + 10000)) || taken.iter().any(|&t| t + 10000 == port) {
            continue;
        }
        let free = |p: u16| TcpListener::bind((Ipv4Addr::LOCALHOST, p)).is_ok();
        if free(port) && free(port + 10000) {
            return Ok(port);
        }
    }
    Err("no free port pair for a cluster node".to_owned())
}

impl Cluster {
    fn scheme(&self) -> &'static str {
        if self.spec.tls {
            "rediss"
        } else {
            "redis"
        }
    }

    /// The client ports of all nodes.
    pub fn ports(&self) -> &[u16] {
        &self.ports
    }

    /// `redis://127.0.0.1:<port>` (or `rediss://`) of a node.
    pub fn url(&self, port: u16) -> String {
        format!("{}://127.0.0.1:{port}", self.scheme())
    }

    /// Every node's URL: the seeds for a cluster client.
    pub fn seeds(&self) -> Vec<String> {
        self.ports.iter().map(|&p| self.url(p)).collect()
    }

    /// A [`RedisStore`] on this cluster with `config` (TLS: the test CA is
    /// added).
    pub async fn store(&self, config: RedisStoreConfig) -> RedisStore<ClusterConnection> {
        let config = if self.spec.tls {
            config.tls_root_ca(crate::tls::test_ca().ca_pem.clone().into_bytes())
        } else {
            config
        };
        RedisStore::connect_cluster(&self.seeds(), config)
            .await
            .expect("RedisStore::connect_cluster")
    }

    /// A store under a fresh [`unique_prefix`]; returns it and the prefix.
    pub async fn store_at_unique_prefix(&self) -> (RedisStore<ClusterConnection>, String) {
        let prefix = unique_prefix();
        let store = self.store(RedisStoreConfig::default().prefix(prefix.clone())).await;
        (store, prefix)
    }

    fn cli(&self) -> Command {
        let mut command = Command::new("redis-cli");
        if self.spec.tls {
            command.arg("--tls").arg("--cacert").arg(&crate::tls::test_ca().ca_file);
        }
        command.stdin(Stdio::null());
        command
    }

    fn create(&self) -> Result<(), String> {
        let mut command = self.cli();
        command.arg("--cluster").arg("create");
        for port in &self.ports {
            command.arg(format!("127.0.0.1:{port}"));
        }
        command
            .args(["--cluster-replicas", &self.spec.replicas.to_string(), "--cluster-yes"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let output = command
            .output()
            .map_err(|e| format!("cannot run redis-cli --cluster create: {e}"))?;
        let text = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
        if output.status.success() && text.contains("[OK] All 16384 slots covered") {
            Ok(())
        } else {
            Err(format!("redis-cli --cluster create failed: {text}"))
        }
    }

    /// Waits until every node says `cluster_state:ok` with all slots served
    /// by exactly the expected number of primaries, no node is flagged
    /// (`fail?`, `handshake`, ...), all nodes agree on who is primary, and
    /// every replica's link to its primary is up. Panics after `timeout`.
    pub async fn wait_healthy(&self, timeout: Duration) {
        self.wait_healthy_except(&[], timeout)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }

    /// [`Self::wait_healthy`] while the nodes on the ports in `down` are
    /// down (not asked, and the only ones others may flag); the time it
    /// took, or why the cluster was not healthy after `timeout`. Polled
    /// every 20 ms.
    pub async fn wait_healthy_except(&self, down: &[u16], timeout: Duration) -> Result<Duration, String> {
        self.wait_health(down, Health::Settled, timeout).await
    }

    /// A weaker [`Self::wait_healthy_except`], the one the resilience
    /// benchmark times ("cluster healthy after"): every live node reports
    /// all slots served, flags nobody but `down`, and agrees on the
    /// primaries that serve slots, and every node that calls itself a
    /// replica has its link up; a demoted primary may still call itself a
    /// primary without slots (it turns replica moments later).
    pub async fn wait_serving_except(&self, down: &[u16], timeout: Duration) -> Result<Duration, String> {
        self.wait_health(down, Health::Serving, timeout).await
    }

    async fn wait_health(&self, down: &[u16], health: Health, timeout: Duration) -> Result<Duration, String> {
        let started = Instant::now();
        loop {
            match self.health(down, health).await {
                Ok(()) => return Ok(started.elapsed()),
                Err(why) if started.elapsed() > timeout => {
                    return Err(format!("cluster not healthy after {timeout:?}: {why}"))
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    }

    async fn health(&self, down: &[u16], health: Health) -> Result<(), String> {
        let live: Vec<u16> = self.ports.iter().copied().filter(|p| !down.contains(p)).collect();
        let settled = health == Health::Settled;
        let mut views = Vec::new();
        for &port in &live {
            let info = self.info(port, "CLUSTER", &["INFO"]).await?;
            let mut needed = vec!["cluster_state:ok".to_owned(), format!("cluster_slots_ok:{SLOTS}")];
            if settled {
                needed.push(format!("cluster_known_nodes:{}", self.ports.len()));
                needed.push(format!("cluster_size:{}", self.spec.primaries));
            }
            for needed in needed {
                if !info.lines().any(|l| l.trim() == needed) {
                    return Err(format!("node {port}: no {needed}"));
                }
            }
            let nodes = self.nodes_seen_by(port).await?;
            if let Some(bad) = nodes.iter().find(|n| !down.contains(&n.port) && !n.trouble.is_empty()) {
                return Err(format!("node {port} sees {} as {:?}", bad.port, bad.trouble));
            }
            let mut primaries: Vec<u16> = nodes
                .iter()
                .filter(|n| n.primary && !down.contains(&n.port) && (settled || !n.slots.is_empty()))
                .map(|n| n.port)
                .collect();
            primaries.sort_unstable();
            views.push(primaries);
        }
        if views.windows(2).any(|w| w[0] != w[1]) {
            return Err(format!("nodes disagree on the primaries: {views:?}"));
        }
        let primaries = views.first().ok_or("every node is down")?;
        if primaries.len() != self.spec.primaries {
            return Err(format!(
                "{} primaries, expected {}",
                primaries.len(),
                self.spec.primaries
            ));
        }
        for &port in live.iter().filter(|p| !primaries.contains(p)) {
            let replication = self.info(port, "INFO", &["replication"]).await?;
            let replica = settled || replication.lines().any(|l| l.trim() == "role:slave");
            if replica && !replication.lines().any(|l| l.trim() == "master_link_status:up") {
                return Err(format!("replica {port}: link to its primary is not up"));
            }
        }
        Ok(())
    }

    async fn info(&self, port: u16, command: &str, args: &[&str]) -> Result<String, String> {
        self.query(port, command, args).await
    }

    /// One command on the node at `port`, bounded (2 s to connect, 2 s to
    /// answer).
    pub async fn query<T: redis::FromRedisValue>(&self, port: u16, command: &str, args: &[&str]) -> Result<T, String> {
        let url = self.url(port);
        let client = crate::redis_harness::client(&url);
        let mut conn = tokio::time::timeout(Duration::from_secs(2), client.get_multiplexed_async_connection())
            .await
            .map_err(|_| format!("node {port}: connect timed out"))?
            .map_err(|e| format!("node {port}: {e}"))?;
        let mut cmd = redis::cmd(command);
        for arg in args {
            cmd.arg(*arg);
        }
        tokio::time::timeout(Duration::from_secs(2), cmd.query_async::<T>(&mut conn))
            .await
            .map_err(|_| format!("node {port}: {command} timed out"))?
            .map_err(|e| format!("node {port}: {command}: {e}"))
    }

    /// `CLUSTER NODES` as node `port` sees the cluster.
    pub async fn nodes_seen_by(&self, port: u16) -> Result<Vec<NodeInfo>, String> {
        let text = self.info(port, "CLUSTER", &["NODES"]).await?;
        Ok(text.lines().filter_map(parse_node_line).collect())
    }

    /// The cluster's nodes as the first answering node sees them.
    pub async fn nodes(&self) -> Vec<NodeInfo> {
        self.nodes_except(&[]).await.unwrap_or_else(|e| panic!("{e}"))
    }

    /// The cluster's nodes as the first answering node not in `down` sees
    /// them.
    pub async fn nodes_except(&self, down: &[u16]) -> Result<Vec<NodeInfo>, String> {
        let mut last = "no node to ask".to_owned();
        for &port in self.ports.iter().filter(|p| !down.contains(p)) {
            match self.nodes_seen_by(port).await {
                Ok(nodes) => return Ok(nodes),
                Err(e) => last = e,
            }
        }
        Err(format!("no cluster node answers CLUSTER NODES: {last}"))
    }

    /// URLs of the current primaries.
    pub async fn primary_urls(&self) -> Vec<String> {
        self.nodes()
            .await
            .iter()
            .filter(|n| n.primary)
            .map(|n| self.url(n.port))
            .collect()
    }

    /// The slot of `key` (`CLUSTER KEYSLOT`).
    pub async fn keyslot(&self, key: &str) -> u16 {
        self.slot_of(key).await.unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`Self::keyslot`], failing with a message.
    pub async fn slot_of(&self, key: &str) -> Result<u16, String> {
        let mut last = "no node to ask".to_owned();
        for &port in &self.ports {
            match self.query(port, "CLUSTER", &["KEYSLOT", key]).await {
                Ok(slot) => return Ok(slot),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// The primary serving `slot` and its replicas.
    pub async fn shard_of_slot(&self, slot: u16) -> (NodeInfo, Vec<NodeInfo>) {
        self.shard_of(slot, &[]).await.unwrap_or_else(|e| panic!("{e}"))
    }

    /// The primary serving `slot` and its replicas, as the first answering
    /// node not in `down` sees them.
    pub async fn shard_of(&self, slot: u16, down: &[u16]) -> Result<(NodeInfo, Vec<NodeInfo>), String> {
        let nodes = self.nodes_except(down).await?;
        let primary = nodes
            .iter()
            .find(|n| n.primary && n.slots.iter().any(|&(a, b)| a <= slot && slot <= b))
            .ok_or_else(|| format!("no primary serves slot {slot}: {nodes:?}"))?
            .clone();
        let replicas = nodes
            .iter()
            .filter(|n| n.primary_id.as_deref() == Some(primary.id.as_str()))
            .cloned()
            .collect();
        Ok((primary, replicas))
    }

    /// `CLUSTER COUNTKEYSINSLOT slot` on the node at `port`.
    pub async fn keys_in_slot(&self, port: u16, slot: u16) -> Result<u64, String> {
        self.query(port, "CLUSTER", &["COUNTKEYSINSLOT", &slot.to_string()])
            .await
    }

    /// `INFO errorstats` summed over all nodes: error code → count.
    pub async fn error_stats(&self) -> BTreeMap<String, u64> {
        let mut total = BTreeMap::new();
        for &port in &self.ports {
            let info = self
                .info(port, "INFO", &["errorstats"])
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            for (code, count) in parse_errorstats(&info) {
                *total.entry(code).or_insert(0) += count;
            }
        }
        total
    }

    /// Calls of `command` (lowercase, e.g. `wait`) on the node at `port`.
    pub async fn command_calls(&self, port: u16, command: &str) -> u64 {
        let info = self
            .info(port, "INFO", &["commandstats"])
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        parse_command_stats(&info)
            .into_iter()
            .find(|(name, _)| name == command)
            .map_or(0, |(_, (calls, _, _))| calls)
    }

    /// Asserts that no node ever answered `CROSSSLOT`, `MOVED` or `ASK`,
    /// and that no script call failed except for `NOSCRIPT` (a script that
    /// touches a key served by another node fails with `ERR ... non local
    /// key`). Redis lets a script touch a key of another slot on the same
    /// node, so this is half the proof; `tests/cluster_slots.rs` checks
    /// every key every script touches.
    pub async fn assert_no_cross_slot(&self) {
        for &port in &self.ports {
            // One INFO per node: both sections from the same instant.
            let info = self
                .info(port, "INFO", &["errorstats", "commandstats"])
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            let errors: BTreeMap<String, u64> = parse_errorstats(&info).into_iter().collect();
            for code in ["CROSSSLOT", "MOVED", "ASK"] {
                assert_eq!(errors.get(code), None, "{code} errors on node {port}: {errors:?}");
            }
            let commands: HashMap<String, (u64, u64, u64)> = parse_command_stats(&info).into_iter().collect();
            let failed = |name: &str| commands.get(name).map_or(0, |s| s.1 + s.2);
            let noscript = errors.get("NOSCRIPT").copied().unwrap_or(0);
            assert_eq!(failed("eval"), 0, "failed EVAL calls on node {port}: {commands:?}");
            assert!(
                failed("evalsha") <= noscript,
                "EVALSHA failed {} times on node {port}, NOSCRIPT explains {noscript}: {errors:?}",
                failed("evalsha")
            );
        }
    }

    /// Kills the node at `port` (SIGKILL: a crash, no goodbye).
    pub fn kill_node(&self, port: u16) {
        let index = self.index(port);
        self.nodes.lock().unwrap()[index].kill();
    }

    /// Starts a killed node again on its port with its `nodes.conf`,
    /// waiting until it answers: it rejoins the cluster (as a replica, if
    /// it was failed over). Blocking.
    pub fn restart_node(&self, port: u16) {
        let index = self.index(port);
        let mut nodes = self.nodes.lock().unwrap();
        assert!(!nodes[index].running(), "node {port} is running");
        nodes[index]
            .restart()
            .unwrap_or_else(|e| panic!("could not restart cluster node {port}: {e}"));
    }

    /// The process ids of the running nodes.
    pub fn pids(&self) -> Vec<Option<u32>> {
        self.nodes.lock().unwrap().iter().map(RedisProcess::pid).collect()
    }

    fn index(&self, port: u16) -> usize {
        self.ports
            .iter()
            .position(|&p| p == port)
            .unwrap_or_else(|| panic!("{port} is not a node of this cluster"))
    }

    /// Waits until a node other than `down` reports all slots served by
    /// live primaries (`cluster_state:ok`), e.g. after a replica took over
    /// from a crashed primary. Panics after `timeout`.
    pub async fn wait_serving(&self, down: u16, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            for &port in self.ports.iter().filter(|&&p| p != down) {
                let ok = self
                    .info(port, "CLUSTER", &["INFO"])
                    .await
                    .is_ok_and(|info| info.lines().any(|l| l.trim() == "cluster_state:ok"));
                let primaries_up = self.nodes_seen_by(port).await.is_ok_and(|nodes| {
                    nodes
                        .iter()
                        .filter(|n| n.primary && !n.slots.is_empty())
                        .all(|n| n.port != down && n.trouble.is_empty())
                });
                if ok && primaries_up {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "no replica took over from {down} within {timeout:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Runs `CLUSTER FAILOVER` on the replica at `port` and waits until it
    /// reports itself primary (bounded). The rest of the cluster may still
    /// be catching up: follow with [`Self::wait_healthy`].
    pub async fn failover(&self, replica_port: u16) {
        self.manual_failover(replica_port)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let nodes = self.nodes_seen_by(replica_port).await.unwrap_or_default();
            if nodes.iter().any(|n| n.port == replica_port && n.primary) {
                return;
            }
            assert!(Instant::now() < deadline, "replica {replica_port} did not take over");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Cluster {
    /// Sends `CLUSTER FAILOVER` (the coordinated kind) to the replica at
    /// `port`, without waiting for it to take over.
    pub async fn manual_failover(&self, replica_port: u16) -> Result<(), String> {
        let reply: String = self.query(replica_port, "CLUSTER", &["FAILOVER"]).await?;
        if reply == "OK" {
            Ok(())
        } else {
            Err(format!("CLUSTER FAILOVER answered {reply}"))
        }
    }
}

/// `<id> <ip:port@cport[,hostname]> <flags> <primary|-> <ping> <pong> <epoch> <link> <slot>...`
pub(crate) fn parse_node_line(line: &str) -> Option<NodeInfo> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    if fields.len() < 8 {
        return None;
    }
    let address = fields[1].split(['@', ',']).next()?;
    let port: u16 = address.rsplit_once(':')?.1.parse().ok()?;
    let flags: Vec<&str> = fields[2].split(',').collect();
    let primary = flags.contains(&"master");
    let trouble = flags
        .iter()
        .filter(|f| !matches!(**f, "myself" | "master" | "slave" | "nofailover"))
        .map(|f| (*f).to_owned())
        .collect();
    let primary_id = (fields[3] != "-").then(|| fields[3].to_owned());
    let slots = fields[8..]
        .iter()
        .filter(|s| !s.starts_with('['))
        .filter_map(|s| match s.split_once('-') {
            Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
            None => s.parse().ok().map(|n| (n, n)),
        })
        .collect();
    let link_ok = fields[7] == "connected";
    let mut node = NodeInfo {
        id: fields[0].to_owned(),
        port,
        primary,
        primary_id,
        trouble,
        slots,
    };
    if !link_ok {
        node.trouble.push(format!("link {}", fields[7]));
    }
    Some(node)
}

/// `errorstat_<CODE>:count=<n>` lines.
pub fn parse_errorstats(info: &str) -> Vec<(String, u64)> {
    info.lines()
        .filter_map(|line| {
            let rest = line.trim().strip_prefix("errorstat_")?;
            let (code, fields) = rest.split_once(':')?;
            let count = fields.split(',').find_map(|f| f.strip_prefix("count="))?.parse().ok()?;
            Some((code.to_owned(), count))
        })
        .collect()
}

/// `cmdstat_<name>:calls=..,failed_calls=..,rejected_calls=..` lines.
fn parse_command_stats(info: &str) -> Vec<(String, (u64, u64, u64))> {
    info.lines()
        .filter_map(|line| {
            let rest = line.trim().strip_prefix("cmdstat_")?;
            let (name, fields) = rest.split_once(':')?;
            let field = |key: &str| -> u64 {
                fields
                    .split(',')
                    .find_map(|f| f.strip_prefix(key))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0)
            };
            Some((
                name.to_ascii_lowercase(),
                (field("calls="), field("failed_calls="), field("rejected_calls=")),
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cluster_nodes() {
        let line = "07c37dfeb235213a872192d90877d0cd55635b91 127.0.0.1:30004@40004,host slave e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 0 1426238317239 4 connected";
        let node = parse_node_line(line).unwrap();
        assert_eq!(node.port, 30004);
        assert!(!node.primary);
        assert_eq!(node.trouble, Vec::<String>::new());
        assert_eq!(
            node.primary_id.as_deref(),
            Some("e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca")
        );
        let line = "e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 127.0.0.1:30001@40001 myself,master - 0 0 1 connected 0-5460 6000 [5461->-abc]";
        let node = parse_node_line(line).unwrap();
        assert!(node.primary);
        assert_eq!(node.slots, vec![(0, 5460), (6000, 6000)]);
        let line = "e7d1 127.0.0.1:30002@40002 master,fail? - 0 0 1 disconnected";
        assert_eq!(
            parse_node_line(line).unwrap().trouble,
            vec!["fail?".to_owned(), "link disconnected".to_owned()]
        );
    }

    #[test]
    fn parses_errorstats() {
        let info = "# Errorstats\r\nerrorstat_ERR:count=3\r\nerrorstat_NOSCRIPT:count=2\r\n";
        assert_eq!(
            parse_errorstats(info),
            vec![("ERR".to_owned(), 3), ("NOSCRIPT".to_owned(), 2)]
        );
    }
}
