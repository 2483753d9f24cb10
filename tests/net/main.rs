//! The network nemeses' primitives, without Harper: each test makes a
//! network namespace of its own (on a thread of its own), and checks that a
//! partition turns a TCP connect between two loopback addresses into a
//! timeout and its heal turns it back, that the proxy cuts a stream after
//! exactly N bytes and again every M, adds the latency it is asked for and
//! caps bandwidth, and that the host's rules are never touched.
//!
//! Needs root (or CAP_NET_ADMIN and CAP_SYS_ADMIN) and iptables, as `.ci/run`
//! provides; without them every test fails with the one line saying what is
//! missing. The driver's `net` module is compiled in here as it is in the
//! driver. `cluster` runs the network scenarios on a real Harper (under the
//! cluster lock); `refusals` gives them bad input.

mod cluster;
/// The cluster group's `assert_judge_reproduces` (blobfail judge on a run folder).
#[path = "../cluster/judge.rs"]
mod judge;
mod refusals;

/// The driver's `net` module without the parts that need the rest of the
/// driver (the run's session and command line).
#[allow(dead_code)]
#[path = "../../driver/src/net"]
mod net {
    pub mod nemesis;
    pub mod ns;
    pub mod proxy;
    pub mod rules;
    pub mod spec;
    mod sys;
}

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use net::nemesis::{Link, NodeAddr, Partition};
use net::ns::{self, PrivateNet};
use net::proxy::{Cut, Toxic};

const A: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
const B: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 3);
const PORT: u16 = 9933;

fn node(name: &str, ip: Ipv4Addr) -> NodeAddr {
    NodeAddr { name: name.into(), ip }
}

/// Runs `f` on a thread inside a fresh namespace, with a tokio runtime
/// made there (so every thread and socket of the test is inside).
fn in_namespace<T: Send + 'static>(f: impl FnOnce(&PrivateNet, &tokio::runtime::Runtime) -> T + Send + 'static) -> T {
    std::thread::spawn(move || {
        let net = ns::enter().unwrap_or_else(|e| panic!("the network tests need a private namespace: {e}"));
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        f(&net, &rt)
    })
    .join()
    .unwrap_or_else(|e| std::panic::resume_unwind(e))
}

/// The host's rules, every table the nemeses use, read outside any namespace of the tests.
fn host_rules() -> String {
    std::thread::spawn(|| {
        ["filter", "nat"]
            .iter()
            .map(|t| {
                let out = Command::new("iptables").args(["-w", "-t", t, "-S"]).output().expect("iptables runs");
                assert!(out.status.success(), "iptables -t {t} -S on the host: {}", String::from_utf8_lossy(&out.stderr));
                String::from_utf8_lossy(&out.stdout).into_owned()
            })
            .collect()
    })
    .join()
    .unwrap()
}

/// Connects from `from` to `to` within `bound` (std has no bind before
/// connect: a tokio socket does it, then hands over a blocking stream).
fn connect(from: Ipv4Addr, to: SocketAddrV4, bound: Duration) -> std::io::Result<TcpStream> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async {
        let sock = tokio::net::TcpSocket::new_v4()?;
        sock.bind(SocketAddr::V4(SocketAddrV4::new(from, 0)))?;
        let s = tokio::time::timeout(bound, sock.connect(SocketAddr::V4(to)))
            .await
            .map_err(|_| std::io::Error::new(ErrorKind::TimedOut, "connect timed out"))??;
        let s = s.into_std()?;
        s.set_nonblocking(false)?;
        Ok(s)
    })
}

fn rules_in(net: &PrivateNet, table: &str) -> Vec<String> {
    net::rules::list(net, table).unwrap().lines().filter(|l| l.starts_with("-A")).map(str::to_string).collect()
}

