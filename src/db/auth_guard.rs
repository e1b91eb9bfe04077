//! Refusing to send a password to a server that asks for it the weak way.
//!
//! tokio-postgres answers whatever authentication request the server makes: a cleartext
//! password request gets the password itself, an MD5 request a hash that can be attacked
//! offline. Its only refusal knob, `channel_binding=require`, also refuses SCRAM without TLS,
//! and the stack does not use TLS on loopback. So the connection's stream is wrapped: the
//! server's messages are read through [`Guarded`] until authentication succeeds, and an
//! authentication request the policy does not allow ends the connection with an error before
//! tokio-postgres ever sees it — and so before it could answer it.
//!
//! SCRAM-SHA-256 proves knowledge of the password without sending it, so a process that took
//! the port (a local user who bound it while PostgreSQL restarted) learns nothing it can use.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Which authentication requests a connection may answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthPolicy {
    /// SCRAM-SHA-256 only (or no password at all, `trust`): the stack's own PostgreSQL.
    ScramOnly,
    /// SCRAM or MD5, never cleartext: servers that may store MD5 hashes (Neon's computes, an
    /// import source).
    NoCleartext,
}

// Authentication request codes, PostgreSQL protocol "AuthenticationXxx" messages.
const AUTH_OK: u32 = 0;
const AUTH_CLEARTEXT: u32 = 3;
const AUTH_MD5: u32 = 5;
const AUTH_SASL: u32 = 10;
const AUTH_SASL_CONTINUE: u32 = 11;
const AUTH_SASL_FINAL: u32 = 12;

impl AuthPolicy {
    fn allows(self, code: u32) -> Result<(), String> {
        match (self, code) {
            (_, AUTH_OK | AUTH_SASL | AUTH_SASL_CONTINUE | AUTH_SASL_FINAL) => Ok(()),
            (AuthPolicy::NoCleartext, AUTH_MD5) => Ok(()),
            (_, AUTH_CLEARTEXT) => Err("the server asked for the password in cleartext".into()),
            (_, AUTH_MD5) => Err("the server asked for an MD5 password hash".into()),
            (_, other) => Err(format!(
                "the server asked for authentication method {other}"
            )),
        }
    }
}

/// A stream that watches the server's side of the startup exchange.
pub struct Guarded<S> {
    inner: S,
    policy: AuthPolicy,
    /// The first bytes of the current message: type, length, and for `R` its code.
    head: Vec<u8>,
    /// Bytes of the current message still to pass before the next header.
    skip: usize,
    /// Authentication is over (AuthenticationOk seen): pass everything through.
    done: bool,
}

impl<S> Guarded<S> {
    pub fn new(inner: S, policy: AuthPolicy) -> Self {
        Guarded {
            inner,
            policy,
            head: Vec::with_capacity(9),
            skip: 0,
            done: false,
        }
    }

    /// Follows the message framing over `data`; an error for a request the policy refuses.
    fn inspect(&mut self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() && !self.done {
            if self.skip > 0 {
                let n = self.skip.min(data.len());
                self.skip -= n;
                data = &data[n..];
                continue;
            }
            // An `R` message's code is read too: 9 bytes, the others' 5.
            let want = |head: &[u8]| if head.first() == Some(&b'R') { 9 } else { 5 };
            let n = (want(&self.head) - self.head.len()).min(data.len());
            self.head.extend_from_slice(&data[..n]);
            data = &data[n..];
            if self.head.len() < want(&self.head) {
                continue;
            }
            let len = u32::from_be_bytes([self.head[1], self.head[2], self.head[3], self.head[4]]);
            let body = (len as usize).saturating_sub(4);
            if self.head[0] == b'R' {
                let code =
                    u32::from_be_bytes([self.head[5], self.head[6], self.head[7], self.head[8]]);
                self.policy.allows(code).map_err(|why| {
                    io::Error::new(
                        io::ErrorKind::PermissionDenied,
                        format!(
                            "{why}; the password was not sent. Is something else listening on \
                             this port?"
                        ),
                    )
                })?;
                self.done = code == AUTH_OK;
                self.skip = body.saturating_sub(4);
            } else {
                self.skip = body;
            }
            self.head.clear();
        }
        Ok(())
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Guarded<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if !this.done {
                    let new = buf.filled()[before..].to_vec();
                    if let Err(e) = this.inspect(&new) {
                        // Nothing of the refused request reaches the client.
                        buf.set_filled(before);
                        return Poll::Ready(Err(e));
                    }
                }
                Poll::Ready(Ok(()))
            }
            other => other,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Guarded<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(code: u32) -> Vec<u8> {
        let mut m = vec![b'R'];
        m.extend_from_slice(&8u32.to_be_bytes());
        m.extend_from_slice(&code.to_be_bytes());
        m
    }

    #[test]
    fn cleartext_and_md5_are_refused_even_split_across_reads() {
        for code in [AUTH_CLEARTEXT, AUTH_MD5] {
            let mut g = Guarded::new((), AuthPolicy::ScramOnly);
            let msg = auth(code);
            g.inspect(&msg[..3]).unwrap();
            g.inspect(&msg[3..7]).unwrap();
            assert!(g.inspect(&msg[7..]).is_err());
        }
        let mut g = Guarded::new((), AuthPolicy::NoCleartext);
        assert!(g.inspect(&auth(AUTH_MD5)).is_ok());
        let mut g = Guarded::new((), AuthPolicy::NoCleartext);
        assert!(g.inspect(&auth(AUTH_CLEARTEXT)).is_err());
    }

    #[test]
    fn sasl_then_ok_then_anything_passes() {
        let mut g = Guarded::new((), AuthPolicy::ScramOnly);
        let mut sasl = vec![b'R'];
        let body = b"SCRAM-SHA-256\0\0";
        sasl.extend_from_slice(&(8 + body.len() as u32).to_be_bytes());
        sasl.extend_from_slice(&AUTH_SASL.to_be_bytes());
        sasl.extend_from_slice(body);
        let mut stream = sasl;
        stream.extend(auth(AUTH_OK));
        // After AuthenticationOk the bytes are queries' results, never inspected.
        stream.extend(auth(AUTH_CLEARTEXT));
        g.inspect(&stream).unwrap();
        assert!(g.done);
    }
}
