//! larq's dispatch throughput to RabbitMQ: publishes N `App\Jobs\SomeJob` jobs through the
//! library's [`Dispatcher`] on the app's `rabbitmq` connection (a `RabbitMqQueue`), each
//! confirmed by the broker (publisher confirms: a dispatch returns once RabbitMQ has the message),
//! with K dispatches in flight at once on the one connection. `bench/e2e_rabbitmq.sh` runs it.
//!
//! ```text
//! RABBITMQ_VHOST=bench cargo run --release --example rabbitmq_publish -- --n 20000 --inflight 1
//! ```
//!
//! The connection comes from the environment as for `larq dispatch` (`RABBITMQ_HOST`, `PORT`,
//! `USER`, `PASSWORD`, `VHOST`, `QUEUE`, `LARQ_LARAVEL_VERSION`; optionally `--env FILE`). The jobs are the payloads
//! `php artisan larq:dispatch SomeJob N --user-id=1 --increment --param=bench` writes (userId
//! 1..=N, someParam "bench"). After the last confirm the queue's ready count must have grown by
//! N; with `--clear` the queue is purged afterwards. Prints one line:
//! `inflight=K jobs=N secs=S jobs_per_s=R` (connect and the queue check before the first
//! publish are not timed).
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use larq::app::QueueOverrides;
use larq::dispatch::{Dispatcher, PendingJob};
use larq::App;

struct Args {
    n: i64,
    inflight: usize,
    env: Option<PathBuf>,
    clear: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        n: 20_000,
        inflight: 1,
        env: None,
        clear: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "--n" => args.n = value("--n")?.parse().map_err(|e| format!("--n: {e}"))?,
            "--inflight" => {
                args.inflight = value("--inflight")?
                    .parse()
                    .map_err(|e| format!("--inflight: {e}"))?
            }
            "--env" => args.env = Some(PathBuf::from(value("--env")?)),
            "--clear" => args.clear = true,
            other => {
                return Err(format!(
                    "unknown argument {other}; usage: rabbitmq_publish [--n N] [--inflight K] [--env FILE] [--clear]"
                ))
            }
        }
    }
    if args.inflight == 0 || args.n < 0 {
        return Err("--inflight must be at least 1 and --n not negative".to_owned());
    }
    Ok(args)
}

async fn run(args: Args) -> Result<(), String> {
    // LARQ_LARAVEL_VERSION as for the worker (the fixture app is Laravel 8, which larq cannot
    // detect there); the payload shape is the same from 8 to 12.
    let given = std::env::var("LARQ_LARAVEL_VERSION")
        .ok()
        .and_then(|v| v.parse().ok());
    let laravel = larq::laravel::resolve(given, args.env.as_deref());
    let app = App::load(args.env.as_deref(), laravel).map_err(|e| e.to_string())?;
    let queue = app
        .queue("rabbitmq", &QueueOverrides::default())
        .await
        .map_err(|e| format!("cannot connect to RabbitMQ: {e}"))?;
    let queue = Arc::new(queue);
    let name = app.default_queue("rabbitmq").to_owned();
    let dispatcher = Arc::new(
        Dispatcher::for_queue(Arc::clone(&queue), name.clone())
            .with_laravel_version(app.laravel_version()),
    );
    let job = |user_id: i64| {
        PendingJob::with_class(
            "App\\Jobs\\SomeJob",
            &serde_json::json!({"userId": user_id, "someParam": "bench"}),
        )
        .map_err(|e| e.to_string())
    };
    // Untimed: the connection, the queue's check/declare (the first publish does it once) and
    // the count the queue starts from.
    let before = queue.size(&name).await.map_err(|e| e.to_string())?;

    let next = Arc::new(AtomicI64::new(1));
    let t0 = Instant::now();
    let mut tasks = Vec::with_capacity(args.inflight);
    for _ in 0..args.inflight {
        let dispatcher = Arc::clone(&dispatcher);
        let next = Arc::clone(&next);
        let n = args.n;
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i > n {
                    return Ok::<(), String>(());
                }
                dispatcher
                    .dispatch(job(i)?)
                    .await
                    .map_err(|e| format!("dispatch {i}: {e}"))?;
            }
        }));
    }
    for t in tasks {
        t.await.map_err(|e| e.to_string())??;
    }
    let secs = t0.elapsed().as_secs_f64();

    let after = queue.size(&name).await.map_err(|e| e.to_string())?;
    let added = after.saturating_sub(before);
    if added != args.n as u64 {
        return Err(format!(
            "the queue {name} holds {after} ready messages, {before} before: {added} added, not {}",
            args.n
        ));
    }
    if args.clear {
        queue.clear(&name).await.map_err(|e| e.to_string())?;
    }
    println!(
        "inflight={} jobs={} secs={:.3} jobs_per_s={:.0}",
        args.inflight,
        args.n,
        secs,
        args.n as f64 / secs
    );
    Ok(())
}

fn main() -> std::process::ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return std::process::ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            std::process::ExitCode::FAILURE
        }
    }
}