#[test]
fn a_partition_times_a_connect_out_and_its_heal_removes_exactly_its_rules() {
    let host_before = host_rules();
    in_namespace(|net, _| {
        assert_ne!(net.inode, net.host_inode);
        let listener = TcpListener::bind(SocketAddrV4::new(A, PORT)).unwrap();
        let to_a = SocketAddrV4::new(A, PORT);
        // A rule of the namespace that is not the nemesis's: the heal must leave it.
        Command::new(&net.iptables).args(["-w", "-A", "INPUT", "-s", "127.0.0.9", "-j", "ACCEPT"]).status().unwrap();
        let before = rules_in(net, "filter");
        connect(B, to_a, Duration::from_secs(2)).expect("B reaches A before the partition");
        listener.accept().unwrap();

        let mut p = Partition::new([vec![node("b", B)], vec![node("a", A)]]);
        let started = p.start(net).unwrap();
        assert_eq!(started, ["-t filter -A INPUT -s 127.0.0.3 -d 127.0.0.2 -j DROP", "-t filter -A INPUT -s 127.0.0.2 -d 127.0.0.3 -j DROP"]);
        assert_eq!(
            rules_in(net, "filter"),
            [
                "-A INPUT -s 127.0.0.9/32 -j ACCEPT",
                "-A INPUT -s 127.0.0.3/32 -d 127.0.0.2/32 -j DROP",
                "-A INPUT -s 127.0.0.2/32 -d 127.0.0.3/32 -j DROP"
            ]
        );
        let t = Instant::now();
        let e = connect(B, to_a, Duration::from_millis(1500)).expect_err("the partition stops B's connect");
        assert_eq!(e.kind(), ErrorKind::TimedOut, "{e}");
        assert!(t.elapsed() >= Duration::from_millis(1500));
        // The rest of loopback is untouched: 127.0.0.1 still reaches A.
        connect(Ipv4Addr::LOCALHOST, to_a, Duration::from_secs(2)).expect("127.0.0.1 still reaches A");

        let healed = p.heal(net).unwrap();
        assert_eq!(healed.removed, started);
        assert_eq!(rules_in(net, "filter"), before);
        assert!(!p.is_active());
        connect(B, to_a, Duration::from_secs(2)).expect("B reaches A after the heal");
    });
    assert_eq!(host_rules(), host_before, "the host's rules changed");
}

#[test]
fn rules_are_refused_from_a_thread_outside_the_namespace() {
    let net = in_namespace(|net, _| net.clone());
    // This thread never entered it: nothing may reach the host's rules.
    let mut p = Partition::new([vec![node("b", B)], vec![node("a", A)]]);
    let e = p.start(&net).unwrap_err();
    assert!(e.starts_with("refusing `iptables -w -t filter -S INPUT`: this thread is not inside the run's private network namespace"), "{e}");
    assert!(!p.is_active());
}

/// A server on A's port that sends `total` bytes to each client, and the
/// source address each client came from.
fn sender(total: usize) -> std::sync::mpsc::Receiver<SocketAddr> {
    let listener = TcpListener::bind(SocketAddrV4::new(A, PORT)).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            let _ = tx.send(conn.peer_addr().unwrap());
            std::thread::spawn(move || {
                let chunk = vec![7u8; 16 * 1024];
                let mut sent = 0;
                while sent < total {
                    let n = chunk.len().min(total - sent);
                    if conn.write_all(&chunk[..n]).is_err() {
                        return;
                    }
                    sent += n;
                }
            });
        }
    });
    rx
}

/// Reads until the end or an error: the bytes, and how it ended.
fn drain(s: &mut TcpStream) -> (usize, Option<ErrorKind>) {
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    let mut got = 0;
    loop {
        match s.read(&mut buf) {
            Ok(0) => return (got, None),
            Ok(n) => got += n,
            Err(e) => return (got, Some(e.kind())),
        }
    }
}

