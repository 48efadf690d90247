//! `make cluster-demo`: the cluster of `tests/cluster.rs` (Redis, dnsmasq, three origins, two
//! gateways, HAProxy in front with PROXY protocol v2), left running for a person to try;
//! Ctrl-C stops everything.

use gateway_tests::cluster::Cluster;

fn main() {
    println!("Building the gateway and starting the cluster ...");
    let cluster = Cluster::start();
    println!("{}", cluster.describe());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let _ = runtime.block_on(tokio::signal::ctrl_c());
    println!("\nStopping the cluster ...");
    drop(cluster);
}
