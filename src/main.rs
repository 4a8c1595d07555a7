//! The `larq` command line. Wiring only: each subcommand lives in `larq::cli`.

fn main() {
    println!("larq");
}
