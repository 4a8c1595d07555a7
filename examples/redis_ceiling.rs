//! What one Redis allows for the queue's reserve + delete, without any worker around it.
//!
//! Copies the payloads of a source list (e.g. 20,000 jobs Laravel dispatched) into a scratch queue
//! and drains it as fast as the server answers, with `--clients` concurrent requests on one
//! multiplexed connection (the client pipelines them), for each way of reserving:
//!
//! * `raw`: `LPOP` + `ZADD :reserved` + `ZREM :reserved` (the commands alone, no script);
//! * `laravel-pop`: a script doing what Laravel's pop script does (LPOP, cjson decode,
//!   attempts + 1, cjson encode, ZADD, LPOP notify), then `ZREM` of the reserved bytes;
//! * `larq-reserve`: larq's reserve (attempt counted in place), then `ZREM`;
//! * `larq-reserve-many`: larq's reserve of `--batch` jobs per call, then their `ZREM`s;
//! * `larq-delete-and-reserve`: what `larq work` sends: one script call deletes the batch the
//!   previous call reserved and reserves the next `--batch` jobs.
//!
//! ```text
//! cargo run --release --example redis_ceiling -- --port 6390 --source bench:payloads
//! ```
//! Prints `op=… jobs=… secs=… jobs_per_s=…` per way.

use std::sync::Arc;
use std::time::Instant;

use larq::queue::{RedisQueue, RedisQueueOptions, ReservedJob};
use redis::aio::MultiplexedConnection;
use redis::Script;

const PREFIX: &str = "ceiling_";
const QUEUE: &str = "default";

/// Laravel's pop, re-stated: the job is popped, decoded, counted, re-encoded and reserved.
const CJSON_POP: &str = r"local job = redis.call('lpop', KEYS[1])
if not job then return {false, false} end
local decoded = cjson.decode(job)
decoded['attempts'] = decoded['attempts'] + 1
local reserved = cjson.encode(decoded)
redis.call('zadd', KEYS[2], ARGV[1], reserved)
redis.call('lpop', KEYS[3])
return {job, reserved}";

