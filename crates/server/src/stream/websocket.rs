//! The server side of RFC 6455 WebSockets, as much as a push stream needs: the opening
//! handshake's accept value, text and close frames written unmasked, and client frames
//! read (masked, bounded) so that pings are answered and a close is returned.

use base64::Engine;
use sha1::{Digest, Sha1};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The GUID the handshake hashes with the client's key (RFC 6455, 1.3).
const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/// Largest client frame read; a client has nothing long to say to a push stream.
pub const MAX_CLIENT_FRAME: u64 = 64 * 1024;

/// `Sec-WebSocket-Accept` for the client's `Sec-WebSocket-Key`.
pub fn accept_value(key: &str) -> String {
    let mut sha = Sha1::new();
    sha.update(key.trim().as_bytes());
    sha.update(GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(sha.finalize())
}

/// Close codes used (RFC 6455, 7.4.1).
pub mod close {
    pub const NORMAL: u16 = 1000;
    pub const PROTOCOL_ERROR: u16 = 1002;
    pub const TOO_BIG: u16 = 1009;
    /// The server is overloaded or the client too slow: try again later.
    pub const TRY_AGAIN_LATER: u16 = 1013;
}

/// A frame from the client.
#[derive(Debug, PartialEq, Eq)]
pub enum ClientFrame {
    Text(String),
    Binary,
    Ping(Vec<u8>),
    Pong,
    Close,
}

/// Why reading a client frame stopped.
#[derive(Debug)]
pub enum ReadError {
    Io(std::io::Error),
    /// Broke the protocol (unmasked, fragmented control frame, unknown opcode).
    Protocol(&'static str),
    TooBig(u64),
}

impl From<std::io::Error> for ReadError {
    fn from(e: std::io::Error) -> ReadError {
        ReadError::Io(e)
    }
}

/// Writes one unmasked frame of `opcode` with `payload`.
pub async fn write_frame(
    io: &mut (impl AsyncWrite + Unpin),
    opcode: u8,
    payload: &[u8],
) -> std::io::Result<()> {
    let mut header = Vec::with_capacity(10);
    header.push(0x80 | opcode);
    match payload.len() {
        n if n < 126 => header.push(n as u8),
        n if n <= u16::MAX as usize => {
            header.push(126);
            header.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            header.push(127);
            header.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    io.write_all(&header).await?;
    io.write_all(payload).await?;
    io.flush().await
}

/// Writes a text frame.
pub async fn write_text(io: &mut (impl AsyncWrite + Unpin), text: &str) -> std::io::Result<()> {
    write_frame(io, 0x1, text.as_bytes()).await
}

/// Writes a close frame with `code` and a reason (cut to fit a control frame).
pub async fn write_close(
    io: &mut (impl AsyncWrite + Unpin),
    code: u16,
    reason: &str,
) -> std::io::Result<()> {
    let mut payload = code.to_be_bytes().to_vec();
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    payload.extend_from_slice(&reason.as_bytes()[..end]);
    write_frame(io, 0x8, &payload).await
}

/// Reads one frame from the client (which must mask it), unmasked.
pub async fn read_frame(io: &mut (impl AsyncRead + Unpin)) -> Result<ClientFrame, ReadError> {
    let mut head = [0u8; 2];
    io.read_exact(&mut head).await?;
    let fin = head[0] & 0x80 != 0;
    let opcode = head[0] & 0x0f;
    if head[0] & 0x70 != 0 {
        return Err(ReadError::Protocol("reserved bits set"));
    }
    if head[1] & 0x80 == 0 {
        return Err(ReadError::Protocol("client frames must be masked"));
    }
    let len = match head[1] & 0x7f {
        126 => u64::from(io.read_u16().await?),
        127 => io.read_u64().await?,
        n => u64::from(n),
    };
    if opcode >= 0x8 && (len > 125 || !fin) {
        return Err(ReadError::Protocol("a control frame is short and whole"));
    }
    if len > MAX_CLIENT_FRAME {
        return Err(ReadError::TooBig(len));
    }
    let mut mask = [0u8; 4];
    io.read_exact(&mut mask).await?;
    let mut payload = vec![0u8; len as usize];
    io.read_exact(&mut payload).await?;
    for (i, b) in payload.iter_mut().enumerate() {
        *b ^= mask[i % 4];
    }
    Ok(match opcode {
        0x0 | 0x2 => ClientFrame::Binary,
        0x1 => ClientFrame::Text(String::from_utf8_lossy(&payload).into_owned()),
        0x8 => ClientFrame::Close,
        0x9 => ClientFrame::Ping(payload),
        0xA => ClientFrame::Pong,
        _ => return Err(ReadError::Protocol("unknown opcode")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_accept_value_is_the_rfcs_example() {
        // RFC 6455, 1.3.
        assert_eq!(
            accept_value("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[tokio::test]
    async fn frames_are_written_and_masked_frames_read() {
        let mut out = Vec::new();
        write_text(&mut out, "Hello").await.unwrap();
        // RFC 6455, 5.7: a single-frame unmasked text message.
        assert_eq!(out, [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
        let long = "x".repeat(300);
        let mut out = Vec::new();
        write_text(&mut out, &long).await.unwrap();
        assert_eq!(&out[..4], &[0x81, 126, 0x01, 0x2c]);

        // RFC 6455, 5.7: a single-frame masked text message.
        let masked = [
            0x81u8, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ];
        let frame = read_frame(&mut &masked[..]).await.unwrap();
        assert_eq!(frame, ClientFrame::Text("Hello".into()));
        let unmasked = [0x81u8, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
        assert!(matches!(
            read_frame(&mut &unmasked[..]).await,
            Err(ReadError::Protocol(_))
        ));
        let huge = [0x82u8, 0xff, 0, 0, 0, 0, 0, 0x10, 0, 0];
        assert!(matches!(
            read_frame(&mut &huge[..]).await,
            Err(ReadError::TooBig(_))
        ));
    }

    #[tokio::test]
    async fn a_close_reason_is_cut_to_fit_a_control_frame() {
        let mut out = Vec::new();
        write_close(&mut out, close::TRY_AGAIN_LATER, &"é".repeat(100))
            .await
            .unwrap();
        assert!(out.len() - 2 <= 125);
        assert_eq!(&out[2..4], &1013u16.to_be_bytes());
        assert!(std::str::from_utf8(&out[4..]).is_ok());
    }
}
