//! In-process extraction of the tar stream `pg_basebackup -F tar -D -`
//! writes, into a fresh data directory.
//!
//! One thread reads the stream (decompressing and parsing it) and hands
//! file contents in bounded chunks to a pool of writer threads, which
//! write them at their offsets (so a large file is written by all writers
//! at once) and start each file's write-back once its last chunk is
//! written; at the end one syncfs of the target's file system makes it all
//! durable (measured: much faster than an fsync per file, which
//! serialises on the journal), then the directories are fsynced. Large
//! files are written with direct I/O (O_DIRECT) in whole blocks, from
//! reused buffers straight to the device: no page-cache memory to fill,
//! little left for the final sync. Memory is bounded by the queue:
//! `2 × writers` chunks of at most [`CHUNK`] bytes, plus one chunk per
//! writer.
//!
//! What the stream may contain is what pg_basebackup writes: directories,
//! regular files, and symbolic links. Every path must stay inside the
//! target: absolute paths and `..` are refused, and a symbolic link must
//! point downwards (a relative target of plain names), so that no link can
//! lead a later entry, or the engine, out of the data directory.
//! (pg_basebackup writes a link for each tablespace, pointing to its
//! absolute location; it cannot write tablespaces to standard output, so a
//! backup taken by dbaas holds none, and such a link is refused.)
//! Files keep the modes of the archive; when an owner is given, every
//! entry is given to it. Nothing is overwritten: an entry whose path
//! exists is refused. A stream that ends before the archive's end marker,
//! or in the middle of a file, fails.

use std::collections::HashSet;
use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{self, BufRead, Read};
use std::os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};

use nix::unistd::{Gid, Uid};

/// Largest piece of a file handed to a writer at once.
pub const CHUNK: usize = 2 * 1024 * 1024;

/// Alignment of direct writes (memory, file offset and length): the
/// largest logical block size of common devices.
const ALIGN: usize = 4096;

/// Files at least this large are written with direct I/O, in whole
/// blocks (the unaligned tail through the page cache).
const DIRECT_FROM: u64 = CHUNK as u64 / 4;

/// How to extract.
#[derive(Debug, Clone)]
pub struct Options {
    /// Writer threads (at least 1).
    pub writers: usize,
    /// Whom every entry is given to (chown), when set.
    pub owner: Option<(Uid, Gid)>,
    /// Make every file and directory durable before returning.
    pub fsync: bool,
}

/// What was extracted.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Extracted {
    pub files: u64,
    pub directories: u64,
    pub symlinks: u64,
    /// Bytes of file contents written.
    pub bytes: u64,
}

/// An open file being written, fsynced by whichever writer drops the last
/// reference to it.
struct OpenTarget {
    file: File,
    /// The same file opened with O_DIRECT, for its block-aligned pieces
    /// (large files, where the file system allows it).
    direct: Option<File>,
    name: PathBuf,
}

/// A piece of a file: `len` bytes of `data` from `start`, for `offset` in
/// the file. Chunk-sized buffers are over-allocated by [`ALIGN`] so that
/// `start` can be block-aligned for direct I/O, and are reused (their
/// whole length stays initialised, so refilling them costs no clearing).
struct Chunk {
    target: Arc<OpenTarget>,
    offset: u64,
    data: Vec<u8>,
    start: usize,
    len: usize,
}

impl Chunk {
    fn bytes(&self) -> &[u8] {
        &self.data[self.start..self.start + self.len]
    }

    /// Written with direct I/O: the file has a direct handle and the piece
    /// is block-aligned in memory, offset and length.
    fn direct(&self) -> Option<&File> {
        let d = self.target.direct.as_ref()?;
        let mask = ALIGN - 1;
        let aligned = self.bytes().as_ptr() as usize & mask == 0
            && self.offset & mask as u64 == 0
            && self.len & mask == 0
            && self.len > 0;
        aligned.then_some(d)
    }
}

/// A reusable buffer for chunk-sized pieces.
fn chunk_buffer() -> Vec<u8> {
    vec![0u8; CHUNK + ALIGN]
}

/// The first failure of any thread; the others stop at the next check.
#[derive(Default)]
struct Failure {
    set: AtomicBool,
    first: Mutex<Option<String>>,
}

