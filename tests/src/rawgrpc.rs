//! A minimal gRPC client that is not tonic: unary calls over plaintext
//! HTTP/2 on the raw `h2` crate, each message framed by hand.
//!
//! It stands for the nodes written against `proto/lianfang.proto` with
//! another gRPC stack (Python grpcio, grpc-go, …), which compress with gzip
//! rather than zstd. It speaks only what such a client would put on the
//! wire: the `:path` of the method, `content-type: application/grpc`,
//! `te: trailers`, `grpc-encoding` / `grpc-accept-encoding`, and the
//! `authorization` metadata; each message is the 5-byte prefix (a
//! compressed flag, then the length as a big-endian u32) and the bytes.

use std::io::{Read as _, Write as _};
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context as _, bail, ensure};
use bytes::{Bytes, BytesMut};
use http::HeaderMap;

/// How a message travels: the value of `grpc-encoding`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// No `grpc-encoding` header, compressed flag 0.
    Identity,
    Gzip,
    Zstd,
    /// Sent as `grpc-encoding: deflate` with the bytes zlib-compressed; the
    /// hub does not enable it.
    Deflate,
}

impl Encoding {
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Identity => "identity",
            Encoding::Gzip => "gzip",
            Encoding::Zstd => "zstd",
            Encoding::Deflate => "deflate",
        }
    }

    fn from_name(name: &str) -> anyhow::Result<Encoding> {
        Ok(match name {
            "identity" => Encoding::Identity,
            "gzip" => Encoding::Gzip,
            "zstd" => Encoding::Zstd,
            "deflate" => Encoding::Deflate,
            other => bail!("reply in unknown grpc-encoding {other:?}"),
        })
    }

    /// The message as this encoding carries it.
    pub fn compress(self, message: &[u8]) -> Vec<u8> {
        match self {
            Encoding::Identity => message.to_vec(),
            Encoding::Gzip => {
                let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
                e.write_all(message).expect("gzip into memory");
                e.finish().expect("gzip into memory")
            }
            Encoding::Zstd => zstd::bulk::compress(message, 3).expect("zstd into memory"),
            Encoding::Deflate => {
                let mut e =
                    flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(6));
                e.write_all(message).expect("zlib into memory");
                e.finish().expect("zlib into memory")
            }
        }
    }

    fn decompress(self, bytes: &[u8]) -> anyhow::Result<Vec<u8>> {
        let mut out = Vec::new();
        match self {
            Encoding::Identity => out.extend_from_slice(bytes),
            Encoding::Gzip => {
                flate2::read::GzDecoder::new(bytes)
                    .read_to_end(&mut out)
                    .context("gunzip the reply")?;
            }
            Encoding::Zstd => {
                zstd::stream::read::Decoder::new(bytes)?
                    .read_to_end(&mut out)
                    .context("unzstd the reply")?;
            }
            Encoding::Deflate => {
                flate2::read::ZlibDecoder::new(bytes)
                    .read_to_end(&mut out)
                    .context("inflate the reply")?;
            }
        }
        Ok(out)
    }
}

/// One unary call.
#[derive(Debug, Clone)]
pub struct Call<'a> {
    /// `/package.Service/Method`.
    pub path: &'a str,
    /// Sent as `authorization: Bearer <credential>` when present.
    pub credential: Option<&'a str>,
    /// How the request message is compressed.
    pub send: Encoding,
    /// The `grpc-accept-encoding` header, e.g. `"gzip"`; none when empty.
    pub accept: &'a str,
    /// The encoded request message.
    pub message: &'a [u8],
}

/// What came back.
#[derive(Debug)]
pub struct Reply {
    /// The HTTP status of the response headers.
    pub http_status: http::StatusCode,
    pub headers: HeaderMap,
    /// The trailers; none for a trailers-only response (status in headers).
    pub trailers: Option<HeaderMap>,
    /// `grpc-encoding` of the reply (identity when absent).
    pub encoding: Encoding,
    /// Each reply message, decompressed, with whether its flag said compressed.
    pub messages: Vec<(bool, Vec<u8>)>,
}

impl Reply {
    fn status_header(&self, name: &str) -> Option<&http::HeaderValue> {
        self.trailers
            .as_ref()
            .and_then(|t| t.get(name))
            .or_else(|| self.headers.get(name))
    }

    /// `grpc-status`, from the trailers or a trailers-only response.
    pub fn grpc_status(&self) -> Option<i32> {
        self.status_header("grpc-status")?
            .to_str()
            .ok()?
            .parse()
            .ok()
    }

