//! The two kernel calls the network nemeses need that no safe wrapper
//! offers: bringing `lo` up in a fresh network namespace, and how many bytes
//! a TCP socket has sent that its peer has not yet acknowledged. The only
//! unsafe code of `net`, here and nowhere else.

use std::io;

use nix::libc;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// Sets `IFF_UP` on `lo` in the calling thread's network namespace (a fresh
/// one has `lo` down, so not even 127.0.0.1 answers).
pub fn bring_loopback_up() -> io::Result<()> {
    // SAFETY: plain socket(2) call; the fd it returns, if any, is owned once.
    let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` is a valid descriptor just returned by socket(2) and owned by nobody else.
    let sock = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: ifreq is plain old data; all zeroes is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS/SIOCSIFFLAGS read and write `req`, a live, properly
    // sized ifreq with a NUL-terminated name; the union member used is ifru_flags.
    unsafe {
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) < 0 {
            return Err(io::Error::last_os_error());
        }
        req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Bytes written to the TCP socket `fd` that its peer has not acknowledged
/// yet (`TIOCOUTQ`, i.e. `SIOCOUTQ`).
pub fn unacked_bytes(fd: &impl AsRawFd) -> io::Result<usize> {
    let mut n: libc::c_int = 0;
    // SAFETY: TIOCOUTQ writes one int through the pointer, which points at `n`.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCOUTQ, &mut n) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n.max(0) as usize)
}
