//! A TCP stream that stops working at the attempt's deadline.
//!
//! russh runs each connection in a task of its own that reads the socket
//! until the peer goes away. Dropping our side of a hung attempt (a device
//! that accepted TCP and then went silent) would leave that task reading
//! forever. Wrapping the socket so that every read and write fails with
//! `TimedOut` once the deadline passes ends that task, and the socket with
//! it, at the deadline: nothing of an attempt outlives it.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

/// The message of the `TimedOut` error a [`DeadlineStream`] returns.
pub(crate) const DEADLINE_PASSED: &str = "the attempt's deadline passed";

/// A [`TcpStream`] whose reads and writes fail once its deadline passes.
#[derive(Debug)]
pub(crate) struct DeadlineStream {
    inner: TcpStream,
    deadline: Pin<Box<Sleep>>,
}

impl DeadlineStream {
    pub(crate) fn new(inner: TcpStream, deadline: Instant) -> Self {
        Self {
            inner,
            deadline: Box::pin(tokio::time::sleep_until(deadline)),
        }
    }

    /// `Err(TimedOut)` once the deadline passed; otherwise registers the
    /// waker so that a pending read or write is woken at the deadline.
    fn check(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        match self.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Err(io::Error::new(io::ErrorKind::TimedOut, DEADLINE_PASSED)),
            Poll::Pending => Ok(()),
        }
    }
}

impl AsyncRead for DeadlineStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.check(cx)?;
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for DeadlineStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.check(cx)?;
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.check(cx)?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Shutting down after the deadline is still allowed: it only frees.
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