impl Failure {
    fn record(&self, msg: String) {
        let mut first = self.first.lock().unwrap();
        if first.is_none() {
            *first = Some(msg);
        }
        self.set.store(true, Ordering::SeqCst);
    }
    fn is_set(&self) -> bool {
        self.set.load(Ordering::SeqCst)
    }
    fn take(&self) -> Option<String> {
        self.first.lock().unwrap().take()
    }
}

/// Extracts the tar stream `input` into `target`, an existing, empty
/// directory. Returns once every file is written (and durable, with
/// `fsync`).
pub fn extract(input: impl Read, target: &Path, opts: &Options) -> Result<Extracted, String> {
    let writers = opts.writers.max(1);
    let (tx, rx) = mpsc::sync_channel::<Chunk>(2 * writers);
    let rx = Arc::new(Mutex::new(rx));
    // Chunk buffers go back to the reader once written: reusing them
    // spares the page faults of fresh memory for every chunk (measured:
    // a large part of the CPU time of a restore).
    let (spare_tx, spare_rx) = mpsc::channel::<Vec<u8>>();
    let failure = Arc::new(Failure::default());
    let fsync = opts.fsync;
    let pool: Vec<_> = (0..writers)
        .map(|i| {
            let rx = rx.clone();
            let failure = failure.clone();
            let spare = spare_tx.clone();
            std::thread::Builder::new()
                .name(format!("restore-writer-{i}"))
                .spawn(move || write_chunks(&rx, &failure, fsync, &spare))
                .map_err(|e| format!("starting a writer thread: {e}"))
        })
        .collect::<Result<_, _>>()?;

    let mut dirs = Vec::new();
    drop(spare_tx);
    let parsed = read_archive(input, target, opts, &tx, &spare_rx, &failure, &mut dirs);
    drop(tx);
    for t in pool {
        if t.join().is_err() {
            failure.record("a writer thread panicked".into());
        }
    }
    if let Err(e) = &parsed {
        failure.record(e.clone());
    }
    if let Some(e) = failure.take() {
        return Err(e);
    }
    let stats = parsed?;

    // Directories get their archived modes last (a directory without
    // write permission could not have been filled), deepest first, and
    // are made durable after the files in them.
    for (path, mode) in dirs.iter().rev() {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(*mode))
            .map_err(|e| format!("setting the mode of {}: {e}", path.display()))?;
    }
    if fsync {
        // Every file written is flushed by one syncfs of the target's file
        // system (which reports write-back errors since Linux 5.8), then
        // the directories.
        let t = File::open(target).map_err(|e| format!("opening {}: {e}", target.display()))?;
        nix::unistd::syncfs(std::os::fd::AsRawFd::as_raw_fd(&t))
            .map_err(|e| format!("syncing the file system of {}: {e}", target.display()))?;
        for dir in dirs
            .iter()
            .map(|(p, _)| p.as_path())
            .chain([target])
            .chain(target.parent())
        {
            fsync_dir(dir)?;
        }
    }
    Ok(stats)
}

/// Asks the kernel to start writing `file` back now (sync_file_range
/// SYNC_FILE_RANGE_WRITE), so that the final sync finds little to do.
fn start_writeback(file: &File) {
    // SAFETY: a plain system call on a file descriptor we own; it reads
    // and writes no memory of ours. Failure only means the final sync
    // does the work.
    unsafe {
        nix::libc::sync_file_range(
            std::os::fd::AsRawFd::as_raw_fd(file),
            0,
            0,
            nix::libc::SYNC_FILE_RANGE_WRITE,
        );
    }
}

fn fsync_dir(dir: &Path) -> Result<(), String> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| format!("syncing {}: {e}", dir.display()))
}

