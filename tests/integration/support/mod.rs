//! What the integration tests share: private Redis servers (single, cluster, TLS), the fixture
//! Laravel app, PHP, the example backends, payload builders and the probe job.
#![allow(dead_code)] // not every test module uses every helper

pub mod bins;
pub mod laravel;
pub mod lines;
pub mod php;
pub mod ports;
pub mod probe;
pub mod rabbitmq;
pub mod redis_cluster;
pub mod redis_server;
pub mod rng;
pub mod some_job;
pub mod tls;
pub mod wait;

// The names the support files use for each other.
pub use self::php as php_support;
pub use self::redis_server as redis_support;
