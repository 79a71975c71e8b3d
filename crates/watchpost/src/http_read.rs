//! Reading a server's answer within a bound: the followers of the decision stream and of
//! the host actions read what the server says, and a server (or something in its place)
//! must not make them hold more than they expect.

/// The body of a successful answer, read to `max` bytes and never past them whatever
/// `Content-Length` says; an error naming the status and the start of the body otherwise.
pub async fn bounded_success(
    mut response: reqwest::Response,
    max: usize,
) -> anyhow::Result<Vec<u8>> {
    let status = response.status();
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        anyhow::ensure!(
            body.len() + chunk.len() <= max,
            "the answer is over {max} bytes"
        );
        body.extend_from_slice(&chunk);
    }
    anyhow::ensure!(
        status.is_success(),
        "{status}: {}",
        String::from_utf8_lossy(&body[..body.len().min(300)])
    );
    Ok(body)
}
