//! A profiling aid, not part of the default run: `BENCH_SECTIONS=profile`
//! runs one operation `BENCH_PROFILE_OPS` times back to back on a
//! current-thread runtime, so that two runs with different counts under
//! `valgrind --tool=callgrind` (instructions) or `--tool=dhat` (heap
//! blocks) give the cost of one operation by difference:
//!
//! ```sh
//! cargo build --release -p tokengate-bench
//! for n in 2000 4000; do
//!   BENCH_SECTIONS=profile BENCH_PROFILE_OP=auth BENCH_PROFILE_OPS=$n \
//!     valgrind --tool=dhat --dhat-out-file=/dev/null target/release/tokengate-bench 2>&1 | grep 'Total:'
//! done
//! ```
//!
//! Operations (`BENCH_PROFILE_OP`): `auth` (`Gate::authenticate` of one
//! valid credential), `floor` (one raw `HGET` of that session record on a
//! redis-rs `ConnectionManager`), `exchange` (`create_token` +
//! `create_session` for a fresh user).

use redis::aio::ConnectionManager;
use redis::AsyncCommands;
use tokengate::{ClientInfo, ServerSecret, TokenOptions};

use crate::scenarios::{gate, session_location, user_id};
use tokengate_tests::redis_harness::PrivateRedis;

/// Runs the profiling loop; prints what it did and Redis's `INFO commandstats`.
pub fn run(redis: &PrivateRedis, op: &str, count: u64) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let secret = ServerSecret::random();
    runtime.block_on(async {
        let gate = gate(redis.url(), &secret).await?;
        let (_, credential) = gate
            .create_server_session(&user_id('p', 0, 0), ClientInfo::default())
            .await
            .map_err(|e| e.to_string())?;
        let credential = credential.expose().to_owned();
        let at = session_location(&secret, &credential).ok_or("undecodable credential")?;
        let client = redis::Client::open(redis.url()).map_err(|e| e.to_string())?;
        let mut conn = ConnectionManager::new(client).await.map_err(|e| e.to_string())?;
        // One of each first, so that connections and scripts are warm.
        let _ = gate.authenticate(&credential).await;
        let _: Option<Vec<u8>> = conn.hget(&at.key, &at.field).await.map_err(|e| e.to_string())?;
        let mut ok = 0u64;
        for i in 0..count {
            let done = match op {
                "auth" => matches!(gate.authenticate(&credential).await, Ok(Some(_))),
                "floor" => matches!(
                    conn.hget::<_, _, Option<Vec<u8>>>(&at.key, &at.field).await,
                    Ok(Some(_))
                ),
                "exchange" => {
                    let user = user_id('q', 0, i);
                    match gate.create_token(&user, TokenOptions::default()).await {
                        Ok(token) => match token.secret {
                            Some(secret) => gate
                                .create_session(&user, secret.expose(), ClientInfo::default())
                                .await
                                .is_ok(),
                            None => false,
                        },
                        Err(_) => false,
                    }
                }
                other => return Err(format!("BENCH_PROFILE_OP: unknown operation {other:?}")),
            };
            ok += u64::from(done);
        }
        eprintln!("profile: {ok}/{count} {op} operations succeeded");
        Ok::<_, String>(())
    })?;
    // Where Redis spent its time (commands called by scripts included).
    let mut admin = redis.blocking_connection().map_err(|e| e.to_string())?;
    let stats: String = redis::cmd("INFO")
        .arg("commandstats")
        .query(&mut admin)
        .map_err(|e| e.to_string())?;
    eprintln!("{}", stats.trim());
    Ok(())
}
