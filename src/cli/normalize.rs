//! `confkeep normalize [--hash] FILE`: print a RouterOS export normalized,
//! or the SHA-256 of its normalized text.
//!
//! Exit codes: 0 on success, 2 when the file is not an export (empty, binary,
//! no header and no menu line) or cannot be read.

use std::path::PathBuf;

use crate::domain::normalize;

/// Print a RouterOS export normalized, or its SHA-256.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print only the SHA-256 (lowercase hex) of the normalized text.
    #[arg(long)]
    pub hash: bool,
    /// The export file (`-` for standard input).
    pub file: PathBuf,
}

pub async fn run(args: Args) -> anyhow::Result<i32> {
    let bytes = if args.file.as_os_str() == "-" {
        let mut buf = Vec::new();
        if let Err(e) = std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf) {
            eprintln!("confkeep normalize: standard input: {e}");
            return Ok(2);
        }
        buf
    } else {
        match std::fs::read(&args.file) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("confkeep normalize: {}: {e}", args.file.display());
                return Ok(2);
            }
        }
    };
    let text = match normalize::check_export(&bytes) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("confkeep normalize: {}: {e}", args.file.display());
            return Ok(2);
        }
    };
    let (normalized, hash) = normalize::normalized_hash(text);
    if args.hash {
        println!("{hash}");
    } else {
        print!("{normalized}");
    }
    Ok(0)
}
