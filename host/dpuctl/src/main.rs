//! The `dpuctl` binary: see the library for the commands.

fn main() {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(dpuctl::run(&arguments));
}
