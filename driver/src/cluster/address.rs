//! Where nodes listen: reserving
//! loopback addresses whose ports are all free, each held by a lock file so
//! that concurrent blobfail runs never pick the same one.

use std::fs::{self, File, OpenOptions};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};

use crate::ports::port_numbers;

/// A loopback address whose node ports were free when probed, held by a lock
/// file so a concurrent blobfail run does not pick it too.
#[derive(Debug)]
pub struct ReservedAddress {
    pub ip: Ipv4Addr,
    _lock: nix::fcntl::Flock<File>,
}

fn lock_dir() -> Result<PathBuf> {
    // Per user: another user's lock folder would not be writable. Runs of
    // different users still never share an address, thanks to the port probe.
    let lock_dir = std::env::temp_dir().join(format!("blobfail-address-locks-{}", nix::unistd::getuid()));
    fs::create_dir_all(&lock_dir).with_context(|| format!("failed to create {}", lock_dir.display()))?;
    Ok(lock_dir)
}

/// Why an address could not be reserved.
enum Refused {
    /// Another blobfail run holds its lock file.
    Held(PathBuf),
    /// A node port on it would not bind.
    PortTaken(u16, std::io::Error),
    /// The lock file could not be opened.
    Lock(anyhow::Error),
}

/// The one lock-and-probe routine: takes `ip`'s lock file without waiting,
/// then binds every node port on it (and lets go of them at once).
fn try_reserve(dir: &std::path::Path, ip: Ipv4Addr) -> std::result::Result<ReservedAddress, Refused> {
    let path = dir.join(format!("{ip}.lock"));
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("failed to open the address lock {}", path.display()))
        .map_err(Refused::Lock)?;
    let lock = nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock).map_err(|_| Refused::Held(path))?;
    for port in port_numbers() {
        TcpListener::bind(SocketAddrV4::new(ip, port)).map_err(|e| Refused::PortTaken(port, e))?;
    }
    Ok(ReservedAddress { ip, _lock: lock })
}

/// Reserves exactly `ips` (from `--addresses`): each must be free of other
/// blobfail runs, and every node port on it must bind.
pub fn reserve_pinned(ips: &[Ipv4Addr]) -> Result<Vec<ReservedAddress>> {
    let dir = lock_dir()?;
    ips.iter()
        .map(|&ip| {
            try_reserve(&dir, ip).map_err(|r| match r {
                Refused::Held(path) => anyhow!(
                    "address {ip} is in use by another blobfail run (it holds {}): pass other --addresses, \
                     or leave --addresses out to let blobfail pick free ones",
                    path.display()
                ),
                Refused::PortTaken(port, e) => anyhow!(
                    "{ip}:{port} is already taken ({e}): stop what listens there, pass other --addresses, \
                     or leave --addresses out to let blobfail pick free ones"
                ),
                Refused::Lock(e) => e,
            })
        })
        .collect()
}

/// Picks `count` loopback addresses (127.0.0.2 and up) whose node ports all
/// bind right now and that no other blobfail run holds.
pub fn reserve_addresses(count: usize) -> Result<Vec<ReservedAddress>> {
    let dir = lock_dir()?;
    let mut picked = Vec::new();
    for n in 2u32..(1 << 16) {
        let ip = Ipv4Addr::from(0x7f00_0000u32 + n);
        if ip.octets()[3] == 0 || ip.octets()[3] == 255 {
            continue;
        }
        if let Ok(reserved) = try_reserve(&dir, ip) {
            picked.push(reserved);
            if picked.len() == count {
                return Ok(picked);
            }
        }
    }
    bail!("found no free loopback address with ports {:?} free in 127.0.0.0/16", port_numbers())
}

/// Whether anything accepts TCP connections on `ip:port`.
pub fn is_listening(ip: Ipv4Addr, port: u16) -> bool {
    TcpStream::connect_timeout(&SocketAddrV4::new(ip, port).into(), Duration::from_millis(300)).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::{OPS_PORT, PORTS, REPLICATION_PORT};

    #[test]
    fn an_address_held_by_another_run_or_with_a_busy_port_is_skipped() {
        let first = reserve_addresses(1).unwrap().pop().unwrap();
        // The lock: while `first` is held, nobody else gets its address.
        let second = reserve_addresses(1).unwrap().pop().unwrap();
        assert_ne!(first.ip, second.ip);
        // The probe: released but with a node port taken, it is skipped too.
        let ip = first.ip;
        drop(first);
        let _busy = TcpListener::bind(SocketAddrV4::new(ip, REPLICATION_PORT)).unwrap();
        let third = reserve_addresses(1).unwrap().pop().unwrap();
        assert_ne!(third.ip, ip);
        assert_ne!(third.ip, second.ip);
        assert!(is_listening(ip, REPLICATION_PORT));
        assert!(!is_listening(third.ip, OPS_PORT));
        // Pinned, the same address is refused with what to do.
        let e = reserve_pinned(&[ip]).unwrap_err().to_string();
        assert!(e.starts_with(&format!("{ip}:9933 is already taken (")), "{e}");
        let e = reserve_pinned(&[second.ip]).unwrap_err().to_string();
        assert!(e.starts_with(&format!("address {} is in use by another blobfail run", second.ip)), "{e}");
    }

    #[test]
    fn the_port_table_matches_the_install_flags_harper_knows() {
        assert_eq!(port_numbers(), [9925, 9926, 9933, 1883, 8883]);
        assert!(PORTS.iter().all(|p| p.install_flag.chars().all(|c| c.is_ascii_uppercase() || c == '_')));
    }
}
