//! An in-process server on 127.0.0.1:0 with a temporary data directory, and a client for it.

use std::path::Path;

use lockgate::client::{Client, ClientOptions};
use lockgate::config::Config;
use lockgate::server::Running;

pub fn test_config(dir: &Path) -> Config {
    let mut c = Config::default();
    c.server.listen = "127.0.0.1:0".parse().unwrap();
    c.server.data_dir = dir.to_path_buf();
    c.storage.segment_size = 8 << 20;
    c
}

pub async fn start(config: &Config) -> Running {
    Running::start(config).await.expect("server starts")
}

pub fn client_options(running: &Running, dir: &Path) -> ClientOptions {
    ClientOptions {
        server: running.local_addr(),
        server_name: "localhost".into(),
        ca: dir.join("tls/ca.pem"),
        client_cert: None,
    }
}

pub async fn connect(running: &Running, dir: &Path) -> Client {
    Client::connect(&client_options(running, dir))
        .await
        .expect("client connects")
}
