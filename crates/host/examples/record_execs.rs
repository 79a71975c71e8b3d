//! Writes every exec on this machine as one JSON event per line to stdout, until killed.
//! Used to record the false-positive fixture (`cargo run -p watchpost-host --example
//! record_execs > execs.jsonl` while something ordinary runs); needs root.

use std::io::Write;
use watchpost_host::{ExecCapture, SourceChoice};

fn main() {
    let mut capture = ExecCapture::start(SourceChoice::Connector).expect("proc connector (root?)");
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    loop {
        for event in capture.next_events(std::time::Duration::from_secs(1)) {
            serde_json::to_writer(&mut out, &event).expect("stdout");
            out.write_all(b"\n").expect("stdout");
        }
        out.flush().expect("stdout");
    }
}