fn write_chunks(
    rx: &Mutex<mpsc::Receiver<Chunk>>,
    failure: &Failure,
    fsync: bool,
    spare: &mpsc::Sender<Vec<u8>>,
) {
    loop {
        let next = rx.lock().unwrap().recv();
        let Ok(chunk) = next else { return };
        if failure.is_set() {
            // Keep draining so that the reader is never blocked on a full
            // queue; it stops at its next check.
            continue;
        }
        // Large files bypass the page cache: the data goes from these
        // reused buffers to the device, so no page-cache memory is filled
        // (fresh memory is what made buffered writes slow: a restore wrote
        // at a quarter of the speed when the memory its pages took had
        // been idle, on virtual machines whose host reclaims free guest
        // memory), and the final sync has little left to write. Buffered
        // when the file system refuses.
        let written = match chunk.direct() {
            Some(d) => match d.write_all_at(chunk.bytes(), chunk.offset) {
                Err(e) if e.raw_os_error() == Some(nix::libc::EINVAL) => {
                    chunk.target.file.write_all_at(chunk.bytes(), chunk.offset)
                }
                other => other,
            },
            None => chunk.target.file.write_all_at(chunk.bytes(), chunk.offset),
        };
        let Chunk { target, data, .. } = chunk;
        if let Err(e) = written {
            failure.record(format!("writing {}: {e}", target.name.display()));
            continue;
        }
        if data.len() == CHUNK + ALIGN {
            let _ = spare.send(data);
        }
        // The writer of a file's last outstanding chunk closes it, having
        // started its write-back (without waiting for it: the file system
        // is synced once at the end).
        if let Some(done) = Arc::into_inner(target) {
            if fsync {
                start_writeback(&done.file);
            }
        }
    }
}

/// Remembers whether the stream reached its end.
struct EndAware<R> {
    inner: R,
    at_end: bool,
}

impl<R: Read> Read for EndAware<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && !buf.is_empty() {
            self.at_end = true;
        }
        Ok(n)
    }
}

fn read_archive(
    input: impl Read,
    target: &Path,
    opts: &Options,
    tx: &mpsc::SyncSender<Chunk>,
    spare: &mpsc::Receiver<Vec<u8>>,
    failure: &Failure,
    dirs: &mut Vec<(PathBuf, u32)>,
) -> Result<Extracted, String> {
    let mut archive = tar::Archive::new(EndAware {
        inner: input,
        at_end: false,
    });
    let mut stats = Extracted::default();
    // Directories known to exist (relative to the target; "" is the target).
    let mut known: HashSet<PathBuf> = HashSet::from([PathBuf::new()]);
    let entries = archive
        .entries()
        .map_err(|e| format!("reading the archive: {e}"))?;
    for entry in entries {
        if failure.is_set() {
            return Ok(stats);
        }
        let mut entry = entry.map_err(|e| format!("reading the archive: {e}"))?;
        let raw = entry
            .path()
            .map_err(|e| format!("reading an entry's name: {e}"))?
            .into_owned();
        let rel = inside(&raw)?;
        let header = entry.header();
        let mode = header
            .mode()
            .map_err(|e| format!("{}: {e}", raw.display()))?
            & 0o7777;
        let kind = header.entry_type();
        if rel.as_os_str().is_empty() {
            // The target itself ("./"): made by the caller.
            if kind.is_dir() {
                continue;
            }
            return Err(format!("entry {:?} names the target itself", raw));
        }
        let dest = target.join(&rel);
        if let Some(parent) = rel.parent() {
            make_parents(target, parent, &mut known, opts.owner, dirs)?;
        }
        if kind.is_dir() {
            make_dir(&dest, opts.owner)?;
            known.insert(rel);
            dirs.push((dest, mode));
            stats.directories += 1;
        } else if kind.is_file() {
            let size = entry.size();
            stats.bytes += write_file(&mut entry, size, &rel, &dest, mode, opts.owner, tx, spare)?;
            stats.files += 1;
        } else if kind.is_symlink() {
            let link = entry
                .link_name()
                .map_err(|e| format!("{}: {e}", raw.display()))?
                .ok_or_else(|| format!("the symbolic link {} has no target", raw.display()))?
                .into_owned();
            if !points_down(&link) {
                return Err(format!(
                    "the symbolic link {} points to {}, outside the data directory: refused (tablespaces cannot be restored)",
                    rel.display(),
                    link.display()
                ));
            }
            std::os::unix::fs::symlink(&link, &dest)
                .map_err(|e| format!("creating {}: {e}", dest.display()))?;
            if let Some((uid, gid)) = opts.owner {
                nix::unistd::fchownat(
                    None,
                    &dest,
                    Some(uid),
                    Some(gid),
                    nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
                )
                .map_err(|e| format!("chown {}: {e}", dest.display()))?;
            }
            stats.symlinks += 1;
        } else {
            return Err(format!(
                "entry {} is of a kind pg_basebackup does not write ({kind:?}): refused",
                raw.display()
            ));
        }
    }
    // The tar reader stops at the first zero block, or at the end of the
    // stream; only the former is a complete archive. What follows the end
    // marker must be zeros (its second block, padding), read to the end
    // so that the decompressor checks the stream's own end.
    let mut rest = archive.into_inner();
    if rest.at_end {
        return Err("the archive ends without its end marker: it is truncated".into());
    }
    let mut tail = Vec::new();
    rest.read_to_end(&mut tail)
        .map_err(|e| format!("reading the end of the archive: {e}"))?;
    if tail.iter().any(|b| *b != 0) {
        return Err("data follows the archive's end marker".into());
    }
    Ok(stats)
}

