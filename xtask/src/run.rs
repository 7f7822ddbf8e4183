//! `cargo xtask run`: boot under QEMU with the console on this terminal.

use crate::qemu::{self, Machine, QemuProcess};
use crate::serial::{Output, Splitter};
use crate::{BuildOptions, build};
use anyhow::{Result, bail};
use std::io::{Read, Write};

/// Puts the terminal in raw mode until dropped (keys go to the guest one by one, unechoed).
struct RawTerminal {
    saved: Option<libc::termios>,
}

impl RawTerminal {
    fn enable() -> Self {
        // SAFETY: isatty/tcgetattr/tcsetattr on fd 0 with a valid termios out-pointer.
        unsafe {
            if libc::isatty(0) != 1 {
                return Self { saved: None };
            }
            let mut saved: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(0, &mut saved) != 0 {
                return Self { saved: None };
            }
            let mut raw = saved;
            libc::cfmakeraw(&mut raw);
            // Keep output post-processing so our "\n" still returns the carriage.
            raw.c_oflag |= libc::OPOST | libc::ONLCR;
            libc::tcsetattr(0, libc::TCSANOW, &raw);
            Self { saved: Some(saved) }
        }
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        if let Some(saved) = &self.saved {
            // SAFETY: restores the attributes read in `enable` on the same fd.
            unsafe { libc::tcsetattr(0, libc::TCSANOW, saved) };
        }
    }
}

/// Parses `run` options into a machine description; returns it and whether gdb was asked for.
pub fn parse_machine(arguments: &[String]) -> Result<(Machine, bool)> {
    let mut machine = Machine::default();
    let mut gdb = false;
    let mut words = crate::OptionWalker::new(arguments);
    while let Some(argument) = words.next_option() {
        match argument {
            "--el2" => machine.options.push("virtualization=on".into()),
            "--gicv3" => machine.options.push("gic-version=3".into()),
            "--memory" => machine.memory = words.value(argument)?,
            "--cpus" => machine.cpus = words.value(argument)?.parse()?,
            "--cpu" => machine.cpu = words.value(argument)?,
            "--gdb" => gdb = true,
            // Handled by `run` (flash boot through dpuboot is the default).
            "--direct" => {}
            other => bail!("unknown run option '{other}' (see cargo xtask help)"),
        }
    }
    Ok((machine, gdb))
}

/// Builds and boots the kernel interactively.
pub fn run(options: &BuildOptions, arguments: &[String]) -> Result<()> {
    let (machine, gdb) = parse_machine(arguments)?;
    crate::install::ensure_qemu()?;
    // The key first: the kernel's build script compiles in its public half (a fresh clone
    // would otherwise build once without it, warn, and build again).
    crate::image::dev_key()?;
    let artifacts = build::build_kernel(options)?;
    let mut qemu_arguments = if arguments.iter().any(|a| a == "--direct") {
        qemu::arguments(&machine, &artifacts.image, "run.args")?
    } else {
        let files = crate::image::prepare(options, &crate::image::SignOptions::default(), false)?;
        crate::image::flash_arguments(&machine, &files.flash0, &files.flash1, "run.args")?
    };
    let http_port = free_port()?;
    qemu_arguments.extend(qemu::profile(
        "run-nics.args",
        &[("http_port", http_port.to_string())],
    )?);
    if gdb {
        let port = free_port()?;
        qemu_arguments.extend(["-S".into(), "-gdb".into(), format!("tcp:127.0.0.1:{port}")]);
        println!("QEMU waits for gdb. In another terminal:");
        println!(
            "    gdb-multiarch {} -ex 'target remote 127.0.0.1:{port}'",
            artifacts.elf.display()
        );
        println!(
            "(apt-get install gdb-multiarch if you do not have it; 'continue' starts the kernel)"
        );
    }
    println!("{}", qemu::display_command(&qemu_arguments));
    println!(
        "Management API once mgmt0 has its DHCP lease: curl http://127.0.0.1:{http_port}/healthz"
    );
    println!("Quit: Ctrl-A then x. QEMU monitor: Ctrl-A then c. Logs are decoded from defmt.\n");

    let mut splitter = Splitter::new(&artifacts.elf)?;
    let mut process = QemuProcess::spawn(&qemu_arguments)?;
    let mut guest_input = process
        .child
        .stdin
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdin"))?;
    let mut guest_output = process
        .child
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let terminal = RawTerminal::enable();
    std::thread::spawn(move || {
        let mut buffer = [0u8; 256];
        let stdin = std::io::stdin();
        let mut stdin = stdin.lock();
        while let Ok(count) = stdin.read(&mut buffer) {
            if count == 0 || guest_input.write_all(&buffer[..count]).is_err() {
                break;
            }
            let _ = guest_input.flush();
        }
    });
    let mut stdout = std::io::stdout();
    let mut buffer = [0u8; 4096];
    let mut at_line_start = true;
    while let Ok(count) = guest_output.read(&mut buffer) {
        if count == 0 {
            break;
        }
        for output in splitter.feed(&buffer[..count]) {
            match output {
                Output::Text(text) => {
                    at_line_start = text.last() == Some(&b'\n');
                    stdout.write_all(&text)?;
                }
                Output::Log(line) => {
                    let separator = if at_line_start { "" } else { "\r\n" };
                    write!(stdout, "{separator}{line}\r\n")?;
                    at_line_start = true;
                }
                Output::BadFrame(length) => {
                    write!(stdout, "\r\n[undecodable defmt frame, {length} bytes]\r\n")?
                }
            }
        }
        stdout.flush()?;
    }
    drop(terminal);
    let status = process.child.wait()?;
    let errors = process.stderr_text();
    if !errors.trim().is_empty() {
        eprintln!("{}", errors.trim());
    }
    println!("\nQEMU exited with {status}");
    Ok(())
}

/// A free TCP port on loopback, chosen by the kernel.
pub fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}
