//! The scripted fake upstream LLM as a process, for client tests written in other languages
//! (the Python `openai` SDK tests): `caduceus-fake-upstream [--reply TEXT]...` prints its base URL
//! on the first line of stdout, answers each request with the next `--reply` (then the default
//! text), and runs until killed.

use std::io::Write;

use caduceus_tests::fake_upstream::{FakeUpstream, Reply};

#[tokio::main]
async fn main() {
    let fake = FakeUpstream::start().await;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--reply", Some(text)) => {
                fake.push(Reply::text(&text));
            }
            _ => {
                eprintln!("usage: caduceus-fake-upstream [--reply TEXT]...");
                std::process::exit(2);
            }
        }
    }
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{}", fake.base_url());
    let _ = stdout.flush();
    drop(stdout);
    std::future::pending::<()>().await;
}
