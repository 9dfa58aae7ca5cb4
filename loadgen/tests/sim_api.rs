//! The in-process simulator API that warmgate's tests, demo and the honesty benchmark call.

mod sim_support;

use std::net::SocketAddr;
use std::time::Duration;

use loadgen::sim::{Profile, Sim, SimOptions, Tuning};
use sim_support::{client, truth, Conn};
use tokio_util::sync::CancellationToken;

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

#[tokio::test]
async fn bind_serve_and_cancel() {
    let options = SimOptions {
        profile: Profile::Jit,
        seed: 1,
        speed: 10.0,
    };
    let tuning = Tuning {
        base_ms: 2.0,
        sigma: 0.0,
        error_rate: 0.0,
    };
    let sim = Sim::bind(loopback(), options)
        .await
        .expect("bind")
        .with_tuning(tuning)
        .expect("tuning in range");
    let addr = sim.local_addr().expect("addr");
    assert_eq!(sim.curve().jit_requests, 200.0);
    assert_eq!(sim.steady_percentiles(), (2.0, 2.0));
    let cancel = CancellationToken::new();
    let server = tokio::spawn(sim.serve(cancel.clone()));
    let base = format!("http://{addr}");

    let a = tokio::task::spawn_blocking({
        let base = base.clone();
        move || Conn::open(&base).get("/api")
    })
    .await
    .expect("client");
    assert_eq!((a.status, a.n), (200, 0));
    assert!(
        a.ms >= 2.0 * 31.0 * 0.95,
        "first jit answer after {} ms",
        a.ms
    );
    let t = truth(&client(), &base).await;
    assert_eq!(t["paths"]["/api"]["served"], 1);
    assert_eq!(t["settle_after"]["requests"], 1280);

    cancel.cancel();
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("serve returns after cancel")
        .expect("task")
        .expect("serve ok");
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "listener closed after cancel"
    );
}

#[tokio::test]
async fn bad_options_are_errors_not_panics() {
    let options = SimOptions {
        speed: 0.0,
        ..SimOptions::default()
    };
    assert!(Sim::bind(loopback(), options).await.is_err());
    let sim = Sim::bind(loopback(), SimOptions::default())
        .await
        .expect("bind");
    let bad = Tuning {
        sigma: -1.0,
        ..Tuning::default()
    };
    assert!(sim.with_tuning(bad).is_err());
    assert!("nope".parse::<Profile>().is_err());
    assert_eq!("stall".parse::<Profile>(), Ok(Profile::Stall));
}