    /// `grpc-message`, percent-decoded (ASCII only: enough for a test).
    pub fn grpc_message(&self) -> String {
        let Some(raw) = self
            .status_header("grpc-message")
            .and_then(|v| v.to_str().ok())
        else {
            return String::new();
        };
        let mut out = Vec::new();
        let bytes = raw.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%'
                && let Some(b) = raw
                    .get(i + 1..i + 3)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(b);
                i += 3;
                continue;
            }
            out.push(bytes[i]);
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    /// The one reply message of a successful unary call.
    pub fn message(&self) -> anyhow::Result<&[u8]> {
        ensure!(
            self.grpc_status() == Some(0),
            "grpc-status {:?}: {}",
            self.grpc_status(),
            self.grpc_message()
        );
        ensure!(
            self.messages.len() == 1,
            "{} reply messages to a unary call",
            self.messages.len()
        );
        Ok(&self.messages[0].1)
    }
}

/// Frames `message` as one gRPC message: flag, big-endian length, bytes.
pub fn frame(compressed: bool, message: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(5 + message.len());
    out.extend_from_slice(&[u8::from(compressed)]);
    out.extend_from_slice(&u32::try_from(message.len()).expect("< 4 GiB").to_be_bytes());
    out.extend_from_slice(message);
    out.freeze()
}

/// Makes one unary call to the server at `addr` (plaintext HTTP/2, prior
/// knowledge) on a connection of its own; fails after 30 s.
///
/// # Errors
/// Connection, HTTP/2 or framing errors; a gRPC error status is a [`Reply`].
pub async fn unary(addr: SocketAddr, call: &Call<'_>) -> anyhow::Result<Reply> {
    tokio::time::timeout(Duration::from_secs(30), unary_inner(addr, call))
        .await
        .context("raw gRPC call timed out")?
}

async fn unary_inner(addr: SocketAddr, call: &Call<'_>) -> anyhow::Result<Reply> {
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .with_context(|| format!("connect to {addr}"))?;
    tcp.set_nodelay(true)?;
    let (send, connection) = h2::client::handshake(tcp)
        .await
        .context("HTTP/2 handshake")?;
    let driver = tokio::spawn(async move {
        let _ = connection.await;
    });
    let _stop_driver = AbortOnDrop(driver);

    let mut request = http::Request::builder()
        .method(http::Method::POST)
        .uri(format!("http://{addr}{}", call.path))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header("user-agent", "lianfang-tests-rawgrpc/0");
    if call.send != Encoding::Identity {
        request = request.header("grpc-encoding", call.send.name());
    }
    if !call.accept.is_empty() {
        request = request.header("grpc-accept-encoding", call.accept);
    }
    if let Some(credential) = call.credential {
        request = request.header("authorization", format!("Bearer {credential}"));
    }
    let request = request.body(()).context("build the request")?;

    let mut send = send.ready().await.context("HTTP/2 connection ready")?;
    let (response, mut stream) = send
        .send_request(request, false)
        .context("send the request headers")?;
    let body = frame(
        call.send != Encoding::Identity,
        &call.send.compress(call.message),
    );
    send_all(&mut stream, body).await?;

    let response = response.await.context("response headers")?;
    let (parts, mut body) = response.into_parts();
    let mut received = BytesMut::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.context("response body")?;
        body.flow_control()
            .release_capacity(chunk.len())
            .context("release flow-control capacity")?;
        received.extend_from_slice(&chunk);
    }
    let trailers = body.trailers().await.context("response trailers")?;

    let encoding = match parts.headers.get("grpc-encoding") {
        None => Encoding::Identity,
        Some(v) => Encoding::from_name(v.to_str().context("grpc-encoding is not ASCII")?)?,
    };
    let mut messages = Vec::new();
    let mut rest = &received[..];
    while !rest.is_empty() {
        ensure!(rest.len() >= 5, "a reply frame cut inside its prefix");
        let compressed = match rest[0] {
            0 => false,
            1 => true,
            f => bail!("reply frame with compressed flag {f}"),
        };
        let len = u32::from_be_bytes(rest[1..5].try_into().expect("4 bytes")) as usize;
        ensure!(
            rest.len() >= 5 + len,
            "a reply frame cut inside its message"
        );
        let bytes = &rest[5..5 + len];
        let message = if compressed {
            ensure!(
                encoding != Encoding::Identity,
                "a compressed reply frame without grpc-encoding"
            );
            encoding.decompress(bytes)?
        } else {
            bytes.to_vec()
        };
        messages.push((compressed, message));
        rest = &rest[5 + len..];
    }
    Ok(Reply {
        http_status: parts.status,
        headers: parts.headers,
        trailers,
        encoding,
        messages,
    })
}

/// Sends `data` and ends the stream, as HTTP/2 flow control allows.
async fn send_all(stream: &mut h2::SendStream<Bytes>, mut data: Bytes) -> anyhow::Result<()> {
    while !data.is_empty() {
        stream.reserve_capacity(data.len());
        let granted = std::future::poll_fn(|cx| stream.poll_capacity(cx))
            .await
            .context("the stream closed before the request was sent")?
            .context("flow-control capacity")?;
        if granted == 0 {
            continue;
        }
        let chunk = data.split_to(granted.min(data.len()));
        stream
            .send_data(chunk, data.is_empty())
            .context("send request data")?;
    }
    Ok(())
}

#[derive(Debug)]
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
