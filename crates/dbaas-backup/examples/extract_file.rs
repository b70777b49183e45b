//! Extracts a local `.tar.zst` file N times in one process, printing the
//! time, CPU and page faults of each, with PAUSE seconds before each:
//! `extract_file FILE DIR [N [PAUSE]]`. DIR must exist; each extraction
//! goes into a fresh directory in it, removed afterwards.
use std::time::Instant;

fn usage() -> (f64, f64, i64) {
    // SAFETY: getrusage fills the struct it is given.
    let u = unsafe {
        let mut u: nix::libc::rusage = std::mem::zeroed();
        nix::libc::getrusage(nix::libc::RUSAGE_SELF, &mut u);
        u
    };
    let tv = |t: nix::libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (tv(u.ru_utime), tv(u.ru_stime), u.ru_minflt)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let file = &args[1];
    let dir = std::path::Path::new(&args[2]);
    let n: usize = args.get(3).map(|s| s.parse().unwrap()).unwrap_or(2);
    let pause: u64 = args.get(4).map(|s| s.parse().unwrap()).unwrap_or(0);
    for i in 0..n {
        std::thread::sleep(std::time::Duration::from_secs(pause));
        let data = bytes::Bytes::from(std::fs::read(file).unwrap());
        let target = dir.join(format!("x{i}"));
        std::fs::create_dir(&target).unwrap();
        let (u0, s0, f0) = usage();
        let t = Instant::now();
        let (tx, rx) = tokio::sync::mpsc::channel(2);
        tx.try_send(data).unwrap();
        drop(tx);
        let input = dbaas_backup::extract::ChannelReader::new(rx);
        let decoder = zstd::stream::read::Decoder::with_buffer(input).unwrap();
        let opts = dbaas_backup::extract::Options {
            writers: 4,
            owner: None,
            fsync: true,
        };
        let got = dbaas_backup::extract::extract(decoder, &target, &opts).unwrap();
        let (u1, s1, f1) = usage();
        println!(
            "extract {i}: {:.2} s, user {:.2} s, system {:.2} s, {} page faults, {} bytes",
            t.elapsed().as_secs_f64(),
            u1 - u0,
            s1 - s0,
            f1 - f0,
            got.bytes
        );
        std::fs::remove_dir_all(&target).unwrap();
    }
}
