//! Deterministic compression of layer blobs.
//!
//! gzip: the stream is cut into fixed 1 MiB blocks, each deflated on its own
//! at level 5 and ended with a sync flush, in parallel; the blocks are
//! concatenated in order and closed with an empty final block. The output
//! depends only on the input, never on the number of threads, and any gzip
//! reader accepts it (this is how pigz works without shared dictionaries).
//! The deflate implementation (zlib-rs, called directly) and the level are
//! pinned in the workspace manifest: changing them changes blob digests.
//!
//! zstd: level 3, single-threaded, no checksum, no content size in the frame
//! header, with the library version pinned likewise.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::sync::mpsc;
use std::thread;

use crate::digest::Sha256;

use crate::digest::{Digest, HashingWriter};

/// gzip level. Part of the format: see the module docs. zlib-rs's level 5
/// compresses within 0.3 % of level 6 on package contents, 10-20 % faster.
const GZIP_LEVEL: i32 = 5;
/// zstd level. Part of the format: see the module docs.
const ZSTD_LEVEL: i32 = 3;
/// Input bytes per independently deflated block. Part of the format.
const GZIP_BLOCK: usize = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    #[default]
    Gzip,
    Zstd,
}

impl Compression {
    pub fn media_type(self) -> &'static str {
        match self {
            Self::Gzip => crate::LAYER_MEDIA_TYPE_GZIP,
            Self::Zstd => crate::LAYER_MEDIA_TYPE_ZSTD,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Gzip => "gzip",
            Self::Zstd => "zstd",
        }
    }
}

/// Writes the gzip format with blocks deflated in parallel.
#[derive(Debug)]
pub struct ParallelGzip<W: Write> {
    out: W,
    block: Vec<u8>,
    crc: crc32fast::Hasher,
    total_in: u64,
    threads: usize,
    pool: Option<Pool>,
    header_written: bool,
}

#[derive(Debug)]
struct Pool {
    jobs: Option<mpsc::SyncSender<(u64, Vec<u8>)>>,
    results: mpsc::Receiver<(u64, io::Result<Vec<u8>>)>,
    workers: Vec<thread::JoinHandle<()>>,
    next_to_send: u64,
    next_to_write: u64,
    done: BTreeMap<u64, Vec<u8>>,
}

impl<W: Write> ParallelGzip<W> {
    /// `threads` only changes speed, never output.
    pub fn new(out: W, threads: usize) -> Self {
        Self {
            out,
            block: Vec::with_capacity(GZIP_BLOCK),
            crc: crc32fast::Hasher::new(),
            total_in: 0,
            threads: threads.max(1),
            pool: None,
            header_written: false,
        }
    }

    fn write_header(&mut self) -> io::Result<()> {
        if !self.header_written {
            // magic, deflate, no flags, mtime 0, no extra flags, OS unknown:
            // nothing about the machine that wrote it.
            self.out.write_all(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff])?;
            self.header_written = true;
        }
        Ok(())
    }

    fn submit_block(&mut self) -> io::Result<()> {
        let data = std::mem::replace(&mut self.block, Vec::with_capacity(GZIP_BLOCK));
        self.crc.update(&data);
        self.total_in += data.len() as u64;
        self.write_header()?;
        if self.threads == 1 {
            let compressed = deflate_block(&data)?;
            return self.out.write_all(&compressed);
        }
        let threads = self.threads;
        let pool = self.pool.get_or_insert_with(|| Pool::start(threads));
        let seq = pool.next_to_send;
        pool.next_to_send += 1;
        pool.send(seq, data)?;
        // Bound memory: at most two blocks per thread in flight.
        while pool.next_to_send - pool.next_to_write > 2 * threads as u64 {
            pool.write_ready(&mut self.out, true)?;
        }
        pool.write_ready(&mut self.out, false)
    }

    /// Flushes every block and writes the trailer; returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        if !self.block.is_empty() || !self.header_written {
            self.submit_block()?;
        }
        if let Some(mut pool) = self.pool.take() {
            pool.jobs = None;
            while pool.next_to_write < pool.next_to_send {
                pool.write_ready(&mut self.out, true)?;
            }
            for worker in pool.workers.drain(..) {
                let _ = worker.join();
            }
        }
        // An empty final block with fixed Huffman codes ends the deflate stream.
        self.out.write_all(&[0x03, 0x00])?;
        let crc = self.crc.clone().finalize();
        self.out.write_all(&crc.to_le_bytes())?;
        self.out.write_all(&(self.total_in as u32).to_le_bytes())?;
        Ok(self.out)
    }
}