struct Args {
    port: u16,
    source: String,
    clients: usize,
    batch: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        port: 6379,
        source: "bench:payloads".to_owned(),
        clients: 32,
        batch: 16,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        let bad = |_| format!("bad value for {flag}: {value}");
        match flag.as_str() {
            "--port" => args.port = value.parse().map_err(bad)?,
            "--source" => args.source = value,
            "--clients" => args.clients = value.parse().map_err(bad)?,
            "--batch" => args.batch = value.parse().map_err(bad)?,
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    Ok(args)
}

fn keys() -> (String, String, String) {
    let ready = format!("{PREFIX}queues:{QUEUE}");
    (
        ready.clone(),
        format!("{ready}:reserved"),
        format!("{ready}:notify"),
    )
}

/// Fill the scratch queue from the source list (one notify token per job); returns the count.
async fn fill(conn: &mut MultiplexedConnection, source: &str) -> redis::RedisResult<usize> {
    let (ready, reserved, notify) = keys();
    redis::cmd("DEL")
        .arg(&ready)
        .arg(&reserved)
        .arg(&notify)
        .exec_async(conn)
        .await?;
    redis::cmd("COPY")
        .arg(source)
        .arg(&ready)
        .exec_async(conn)
        .await?;
    let n: usize = redis::cmd("LLEN").arg(&ready).query_async(conn).await?;
    let ones = vec![1; n];
    for chunk in ones.chunks(1000) {
        redis::cmd("RPUSH")
            .arg(&notify)
            .arg(chunk)
            .exec_async(conn)
            .await?;
    }
    Ok(n)
}

async fn one_raw(conn: &mut MultiplexedConnection) -> redis::RedisResult<usize> {
    let (ready, reserved, _) = keys();
    let job: Option<Vec<u8>> = redis::cmd("LPOP").arg(&ready).query_async(conn).await?;
    let Some(job) = job else { return Ok(0) };
    redis::cmd("ZADD")
        .arg(&reserved)
        .arg(0)
        .arg(&job)
        .exec_async(conn)
        .await?;
    redis::cmd("ZREM")
        .arg(&reserved)
        .arg(&job)
        .exec_async(conn)
        .await?;
    Ok(1)
}

async fn one_cjson(conn: &mut MultiplexedConnection, script: &Script) -> redis::RedisResult<usize> {
    let (ready, reserved, notify) = keys();
    let (job, res): (Option<Vec<u8>>, Option<Vec<u8>>) = script
        .key(&ready)
        .key(&reserved)
        .key(&notify)
        .arg(larq::queue::now() + 90)
        .invoke_async(conn)
        .await?;
    match (job, res) {
        (Some(_), Some(res)) => {
            redis::cmd("ZREM")
                .arg(&reserved)
                .arg(&res)
                .exec_async(conn)
                .await?;
            Ok(1)
        }
        _ => Ok(0),
    }
}

async fn one_larq(
    queue: &RedisQueue,
    conn: &mut MultiplexedConnection,
    batch: usize,
) -> Result<usize, String> {
    let jobs: Vec<ReservedJob> = queue
        .reserve_many(QUEUE, batch)
        .await
        .map_err(|e| e.to_string())?;
    if jobs.is_empty() {
        return Ok(0);
    }
    let (_, reserved, _) = keys();
    let mut pipe = redis::pipe();
    for job in &jobs {
        pipe.cmd("ZREM").arg(&reserved).arg(&job.reserved).ignore();
    }
    pipe.exec_async(conn).await.map_err(|e| e.to_string())?;
    Ok(jobs.len())
}

/// The worker's own way: one script call deletes the jobs reserved by the previous call and
/// reserves the next batch; a last call deletes the final batch. Returns the jobs drained.
async fn drain_larq_combined(queue: &RedisQueue, batch: usize) -> Result<usize, String> {
    let mut done = 0usize;
    let mut held: Vec<ReservedJob> = Vec::new();
    loop {
        let finished: Vec<&[u8]> = held.iter().map(|j| j.reserved.as_slice()).collect();
        let (_, next) = queue
            .delete_and_reserve(QUEUE, &finished, batch)
            .await
            .map_err(|e| e.to_string())?;
        if next.is_empty() {
            return Ok(done);
        }
        done += next.len();
        held = next;
    }
}

async fn run(args: Args) -> Result<(), String> {
    let url = format!("redis://127.0.0.1:{}/0", args.port);
    let client = redis::Client::open(url.as_str()).map_err(|e| e.to_string())?;
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .map_err(|e| e.to_string())?;
    let queue = Arc::new(
        RedisQueue::connect(
            &url,
            RedisQueueOptions {
                prefix: PREFIX.to_owned(),
                ..RedisQueueOptions::default()
            },
        )
        .await
        .map_err(|e| e.to_string())?,
    );
    let cjson = Arc::new(Script::new(CJSON_POP));
    for op in [
        "raw",
        "laravel-pop",
        "larq-reserve",
        "larq-reserve-many",
        "larq-delete-and-reserve",
    ] {
        let n = fill(&mut conn, &args.source)
            .await
            .map_err(|e| e.to_string())?;
        let started = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..args.clients {
            let mut conn = conn.clone();
            let queue = Arc::clone(&queue);
            let cjson = Arc::clone(&cjson);
            let batch = if op.starts_with("larq-") && op != "larq-reserve" {
                args.batch
            } else {
                1
            };
            tasks.spawn(async move {
                if op == "larq-delete-and-reserve" {
                    return drain_larq_combined(&queue, batch).await;
                }
                let mut done = 0usize;
                loop {
                    let got = match op {
                        "raw" => one_raw(&mut conn).await.map_err(|e| e.to_string())?,
                        "laravel-pop" => one_cjson(&mut conn, &cjson)
                            .await
                            .map_err(|e| e.to_string())?,
                        _ => one_larq(&queue, &mut conn, batch).await?,
                    };
                    if got == 0 {
                        return Ok::<usize, String>(done);
                    }
                    done += got;
                }
            });
        }
        let mut total = 0;
        while let Some(r) = tasks.join_next().await {
            total += r.map_err(|e| e.to_string())??;
        }
        let secs = started.elapsed().as_secs_f64();
        if total != n {
            return Err(format!("{op}: drained {total} of {n}"));
        }
        println!(
            "op={op} jobs={total} secs={secs:.3} jobs_per_s={:.0}",
            total as f64 / secs
        );
    }
    let (ready, reserved, notify) = keys();
    redis::cmd("DEL")
        .arg(ready)
        .arg(reserved)
        .arg(notify)
        .exec_async(&mut conn)
        .await
        .map_err(|e| e.to_string())?;
    Ok(())
}

fn main() {
    let result = parse_args().and_then(|args| {
        let rt = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
        rt.block_on(run(args))
    });
    if let Err(e) = result {
        eprintln!("redis_ceiling: {e}");
        std::process::exit(1);
    }
}
