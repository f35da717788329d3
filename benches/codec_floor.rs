//! The physical floor of a rewrite: what any tool that reads gzip layers and
//! writes a gzip layer at slim's level must spend at least, with slim's own
//! codecs and nothing else: the source layers inflated (one stream per
//! layer, layers in parallel, as slim reads them), then the kept bytes (a
//! tar given, read into memory first and not timed) compressed by slim's
//! block encoder on every core. No hashing, no tar, no trace, no files.
//!
//! usage: cargo bench --bench codec_floor -- KEPT_TAR LAYER_BLOB...

use rayon::prelude::*;
use std::io::{self, Read, Write};
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let [kept, blobs @ ..] = args.as_slice() else {
        eprintln!("usage: cargo bench --bench codec_floor -- KEPT_TAR LAYER_BLOB...");
        std::process::exit(2);
    };
    let t0 = Instant::now();
    let inflated: u64 = blobs
        .par_iter()
        .map(|b| {
            let f = std::fs::File::open(b).expect("a layer blob");
            let r = io::BufReader::with_capacity(256 << 10, f);
            let mut d = flate2::bufread::MultiGzDecoder::new(r);
            io::copy(&mut d, &mut io::sink()).expect("a gzip layer")
        })
        .sum();
    let inflate = t0.elapsed().as_secs_f64();

    let mut data = Vec::new();
    std::fs::File::open(kept)
        .and_then(|mut f| f.read_to_end(&mut data))
        .expect("the kept tar");
    let t1 = Instant::now();
    let mut e =
        slim::image::write::blocks::BlockEncoder::new(slim::image::Compression::Gzip, io::sink());
    e.write_all(&data).expect("compressing");
    e.finish().expect("compressing");
    let deflate = t1.elapsed().as_secs_f64();
    println!(
        "inflate {:.3} s ({} MiB out) + deflate {:.3} s ({} MiB in, {} threads) = {:.3} s",
        inflate,
        inflated >> 20,
        deflate,
        data.len() >> 20,
        slim::image::write::blocks::threads(),
        inflate + deflate
    );
}