impl<W: Write> Write for ParallelGzip<W> {
    fn write(&mut self, mut buf: &[u8]) -> io::Result<usize> {
        let len = buf.len();
        while !buf.is_empty() {
            let room = GZIP_BLOCK - self.block.len();
            let take = room.min(buf.len());
            self.block.extend_from_slice(&buf[..take]);
            buf = &buf[take..];
            if self.block.len() == GZIP_BLOCK {
                self.submit_block()?;
            }
        }
        Ok(len)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

impl Pool {
    fn start(threads: usize) -> Self {
        let (job_tx, job_rx) = mpsc::sync_channel::<(u64, Vec<u8>)>(threads);
        let job_rx = std::sync::Arc::new(std::sync::Mutex::new(job_rx));
        let (result_tx, results) = mpsc::channel();
        let workers = (0..threads)
            .map(|_| {
                let jobs = std::sync::Arc::clone(&job_rx);
                let results = result_tx.clone();
                thread::spawn(move || {
                    loop {
                        let job = match jobs.lock() {
                            Ok(rx) => rx.recv(),
                            Err(_) => return,
                        };
                        let Ok((seq, data)) = job else { return };
                        if results.send((seq, deflate_block(&data))).is_err() {
                            return;
                        }
                    }
                })
            })
            .collect();
        Self { jobs: Some(job_tx), results, workers, next_to_send: 0, next_to_write: 0, done: BTreeMap::new() }
    }

    fn send(&mut self, seq: u64, data: Vec<u8>) -> io::Result<()> {
        let jobs = self.jobs.as_ref().ok_or_else(|| io::Error::other("compressor already finished"))?;
        jobs.send((seq, data)).map_err(|_| io::Error::other("a compression thread stopped"))
    }

    /// Writes finished blocks in order; with `wait`, blocks for at least one.
    fn write_ready(&mut self, out: &mut impl Write, wait: bool) -> io::Result<()> {
        if wait {
            let (seq, block) = self.results.recv().map_err(|_| io::Error::other("a compression thread stopped"))?;
            self.done.insert(seq, block?);
        }
        while let Ok((seq, block)) = self.results.try_recv() {
            self.done.insert(seq, block?);
        }
        while let Some(block) = self.done.remove(&self.next_to_write) {
            out.write_all(&block)?;
            self.next_to_write += 1;
        }
        Ok(())
    }
}

/// Deflates one block on its own, ending on a byte boundary (sync flush).
///
/// zlib-rs is called directly rather than through flate2: flate2 picks its
/// backend by cargo feature, so any crate in the build that enabled another
/// backend would silently change every blob. zlib-rs's SIMD paths (match
/// comparison, hash sliding) compute the same results as its scalar ones,
/// so the output does not depend on the CPU either.
fn deflate_block(data: &[u8]) -> io::Result<Vec<u8>> {
    deflate_block_at(data, GZIP_LEVEL)
}

fn deflate_block_at(data: &[u8], level: i32) -> io::Result<Vec<u8>> {
    use zlib_rs::{Deflate, DeflateConfig, DeflateFlush, Method, Strategy};
    let mut deflate = Deflate::new_with_config(DeflateConfig {
        level,
        method: Method::Deflated,
        // Negative window bits: raw deflate, no zlib header.
        window_bits: -15,
        mem_level: 8,
        strategy: Strategy::Default,
    });
    // Far more room than deflate can ever need, so one call always
    // completes: a sync flush that ran out of room would emit extra
    // markers, and the output would then depend on the buffer size.
    let mut out = vec![0u8; zlib_rs::compress_bound(data.len()) + 1024];
    let status = deflate.compress(data, &mut out, DeflateFlush::SyncFlush);
    let (consumed, written) = (deflate.total_in(), deflate.total_out());
    // Output room left over proves the flush completed.
    if status.is_err() || consumed != data.len() as u64 || written >= out.len() as u64 {
        return Err(io::Error::other(format!(
            "deflate stopped early ({status:?}, {consumed} of {} bytes)",
            data.len()
        )));
    }
    out.truncate(written as usize);
    Ok(out)
}

/// The sink a canonical tar is written into: hashes the uncompressed stream
/// (the content digest, the OCI `diff_id`), compresses it, and hashes the
/// compressed bytes (the blob digest) on their way to `out`.
#[allow(missing_debug_implementations)]
pub struct LayerSink<W: Write> {
    uncompressed: Sha256,
    uncompressed_size: u64,
    encoder: Encoder<W>,
}

enum Encoder<W: Write> {
    Gzip(ParallelGzip<HashingWriter<W>>),
    Zstd(zstd::stream::write::Encoder<'static, HashingWriter<W>>),
}

/// Digests and sizes of one written layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayerSummary {
    pub compression: Compression,
    /// sha256 of the uncompressed canonical tar: content id and `diff_id`.
    pub content_digest: Digest,
    pub content_size: u64,
    /// sha256 of the compressed blob.
    pub blob_digest: Digest,
    pub blob_size: u64,
}

impl<W: Write> LayerSink<W> {
    pub fn new(out: W, compression: Compression) -> io::Result<Self> {
        let hashed = HashingWriter::new(out);
        let encoder = match compression {
            Compression::Gzip => {
                let threads = thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
                Encoder::Gzip(ParallelGzip::new(hashed, threads))
            }
            Compression::Zstd => {
                let mut enc = zstd::stream::write::Encoder::new(hashed, ZSTD_LEVEL)?;
                enc.include_checksum(false)?;
                enc.include_contentsize(false)?;
                enc.include_dictid(false)?;
                Encoder::Zstd(enc)
            }
        };
        Ok(Self { uncompressed: Sha256::new(), uncompressed_size: 0, encoder })
    }

    pub fn finish(self) -> io::Result<(W, LayerSummary)> {
        let (compression, hashed) = match self.encoder {
            Encoder::Gzip(gz) => (Compression::Gzip, gz.finish()?),
            Encoder::Zstd(z) => (Compression::Zstd, z.finish()?),
        };
        let (out, blob_digest, blob_size) = hashed.into_parts();
        let summary = LayerSummary {
            compression,
            content_digest: self.uncompressed.finalize(),
            content_size: self.uncompressed_size,
            blob_digest,
            blob_size,
        };
        Ok((out, summary))
    }
}

impl<W: Write> Write for LayerSink<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = match &mut self.encoder {
            Encoder::Gzip(gz) => gz.write(buf)?,
            Encoder::Zstd(z) => z.write(buf)?,
        };
        self.uncompressed.update(&buf[..n]);
        self.uncompressed_size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.encoder {
            Encoder::Gzip(gz) => gz.flush(),
            Encoder::Zstd(z) => z.flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn sample(len: usize) -> Vec<u8> {
        // Compressible but not trivially so.
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        (0..len)
            .map(|i| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                if i % 3 == 0 { b'a' + (state % 8) as u8 } else { (state >> 24) as u8 % 16 + b'0' }
            })
            .collect()
    }

    fn gzip_with(threads: usize, data: &[u8]) -> Vec<u8> {
        let mut gz = ParallelGzip::new(Vec::new(), threads);
        for chunk in data.chunks(7919) {
            gz.write_all(chunk).unwrap();
        }
        gz.finish().unwrap()
    }

    #[test]
    fn gzip_output_is_independent_of_threads_and_decodes() {
        for len in [0, 1, GZIP_BLOCK - 1, GZIP_BLOCK, GZIP_BLOCK + 1, 3 * GZIP_BLOCK + 12345] {
            let data = sample(len);
            let one = gzip_with(1, &data);
            assert_eq!(one, gzip_with(2, &data), "len {len}");
            assert_eq!(one, gzip_with(5, &data), "len {len}");
            let mut decoded = Vec::new();
            flate2::read::GzDecoder::new(one.as_slice()).read_to_end(&mut decoded).unwrap();
            assert_eq!(decoded, data, "len {len}");
        }
    }

    /// Text-like data: words of a fixed vocabulary drawn with a skewed
    /// frequency, so match chains grow long, as in real files, and every
    /// deflate level makes different choices.
    fn sample_text(len: usize) -> Vec<u8> {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let vocabulary: Vec<Vec<u8>> =
            (0..2000).map(|_| (0..2 + next() % 9).map(|_| b'a' + (next() % 26) as u8).collect()).collect();
        let mut out = Vec::with_capacity(len + 16);
        while out.len() < len {
            let r = (next() % 1_000_000) as f64 / 1_000_000.0;
            out.extend_from_slice(&vocabulary[(r * r * r * vocabulary.len() as f64) as usize]);
            out.push(if next() % 12 == 0 { b'\n' } else { b' ' });
        }
        out.truncate(len);
        out
    }

    #[test]
    fn the_text_sample_tells_deflate_levels_apart() {
        let data = sample_text(GZIP_BLOCK);
        let outputs: Vec<Vec<u8>> = (1..=9).map(|level| deflate_block_at(&data, level).unwrap()).collect();
        for (i, a) in outputs.iter().enumerate() {
            for b in &outputs[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }

    /// Digest and size of `data` compressed with gzip, then with zstd.
    fn compressed_both_ways(data: &[u8]) -> [(String, u64); 2] {
        [Compression::Gzip, Compression::Zstd].map(|compression| {
            let mut sink = LayerSink::new(Vec::new(), compression).unwrap();
            sink.write_all(data).unwrap();
            let (_, summary) = sink.finish().unwrap();
            (summary.blob_digest.to_string(), summary.blob_size)
        })
    }

    /// The exact bytes are part of the format: a change of library, version,
    /// backend or level must show up here, not in users' digests.
    #[test]
    fn text_compresses_to_pinned_bytes() {
        assert_eq!(
            compressed_both_ways(&sample_text(2 * GZIP_BLOCK + 999)),
            [
                ("sha256:8ae02b09d3109430a43eaf0a124bb10678b9727333977a05e1cd729ece16e300".to_string(), 751_661),
                ("sha256:3a285ede518ad3386df5d8661b29bdaf1feed7530f43b22fb469e0583d421390".to_string(), 678_408),
            ]
        );
    }

    /// The same for less compressible data.
    #[test]
    fn compressed_bytes_are_pinned() {
        assert_eq!(
            compressed_both_ways(&sample(3 * GZIP_BLOCK + 4321)),
            [
                ("sha256:3ab45c49820964817439268f452e5afd736845c21e8ed4b44d2c4d8fb7827e46".to_string(), 1_778_151),
                ("sha256:5dd34763a3e92c52b59f02bb7c481793d3cc237b60295c739721cd9b92f47497".to_string(), 1_830_953),
            ]
        );
    }

    #[test]
    fn zstd_round_trips() {
        let data = sample(100_000);
        let mut sink = LayerSink::new(Vec::new(), Compression::Zstd).unwrap();
        sink.write_all(&data).unwrap();
        let (blob, summary) = sink.finish().unwrap();
        assert_eq!(summary.content_size, data.len() as u64);
        assert_eq!(summary.blob_digest, crate::sha256_bytes(&blob));
        assert_eq!(zstd::decode_all(blob.as_slice()).unwrap(), data);
    }
}
