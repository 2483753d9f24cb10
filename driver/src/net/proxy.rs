//! A transparent TCP proxy of the driver's own (tokio), for the nemeses
//! iptables cannot do on this kernel (no `sch_netem`): latency and jitter,
//! a bandwidth cap, and cutting a connection after N bytes and again every
//! M. A `nat OUTPUT … REDIRECT` rule sends a node's connection to the
//! proxy; the proxy finds where it was going with `SO_ORIGINAL_DST` and
//! connects there itself, from the client's own address and with a firewall
//! mark the redirect rule skips. TLS passes through untouched, end to end,
//! so the nodes' certificate checks see their real peer.
//!
//! The proxy is on the path from the start (a redirect cannot move a
//! connection already made); `set_toxic` turns the nemesis on and off.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::socket::{getsockopt, setsockopt, sockopt};
use rand::Rng;
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::sys;

/// The firewall mark on the proxy's own connections, which its redirect
/// rules leave alone ("bf" in ASCII).
pub const MARK: u32 = 0x6266;

/// What the proxy does to the bytes while its nemesis is on.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Default)]
pub struct Toxic {
    /// Each chunk is held this long before it is passed on…
    pub latency: Duration,
    /// …give or take up to this much (uniformly), never reordering bytes.
    pub jitter: Duration,
    /// At most this many bytes per second, each direction of each connection.
    pub bandwidth: Option<u64>,
    /// Reset the connection carrying byte N of the link, then every M more.
    pub cut: Option<Cut>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Cut {
    pub after: u64,
    pub every: Option<u64>,
}

/// What passed through the proxy, for the report.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Stats {
    /// Connections accepted.
    pub connections: u64,
    /// Bytes passed on, both directions, all connections.
    pub bytes: u64,
    /// Bytes passed on while the nemesis was on.
    pub bytes_toxic: u64,
    /// Connections reset by `cut`, and the link's byte count at each cut.
    pub cuts: Vec<u64>,
    /// Connections the proxy could not open to their destination.
    pub failed: u64,
}

struct State {
    toxic: Option<Toxic>,
    /// The toxic acts only on connections between these two addresses
    /// (either way); `None`: on every connection through the proxy.
    ends: Option<[Ipv4Addr; 2]>,
    stats: Stats,
    /// The link's byte count at which the next cut falls, counted from when
    /// the toxic was turned on.
    next_cut: Option<u64>,
}

/// A running proxy; dropping it (or `stop`) closes every connection through it.
pub struct Proxy {
    port: u16,
    state: Arc<Mutex<State>>,
    tasks: JoinSet<()>,
}

impl Proxy {
    /// Listens on 127.0.0.1 (where `REDIRECT` in `nat OUTPUT` sends local
    /// connections) on a free port, passing bytes through untouched until
    /// `set_toxic`.
    pub async fn start() -> io::Result<Proxy> {
        let listener = TcpListener::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0)).await?;
        let port = listener.local_addr()?.port();
        let state = Arc::new(Mutex::new(State { toxic: None, ends: None, stats: Stats::default(), next_cut: None }));
        let mut tasks = JoinSet::new();
        let shared = state.clone();
        tasks.spawn(async move {
            let mut conns = JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok((client, _)) => {
                            lock(&shared).stats.connections += 1;
                            conns.spawn(relay(client, shared.clone()));
                        }
                        Err(e) => tracing::debug!("proxy accept failed: {e}"),
                    },
                    Some(_) = conns.join_next(), if !conns.is_empty() => {}
                }
            }
        });
        Ok(Proxy { port, state, tasks })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Turns the nemesis on (`Some`) or off (`None`: bytes pass untouched;
    /// a cut's count starts again at the next `Some`).
    pub fn set_toxic(&self, toxic: Option<Toxic>) {
        let mut s = lock(&self.state);
        s.next_cut = toxic.and_then(|t| t.cut).map(|c| s.stats.bytes_toxic + c.after);
        s.toxic = toxic;
    }

    /// Limits the toxic to connections between `ends` (either way).
    pub fn set_ends(&self, ends: Option<[Ipv4Addr; 2]>) {
        lock(&self.state).ends = ends;
    }

    pub fn stats(&self) -> Stats {
        lock(&self.state).stats.clone()
    }

    /// Closes the listener and every connection through it.
    pub async fn stop(mut self) {
        self.tasks.shutdown().await;
    }
}

