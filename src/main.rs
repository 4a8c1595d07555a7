//! The `larq` binary: parse the command line, run it, report errors with their whole context.
//!
//! The subcommands live in `cli/`, part of the binary rather than the library, so `anyhow` stays
//! at this edge and the library keeps its typed errors.

mod cli;

fn main() {
    if let Err(e) = cli::run() {
        eprintln!("Error: {}", report(&e));
        std::process::exit(1);
    }
}

/// The error and its causes joined by `: `, leaving out a cause whose text the message already
/// carries (several library errors, and sqlx's, print their source in their own message too).
fn report(e: &anyhow::Error) -> String {
    let mut text = e.to_string();
    for cause in e.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::report;

    #[test]
    fn causes_already_in_the_message_are_not_repeated() {
        let inner = std::io::Error::other("1045 access denied");
        let e = anyhow::Error::new(inner)
            .context("failed_jobs (mysql): 1045 access denied")
            .context("cannot open the failed_jobs database");
        assert_eq!(
            report(&e),
            "cannot open the failed_jobs database: failed_jobs (mysql): 1045 access denied"
        );
        let e = anyhow::Error::new(std::io::Error::other("disk full")).context("cannot write");
        assert_eq!(report(&e), "cannot write: disk full");
    }
}
