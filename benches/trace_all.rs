//! Trace every ELF file of an image: parse them all (in parallel), then
//! compute each one's loader closure. Prints the time of each phase, and the
//! list of ELF files to FILE when asked (benches/trace.sh runs lddtree on it).
//!
//! usage: cargo bench --bench trace_all -- IMAGE [LIST_OUT]

use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let Some(image) = args.first() else {
        eprintln!("usage: cargo bench --bench trace_all -- IMAGE [LIST_OUT]");
        std::process::exit(2);
    };
    let t0 = Instant::now();
    let r = slim::image::ImageRef::parse(image).expect("image reference");
    let img = slim::transport::local::open(&r, None).expect("open");
    let layers = slim::image::read_layers(&img, &slim::progress::Silent).expect("read layers");
    let read = t0.elapsed().as_secs_f64();

    let t1 = Instant::now();
    let loader = slim::trace::Loader::new(&layers, &[]);
    loader.preload_all();
    let files: Vec<&str> = layers
        .tree
        .iter()
        .filter(|(_, n)| n.is_file())
        .map(|(p, _)| p)
        .collect();
    let elfs: Vec<String> = files
        .iter()
        .filter(|p| {
            loader
                .elf_at(p)
                .is_some_and(|i| i.kind != goblin::elf::header::ET_REL)
        })
        .map(|p| format!("/{p}"))
        .collect();
    let parse = t1.elapsed().as_secs_f64();

    let t2 = Instant::now();
    let mut edges = 0;
    for f in &elfs {
        let obj = loader.object(f).expect("an ELF file");
        edges += slim::trace::elf_closure(&loader, std::slice::from_ref(&obj))
            .edges
            .len();
    }
    let closure = t2.elapsed().as_secs_f64();
    if let Some(out) = args.get(1) {
        std::fs::write(out, elfs.join("\n") + "\n").expect("write list");
    }
    println!(
        "{}: read+verify {read:.2} s; {} files sniffed, {} ELF parsed {parse:.2} s; {} closures ({edges} edges) {closure:.2} s; trace total {:.2} s",
        image,
        files.len(),
        elfs.len(),
        elfs.len(),
        parse + closure
    );
}
