//! Where `dpuctl` writes: progress lines (stderr) while it runs and result lines (stdout), both
//! kept for the tests. Every line about a DPU starts with its label.

use std::io::Write;
use std::sync::Mutex;

/// The output of one command.
#[derive(Debug, Default)]
pub struct Out {
    echo: bool,
    lines: Mutex<Vec<String>>,
}

impl Out {
    /// Printing to the terminal as well as keeping the lines.
    pub fn terminal() -> Self {
        Self {
            echo: true,
            lines: Mutex::default(),
        }
    }

    /// Keeping the lines only (tests).
    pub fn quiet() -> Self {
        Self::default()
    }

    /// A progress line (`label: text`) on stderr.
    pub fn progress(&self, label: &str, text: &str) {
        let line = format!("{label}: {text}");
        if self.echo {
            let _ = writeln!(std::io::stderr(), "{line}");
        }
        self.keep(line);
    }

    /// A result line on stdout.
    pub fn result(&self, line: &str) {
        if self.echo {
            let _ = writeln!(std::io::stdout(), "{line}");
        }
        self.keep(line.to_string());
    }

    fn keep(&self, line: String) {
        if let Ok(mut lines) = self.lines.lock() {
            lines.push(line);
        }
    }

    /// Every line so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines
            .lock()
            .map(|lines| lines.clone())
            .unwrap_or_default()
    }
}

/// A table with columns padded to their widest cell.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|cell| cell.chars().count()).collect();
    for row in rows {
        for (index, cell) in row.iter().enumerate() {
            if let Some(width) = widths.get_mut(index) {
                *width = (*width).max(cell.chars().count());
            }
        }
    }
    let mut text = String::new();
    let header: Vec<String> = header.iter().map(|cell| cell.to_string()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (index, cell) in row.iter().enumerate() {
            let width = widths.get(index).copied().unwrap_or(0);
            line.push_str(&format!("{cell:<width$}  "));
        }
        text.push_str(line.trim_end());
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    #[test]
    fn table_columns_line_up() {
        let text = super::table(
            &["DPU", "ROLE"],
            &[
                vec!["dpu1".into(), "active".into()],
                vec!["dpu22".into(), "standby".into()],
            ],
        );
        assert_eq!(text, "DPU    ROLE\ndpu1   active\ndpu22  standby\n");
    }
}
