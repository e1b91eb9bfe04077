//! The attacker of the security tests, for tests only: a fake PostgreSQL server that another
//! local user runs on the stack's port. It asks every client for its password in cleartext
//! and records what it is sent.
//!
//! `pg_password_trap PORT DIR SECONDS`: keeps trying to bind 127.0.0.1:PORT (the port may
//! still be the real server's) until it gets it, writes `DIR/bound`, then for SECONDS answers
//! each connection's startup with AuthenticationCleartextPassword and appends the contents of
//! the password message it gets back to `DIR/captured`.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, port, dir, seconds] = &args[..] else {
        eprintln!("usage: pg_password_trap PORT DIR SECONDS");
        std::process::exit(2);
    };
    let port: u16 = port.parse().expect("PORT");
    let dir = PathBuf::from(dir);
    let deadline = Instant::now() + Duration::from_secs(seconds.parse().expect("SECONDS"));
    let listener = loop {
        match TcpListener::bind(("127.0.0.1", port)) {
            Ok(l) => break l,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(2)),
            Err(e) => panic!("could not bind 127.0.0.1:{port}: {e}"),
        }
    };
    std::fs::write(dir.join("bound"), b"").unwrap();
    listener.set_nonblocking(true).unwrap();
    while Instant::now() < deadline {
        match listener.accept() {
            Ok((stream, _)) => {
                let dir = dir.clone();
                std::thread::spawn(move || {
                    let _ = serve(stream, &dir);
                });
            }
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

fn read_exact(stream: &mut TcpStream, n: usize) -> std::io::Result<Vec<u8>> {
    let mut buf = vec![0; n];
    stream.read_exact(&mut buf)?;
    Ok(buf)
}

fn be32(b: &[u8]) -> usize {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize
}

fn serve(mut stream: TcpStream, dir: &Path) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    loop {
        // Startup packet: length, then protocol version or a request code.
        let len = be32(&read_exact(&mut stream, 4)?);
        let body = read_exact(&mut stream, len.saturating_sub(4))?;
        let code = be32(&body);
        if code == 80877103 || code == 80877104 {
            stream.write_all(b"N")?; // no TLS, no GSS: go on in the clear
            continue;
        }
        break;
    }
    // AuthenticationCleartextPassword.
    stream.write_all(&[b'R', 0, 0, 0, 8, 0, 0, 0, 3])?;
    let head = read_exact(&mut stream, 5)?;
    let password = read_exact(&mut stream, be32(&head[1..]).saturating_sub(4))?;
    let mut out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("captured"))?;
    out.write_all(&password)?;
    out.write_all(b"\n")?;
    Ok(())
}