fn lock(m: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Why a direction of a connection ended.
enum End {
    /// Its reader saw end of file (or an error): the other direction goes on.
    Eof,
    /// A cut: the whole connection is reset.
    Cut,
}

/// One connection: to where it was going, from the client's own address.
async fn relay(client: TcpStream, state: Arc<Mutex<State>>) {
    let upstream = match connect_onward(&client).await {
        Ok((u, pair)) => {
            let ends = lock(&state).ends;
            if ends.is_some_and(|[x, y]| pair != [x, y] && pair != [y, x]) {
                // Not the link's: passed on untouched, uncounted.
                let _ = client.set_nodelay(true);
                let _ = u.set_nodelay(true);
                let (mut client, mut u) = (client, u);
                let _ = tokio::io::copy_bidirectional(&mut client, &mut u).await;
                return;
            }
            u
        }
        Err(e) => {
            tracing::debug!("proxy could not open the onward connection: {e}");
            lock(&state).stats.failed += 1;
            return;
        }
    };
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let (mut cr, mut cw) = client.into_split();
    let (mut ur, mut uw) = upstream.into_split();
    let flag = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut cut = false;
    {
        let there = direction(&mut cr, &mut uw, state.clone(), flag.clone());
        let back = direction(&mut ur, &mut cw, state, flag);
        let (mut there, mut back) = (std::pin::pin!(there), std::pin::pin!(back));
        let (mut there_done, mut back_done) = (false, false);
        // An end of file ends its own direction only; a cut ends both.
        while !(there_done && back_done) && !cut {
            tokio::select! {
                end = &mut there, if !there_done => { there_done = true; cut = matches!(end, End::Cut); }
                end = &mut back, if !back_done => { back_done = true; cut = matches!(end, End::Cut); }
            }
        }
    }
    if cut {
        // Closed with SO_LINGER 0 and no shutdown first: each side gets a reset, not an end of file.
        reset_on_close(cr.as_ref());
        reset_on_close(ur.as_ref());
        cw.forget();
        uw.forget();
    }
}

/// The connection onward, and the pair of addresses (client, destination) it joins.
async fn connect_onward(client: &TcpStream) -> io::Result<(TcpStream, [Ipv4Addr; 2])> {
    let dst = getsockopt(client, sockopt::OriginalDst).map_err(io::Error::from)?;
    let dst = SocketAddrV4::new(Ipv4Addr::from(u32::from_be(dst.sin_addr.s_addr)), u16::from_be(dst.sin_port));
    let SocketAddr::V4(from) = client.peer_addr()? else {
        return Err(io::Error::other("an IPv6 client"));
    };
    let sock = TcpSocket::new_v4()?;
    setsockopt(&sock, sockopt::Mark, &MARK).map_err(io::Error::from)?;
    sock.bind(SocketAddr::V4(SocketAddrV4::new(*from.ip(), 0)))?;
    Ok((sock.connect(SocketAddr::V4(dst)).await?, [*from.ip(), *dst.ip()]))
}

/// One direction: a reader that counts and cuts, and a writer that delays
/// and paces, joined by a bounded queue (so a slow writer slows the reader).
async fn direction(
    from: &mut OwnedReadHalf,
    to: &mut OwnedWriteHalf,
    state: Arc<Mutex<State>>,
    cut: Arc<std::sync::atomic::AtomicBool>,
) -> End {
    use std::sync::atomic::Ordering;
    let (tx, mut rx) = mpsc::channel::<(Instant, Vec<u8>, bool)>(64);
    let writer_state = state_bandwidth(&state);
    let reader = async move {
        let mut buf = vec![0u8; 64 * 1024];
        let mut last_release = Instant::now();
        loop {
            let n = match from.read(&mut buf).await {
                Ok(0) | Err(_) => return End::Eof,
                Ok(n) => n,
            };
            let (allowed, cutting, delay) = {
                let mut s = lock(&state);
                if cut.load(Ordering::SeqCst) {
                    return End::Cut;
                }
                let toxic = s.toxic;
                let mut allowed = n as u64;
                let mut cutting = false;
                if toxic.is_some() {
                    if let Some(at) = s.next_cut {
                        let left = at.saturating_sub(s.stats.bytes_toxic);
                        if left <= allowed {
                            allowed = left;
                            cutting = true;
                        }
                    }
                    s.stats.bytes_toxic += allowed;
                }
                s.stats.bytes += allowed;
                if cutting {
                    let at = s.stats.bytes_toxic;
                    s.stats.cuts.push(at);
                    let every = toxic.and_then(|t| t.cut).and_then(|c| c.every);
                    s.next_cut = every.map(|m| at + m);
                    cut.store(true, Ordering::SeqCst);
                }
                (allowed as usize, cutting, toxic.map(|t| delay_of(&t)).unwrap_or_default())
            };
            // Bytes keep their order: a chunk never leaves before the one ahead.
            let release = (Instant::now() + delay).max(last_release);
            last_release = release;
            if tx.send((release, buf[..allowed].to_vec(), cutting)).await.is_err() || cutting {
                return if cutting { End::Cut } else { End::Eof };
            }
        }
    };
    let writer = async move {
        // When the link is free again under a bandwidth cap.
        let mut next_free = Instant::now();
        while let Some((release, chunk, cutting)) = rx.recv().await {
            tokio::time::sleep_until(release).await;
            match writer_state() {
                // Paced in pieces of 1/20 s each, so the cap holds at any scale.
                Some(rate) => {
                    for piece in chunk.chunks((rate as usize / 20).max(1)) {
                        tokio::time::sleep_until(next_free).await;
                        if to.write_all(piece).await.is_err() {
                            return End::Eof;
                        }
                        next_free = next_free.max(Instant::now()) + Duration::from_secs_f64(piece.len() as f64 / rate as f64);
                    }
                }
                None => {
                    if to.write_all(&chunk).await.is_err() {
                        return End::Eof;
                    }
                }
            }
            if cutting {
                // Exactly the bytes before the cut reach the peer: wait (a
                // little) until it has acknowledged them, then reset.
                let bound = Instant::now() + Duration::from_secs(2);
                while sys::unacked_bytes(to.as_ref()).unwrap_or(0) > 0 && Instant::now() < bound {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                return End::Cut;
            }
        }
        let _ = to.shutdown().await;
        End::Eof
    };
    let (r, w) = tokio::join!(reader, writer);
    if matches!(r, End::Cut) || matches!(w, End::Cut) {
        tracing::debug!("proxy cut a connection");
        return End::Cut;
    }
    End::Eof
}

/// The bandwidth cap in force when a chunk is written (it can be turned
/// off while a connection is open).
fn state_bandwidth(state: &Arc<Mutex<State>>) -> impl Fn() -> Option<u64> {
    let state = state.clone();
    move || lock(&state).toxic.and_then(|t| t.bandwidth)
}

fn delay_of(t: &Toxic) -> Duration {
    if t.jitter.is_zero() {
        return t.latency;
    }
    let j = t.jitter.as_secs_f64();
    let d = t.latency.as_secs_f64() + rand::thread_rng().gen_range(-j..=j);
    Duration::from_secs_f64(d.max(0.0))
}

/// Closing this socket now sends a reset instead of a FIN.
fn reset_on_close(s: &TcpStream) {
    let _ = setsockopt(s, sockopt::Linger, &nix::libc::linger { l_onoff: 1, l_linger: 0 });
}