/// `path` as a relative path inside the target, or an error when it is
/// absolute or climbs out with `..`.
fn inside(path: &Path) -> Result<PathBuf, String> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(s) => out.push(s),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => {
                return Err(format!(
                    "entry {} leads outside the data directory: refused",
                    path.display()
                ))
            }
        }
    }
    Ok(out)
}

/// A link target made of plain names only: whatever links it passes
/// through, it can only lead further down from the link's directory.
fn points_down(link: &Path) -> bool {
    !link.as_os_str().is_empty()
        && link
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
}

fn make_dir(dest: &Path, owner: Option<(Uid, Gid)>) -> Result<(), String> {
    match DirBuilder::new().mode(0o700).create(dest) {
        Ok(()) => {}
        // The archive may name a directory after a file in it made it.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            let meta = std::fs::symlink_metadata(dest)
                .map_err(|e| format!("creating {}: {e}", dest.display()))?;
            if !meta.is_dir() {
                return Err(format!("creating {}: {e}", dest.display()));
            }
            return Ok(());
        }
        Err(e) => return Err(format!("creating {}: {e}", dest.display())),
    }
    if let Some((uid, gid)) = owner {
        nix::unistd::chown(dest, Some(uid), Some(gid))
            .map_err(|e| format!("chown {}: {e}", dest.display()))?;
    }
    Ok(())
}

/// Makes the missing directories above an entry (mode 0700), as `tar -x`
/// does when an archive lists a file before its directory.
fn make_parents(
    target: &Path,
    parent: &Path,
    known: &mut HashSet<PathBuf>,
    owner: Option<(Uid, Gid)>,
    dirs: &mut Vec<(PathBuf, u32)>,
) -> Result<(), String> {
    if known.contains(parent) {
        return Ok(());
    }
    if let Some(up) = parent.parent() {
        make_parents(target, up, known, owner, dirs)?;
    }
    let dest = target.join(parent);
    make_dir(&dest, owner)?;
    known.insert(parent.to_path_buf());
    dirs.push((dest, 0o700));
    Ok(())
}

