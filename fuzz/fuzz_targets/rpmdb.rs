//! The SQLite, BerkeleyDB and rpm header readers never panic, whatever the
//! bytes: `cargo fuzz run rpmdb`. The first byte picks what the rest is: an
//! rpm header blob, an rpmdb.sqlite file, a file and a WAL split in two, or a
//! BerkeleyDB `Packages` file.
#![no_main]

use libfuzzer_sys::fuzz_target;
use slim::catalog::{rpm, sqlite};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 4 {
        0 => {
            if let Ok(h) = rpm::Header::parse(rest) {
                let _ = rpm::package(&h, "db");
            }
        }
        1 => {
            let _ = rpm::parse_sqlite(rest, None, "db");
        }
        3 => {
            let _ = rpm::bdb_headers(rest, "db");
        }
        _ => {
            let at = rest.len() / 2;
            let (file, wal) = rest.split_at(at);
            if let Ok(db) = sqlite::Db::open(file, Some(wal)) {
                let _ = db.rows("Packages", |_, _| Ok(()));
            }
        }
    }
});