#[test]
fn the_proxy_cuts_a_stream_after_exactly_n_bytes_and_again_every_m() {
    in_namespace(|net, rt| {
        let peers = sender(1 << 20);
        let link = rt.block_on(Link::install(net, [node("b", B), node("a", A)], PORT)).unwrap();
        assert_eq!(rules_in(net, "nat").len(), 2);
        let to_a = SocketAddrV4::new(A, PORT);
        // Untouched while off: the whole stream passes, from B's own address.
        let mut s = connect(B, to_a, Duration::from_secs(2)).unwrap();
        assert_eq!(drain(&mut s), (1 << 20, None));
        assert_eq!(peers.recv().unwrap().ip(), std::net::IpAddr::V4(B), "A sees B's own address through the proxy");

        link.set_toxic(Some(Toxic { cut: Some(Cut { after: 10_000, every: Some(25_000) }), ..Toxic::default() }));
        let mut s = connect(B, to_a, Duration::from_secs(2)).unwrap();
        assert_eq!(drain(&mut s), (10_000, Some(ErrorKind::ConnectionReset)));
        let mut s = connect(B, to_a, Duration::from_secs(2)).unwrap();
        assert_eq!(drain(&mut s), (25_000, Some(ErrorKind::ConnectionReset)));
        let stats = link.stats();
        assert_eq!(stats.connections, 3);
        assert_eq!(stats.cuts, [10_000, 35_000]);
        assert_eq!(stats.bytes, (1 << 20) + 35_000);

        // Off again: untouched.
        link.set_toxic(None);
        let mut s = connect(B, to_a, Duration::from_secs(2)).unwrap();
        assert_eq!(drain(&mut s), (1 << 20, None));
        let healed = rt.block_on(link.remove(net)).unwrap();
        assert_eq!(healed.removed.len(), 2);
        assert!(rules_in(net, "nat").is_empty());
    });
}

/// Round trips of one byte through an echo server on A, from B.
fn round_trip(s: &mut TcpStream) -> Duration {
    let t = Instant::now();
    s.write_all(b"x").unwrap();
    let mut b = [0u8; 1];
    s.read_exact(&mut b).unwrap();
    t.elapsed()
}

#[test]
fn the_proxy_adds_latency_and_caps_bandwidth_while_on() {
    in_namespace(|net, rt| {
        let listener = TcpListener::bind(SocketAddrV4::new(A, PORT)).unwrap();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { return };
                std::thread::spawn(move || {
                    let mut buf = vec![0u8; 64 * 1024];
                    while let Ok(n) = conn.read(&mut buf) {
                        if n == 0 || conn.write_all(&buf[..n]).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        let link = rt.block_on(Link::install(net, [node("a", A), node("b", B)], PORT)).unwrap();
        let mut s = connect(B, SocketAddrV4::new(A, PORT), Duration::from_secs(2)).unwrap();
        s.set_nodelay(true).unwrap();
        let quick = round_trip(&mut s);
        assert!(quick < Duration::from_millis(50), "{quick:?} without the nemesis");

        link.set_toxic(Some(Toxic { latency: Duration::from_millis(100), ..Toxic::default() }));
        // Each direction is held 100 ms: a round trip takes at least 200 ms.
        let slow: Vec<Duration> = (0..3).map(|_| round_trip(&mut s)).collect();
        assert!(slow.iter().all(|d| *d >= Duration::from_millis(200) && *d < Duration::from_millis(1000)), "{slow:?}");

        link.set_toxic(Some(Toxic { bandwidth: Some(100 * 1024), ..Toxic::default() }));
        // 200 KiB at 100 KiB/s each way: at least about 2 s there and back.
        let t = Instant::now();
        let data = vec![1u8; 200 * 1024];
        let mut writer = s.try_clone().unwrap();
        let send = std::thread::spawn(move || writer.write_all(&data).unwrap());
        let mut back = vec![0u8; 200 * 1024];
        s.read_exact(&mut back).unwrap();
        send.join().unwrap();
        let took = t.elapsed();
        assert!(took >= Duration::from_millis(1800) && took < Duration::from_secs(10), "{took:?} for 200 KiB at 100 KiB/s");
        assert_eq!(back, vec![1u8; 200 * 1024]);

        link.set_toxic(None);
        let quick = round_trip(&mut s);
        assert!(quick < Duration::from_millis(50), "{quick:?} after the nemesis");
        rt.block_on(link.remove(net)).unwrap();
    });
}