/// Creates the file, then queues its contents in chunks. Returns its size.
#[allow(clippy::too_many_arguments)]
fn write_file(
    entry: &mut impl Read,
    size: u64,
    rel: &Path,
    dest: &Path,
    mode: u32,
    owner: Option<(Uid, Gid)>,
    tx: &mpsc::SyncSender<Chunk>,
    spare: &mpsc::Receiver<Vec<u8>>,
) -> Result<u64, String> {
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(dest)
        .map_err(|e| format!("creating {}: {e}", dest.display()))?;
    if let Some((uid, gid)) = owner {
        nix::unistd::fchown(std::os::fd::AsRawFd::as_raw_fd(&file), Some(uid), Some(gid))
            .map_err(|e| format!("chown {}: {e}", dest.display()))?;
    }
    // Exactly the archived mode, whatever the umask.
    file.set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(|e| format!("setting the mode of {}: {e}", dest.display()))?;
    // A second handle with O_DIRECT for a large file; none where the file
    // system does not support it.
    let direct = if size >= DIRECT_FROM {
        OpenOptions::new()
            .write(true)
            .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_DIRECT)
            .open(dest)
            .ok()
    } else {
        None
    };
    let target = Arc::new(OpenTarget {
        file,
        direct,
        name: rel.to_path_buf(),
    });
    let mut offset = 0u64;
    loop {
        let want = (size - offset).min(CHUNK as u64) as usize;
        // Small pieces from the heap; chunk-sized ones reuse a written
        // chunk's buffer when one is back.
        let (mut data, start) = if want >= CHUNK / 4 {
            let b = spare.try_recv().unwrap_or_else(|_| chunk_buffer());
            let start = b.as_ptr().align_offset(ALIGN).min(ALIGN);
            (b, start)
        } else {
            (vec![0u8; want], 0)
        };
        read_full(entry, &mut data[start..start + want]).map_err(|(got, e)| match e {
            Some(e) => format!("reading {} from the archive: {e}", rel.display()),
            None => format!(
                "the archive ends in the middle of {} ({} of {size} bytes): it is truncated",
                rel.display(),
                offset + got as u64
            ),
        })?;
        let last = offset + want as u64 == size;
        let chunk = Chunk {
            target: target.clone(),
            offset,
            data,
            start,
            len: want,
        };
        offset += want as u64;
        if tx.send(chunk).is_err() {
            return Err("the writers stopped".into());
        }
        if last {
            return Ok(size);
        }
    }
}

/// Fills `buf` from `r`; on failure, how much was read and the error
/// (`None`: the input ended).
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> Result<(), (usize, Option<io::Error>)> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => return Err((got, None)),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err((got, Some(e))),
        }
    }
    Ok(())
}

/// A reader over the segments of a backup as they arrive (an async
/// channel read from a blocking thread), without copying them.
pub struct ChannelReader {
    rx: tokio::sync::mpsc::Receiver<bytes::Bytes>,
    current: bytes::Bytes,
}

impl ChannelReader {
    pub fn new(rx: tokio::sync::mpsc::Receiver<bytes::Bytes>) -> Self {
        ChannelReader {
            rx,
            current: bytes::Bytes::new(),
        }
    }
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let avail = self.fill_buf()?;
        let n = avail.len().min(buf.len());
        buf[..n].copy_from_slice(&avail[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for ChannelReader {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(b) => self.current = b,
                None => break,
            }
        }
        Ok(&self.current)
    }
    fn consume(&mut self, amt: usize) {
        let _ = self.current.split_to(amt);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> Options {
        Options {
            writers: 3,
            owner: None,
            fsync: true,
        }
    }

    /// A header for `name` written as is (the builder would refuse the
    /// names these tests need).
    fn header(name: &str, kind: tar::EntryType, size: u64, mode: u32) -> tar::Header {
        let mut h = tar::Header::new_ustar();
        let bytes = name.as_bytes();
        h.as_old_mut().name[..bytes.len()].copy_from_slice(bytes);
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_mode(mode);
        h.set_mtime(0);
        h.set_cksum();
        h
    }

    /// Name, kind, mode, contents, link target.
    type Entry<'a> = (&'a str, tar::EntryType, u32, &'a [u8], Option<&'a str>);

    fn archive(entries: &[Entry]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, kind, mode, data, link) in entries {
            let mut h = header(name, *kind, data.len() as u64, *mode);
            if let Some(l) = link {
                h.set_link_name(l).unwrap();
                h.set_cksum();
            }
            b.append(&h, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    fn mode_of(p: &Path) -> u32 {
        std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
    }

    use tar::EntryType::{Directory, Regular, Symlink};

    #[test]
    fn files_directories_and_links_are_restored_with_their_modes() {
        let big: Vec<u8> = (0..(2 * CHUNK + 12345)).map(|i| (i % 251) as u8).collect();
        let tar = archive(&[
            ("PG_VERSION", Regular, 0o600, b"15\n", None),
            ("base/", Directory, 0o700, b"", None),
            ("base/1/", Directory, 0o750, b"", None),
            ("base/1/16384", Regular, 0o640, &big, None),
            ("base/1/empty", Regular, 0o600, b"", None),
            ("global/pg_control", Regular, 0o600, b"control", None),
            ("tools/run.sh", Regular, 0o755, b"#!/bin/sh\n", None),
            ("link", Symlink, 0o777, b"", Some("base/1")),
        ]);
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("data");
        std::fs::create_dir(&target).unwrap();
        let got = extract(&tar[..], &target, &opts()).unwrap();
        assert_eq!(
            got,
            Extracted {
                files: 5,
                directories: 2,
                symlinks: 1,
                bytes: (big.len() + 3 + 7 + 10) as u64
            }
        );
        assert_eq!(std::fs::read(target.join("base/1/16384")).unwrap(), big);
        assert_eq!(std::fs::read(target.join("PG_VERSION")).unwrap(), b"15\n");
        assert_eq!(std::fs::read(target.join("base/1/empty")).unwrap(), b"");
        assert_eq!(mode_of(&target.join("base/1/16384")), 0o640);
        assert_eq!(mode_of(&target.join("tools/run.sh")), 0o755);
        assert_eq!(mode_of(&target.join("PG_VERSION")), 0o600);
        assert_eq!(mode_of(&target.join("base/1")), 0o750);
        // Not in the archive, made for the file in it.
        assert_eq!(mode_of(&target.join("global")), 0o700);
        assert_eq!(
            std::fs::read_link(target.join("link")).unwrap(),
            Path::new("base/1")
        );
        assert_eq!(
            std::fs::read(target.join("link/empty")).unwrap(),
            b"",
            "the link leads where it says"
        );
    }

    fn refused(tar: &[u8], expect: &str) {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("data");
        std::fs::create_dir(&target).unwrap();
        let e = extract(tar, &target, &opts()).unwrap_err();
        assert!(e.contains(expect), "{e:?} should say {expect:?}");
        // Nothing was written outside the target.
        let outside: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(outside, vec![std::ffi::OsString::from("data")]);
    }

    #[test]
    fn paths_leaving_the_target_are_refused() {
        for name in ["../escape", "base/../../escape", "/tmp/escape"] {
            refused(
                &archive(&[(name, Regular, 0o600, b"x", None)]),
                "leads outside the data directory",
            );
        }
        for link in ["/etc", "..", "base/../..", "../data"] {
            refused(
                &archive(&[("pg_tblspc/16385", Symlink, 0o777, b"", Some(link))]),
                "outside the data directory",
            );
        }
        // A file written through a link is refused by the link check
        // first; a file cannot replace a link either.
        refused(
            &archive(&[
                ("a", Symlink, 0o777, b"", Some("b")),
                ("a", Regular, 0o600, b"x", None),
            ]),
            "File exists",
        );
        refused(
            &archive(&[("dev", tar::EntryType::Block, 0o600, b"", None)]),
            "pg_basebackup does not write",
        );
    }

    #[test]
    fn a_truncated_stream_fails() {
        let data = vec![7u8; 100_000];
        let tar = archive(&[
            ("PG_VERSION", Regular, 0o600, b"15\n", None),
            ("base/1", Regular, 0o600, &data, None),
        ]);
        // In the middle of a file's data.
        refused(&tar[..tar.len() - 1024 - 50_000], "truncated");
        // In the middle of a header.
        refused(&tar[..512 + 512 + 100], "");
        // Right after the last file: no end marker.
        refused(&tar[..tar.len() - 1024], "truncated");
        // The whole archive is fine.
        let dir = tempfile::tempdir().unwrap();
        extract(&tar[..], dir.path(), &opts()).unwrap();
    }

    #[test]
    fn the_channel_reader_joins_the_segments() {
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let compressed = zstd::encode_all(&b"hello, segments"[..], 1).unwrap();
        let (a, b) = compressed.split_at(compressed.len() / 2);
        tx.try_send(bytes::Bytes::copy_from_slice(a)).unwrap();
        tx.try_send(bytes::Bytes::copy_from_slice(b)).unwrap();
        drop(tx);
        let mut out = String::new();
        zstd::stream::read::Decoder::with_buffer(ChannelReader::new(rx))
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, "hello, segments");
    }
}
