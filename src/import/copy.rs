//! Streams one table from the source into the target: `COPY … TO STDOUT` on the source,
//! rows checked and hashed on the way, `COPY … FROM STDIN` on the target in batches. Memory
//! holds at most a few batches whatever the table's size. A batch the target refuses is
//! retried row by row, so one bad row costs its own place, never its neighbours'.

use std::io::Write;

use bytes::{Bytes, BytesMut};
use futures_util::{SinkExt, StreamExt};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio_postgres::Client;

use super::source::TableMap;

/// Count and order-independent content checksum of a set of rows: the wrapping sum of the
/// first 8 bytes of each row's SHA-256. Equal sums mean the same rows (as a multiset), in
/// whatever order they were read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Checksum {
    pub rows: u64,
    sum: u64,
}

impl Checksum {
    pub fn hash(line: &[u8]) -> u64 {
        let d = Sha256::digest(line);
        u64::from_be_bytes(d[..8].try_into().expect("8 bytes"))
    }

    pub fn add(&mut self, h: u64) {
        self.rows += 1;
        self.sum = self.sum.wrapping_add(h);
    }

    pub fn remove(&mut self, h: u64) {
        self.rows -= 1;
        self.sum = self.sum.wrapping_sub(h);
    }

    pub fn hex(&self) -> String {
        format!("{:016x}", self.sum)
    }
}

/// A source row that did not arrive, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Reject {
    pub table: &'static str,
    /// The row's id (items) or name (categories) in the source.
    pub source_key: String,
    pub reason: String,
}

/// What happened to one table.
#[derive(Debug, Clone, Serialize)]
pub struct TableReport {
    pub table: &'static str,
    pub source_rows: u64,
    pub source_checksum: String,
    pub imported_rows: u64,
    /// Checksum of the imported rows as read from the source.
    pub imported_checksum: String,
    pub rejected_rows: u64,
    pub target_rows: u64,
    pub target_checksum: String,
    pub verified: bool,
}

/// Decodes a COPY text field (`\N` is NULL).
pub fn unescape(field: &[u8]) -> Option<String> {
    if field == b"\\N" {
        return None;
    }
    let mut out = Vec::with_capacity(field.len());
    let mut it = field.iter();
    while let Some(&b) = it.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        match it.next() {
            Some(b't') => out.push(b'\t'),
            Some(b'n') => out.push(b'\n'),
            Some(b'r') => out.push(b'\r'),
            Some(b'b') => out.push(8),
            Some(b'f') => out.push(12),
            Some(b'v') => out.push(11),
            Some(&c) => out.push(c),
            None => out.push(b'\\'),
        }
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

/// Decides per row, from its mapped fields, whether the target can take it.
pub type Check<'a> = dyn Fn(&[&[u8]]) -> Result<(), String> + Send + Sync + 'a;

struct Batch {
    data: BytesMut,
    /// (end offset in `data`, source key, hash) per row.
    rows: Vec<(usize, String, u64)>,
}

impl Batch {
    fn new() -> Self {
        Batch {
            data: BytesMut::new(),
            rows: Vec::new(),
        }
    }
}

/// The reader's side of a writer failure; the writer's own error is the one to report.
#[derive(Debug, thiserror::Error)]
#[error("the writer stopped")]
struct WriterStopped;

/// Where rows' new ids are written (`source_key,new id`), when ids change.
pub type IdMap = std::io::BufWriter<std::fs::File>;

pub struct Copy<'a> {
    pub map: &'a TableMap,
    pub check: &'a Check<'a>,
    pub batch_rows: usize,
    pub progress: &'a indicatif::ProgressBar,
    pub id_map: Option<&'a mut IdMap>,
}

impl Copy<'_> {
    /// Copies the table; `source` must be inside the import's snapshot transaction and
    /// `target` inside a transaction (batches use savepoints).
    pub async fn run(
        mut self,
        source: &Client,
        target: &Client,
        rejects: &mut Vec<Reject>,
    ) -> anyhow::Result<TableReport> {
        let table = self.map.target_table;
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Batch>(2);
        let mut id_map = self.id_map.take();
        let mut got = Read::default();
        let read = read(source, &self, tx, &mut got);

        let copy_in = format!(
            "COPY workspace.{table} ({}) FROM STDIN",
            self.map.target_columns().join(", ")
        );
        let mut failed = Vec::new();
        let mut lost = Vec::new();
        let write = async {
            while let Some(batch) = rx.recv().await {
                let data = batch.data.freeze();
                target.batch_execute("SAVEPOINT import_batch").await?;
                match send(target, &copy_in, data.clone()).await {
                    Ok(()) => {
                        target
                            .batch_execute("RELEASE SAVEPOINT import_batch")
                            .await?
                    }
                    Err(_) => {
                        target
                            .batch_execute("ROLLBACK TO SAVEPOINT import_batch")
                            .await?;
                        let refused = row_by_row(target, &copy_in, &data, &batch.rows).await?;
                        for (h, key, why) in refused {
                            lost.push(h);
                            failed.push(Reject {
                                table,
                                source_key: key,
                                reason: format!("the target refused it: {why}"),
                            });
                        }
                    }
                }
                if let Some(w) = id_map.as_deref_mut() {
                    write_ids(w, &data, &batch.rows, &failed)?;
                }
            }
            anyhow::Ok(())
        };
        let (r, w) = tokio::join!(read, write);
        // Each side stops when the other fails; report the failure that came first: the
        // reader's own (a lost source), else the writer's (a lost or refusing target).
        match (r, w) {
            (Err(e), _) if !e.is::<WriterStopped>() => return Err(e),
            (_, Err(e)) | (Err(e), Ok(())) => return Err(e),
            (Ok(()), Ok(())) => {}
        }
        let Read {
            source_sum,
            mut accepted,
            refused,
        } = got;
        for h in lost {
            accepted.remove(h);
        }
        let target_sum = target_checksum(target, self.map).await?;
        let rejected = refused.len() + failed.len();
        rejects.extend(refused);
        rejects.extend(failed);
        Ok(TableReport {
            table,
            source_rows: source_sum.rows,
            source_checksum: source_sum.hex(),
            imported_rows: accepted.rows,
            imported_checksum: accepted.hex(),
            rejected_rows: rejected as u64,
            target_rows: target_sum.rows,
            target_checksum: target_sum.hex(),
            verified: target_sum == accepted && accepted.rows + rejected as u64 == source_sum.rows,
        })
    }
}

/// What the reader saw: every source row's hash, the accepted rows' hashes, and the rows
/// the checks refused.
#[derive(Default)]
struct Read {
    source_sum: Checksum,
    accepted: Checksum,
    refused: Vec<Reject>,
}

/// Streams the source's COPY, checks each row and sends the accepted ones to the writer in
/// batches.
async fn read(
    source: &Client,
    copy: &Copy<'_>,
    tx: tokio::sync::mpsc::Sender<Batch>,
    got: &mut Read,
) -> anyhow::Result<()> {
    let table = copy.map.target_table;
    let stream = source.copy_out(copy.map.source_copy().as_str()).await?;
    futures_util::pin_mut!(stream);
    let mut pending = BytesMut::new();
    let mut batch = Batch::new();
    let mut since_tick = 0u64;
    loop {
        let chunk = stream.next().await.transpose()?;
        let done = chunk.is_none();
        if let Some(c) = chunk {
            pending.extend_from_slice(&c);
        }
        while let Some(nl) = pending.iter().position(|&b| b == b'\n') {
            let line = pending.split_to(nl + 1);
            let tab = line.iter().position(|&b| b == b'\t').unwrap_or(nl);
            let key = unescape(&line[..tab]).unwrap_or_default();
            let row = &line[(tab + 1).min(nl)..nl + 1];
            let h = Checksum::hash(row);
            got.source_sum.add(h);
            let fields: Vec<&[u8]> = row[..row.len() - 1].split(|&b| b == b'\t').collect();
            match (copy.check)(&fields) {
                Ok(()) => {
                    got.accepted.add(h);
                    batch.data.extend_from_slice(row);
                    batch.rows.push((batch.data.len(), key, h));
                }
                Err(reason) => got.refused.push(Reject {
                    table,
                    source_key: key,
                    reason,
                }),
            }
            since_tick += 1;
            if since_tick == 1000 {
                copy.progress.inc(since_tick);
                since_tick = 0;
            }
            if batch.rows.len() >= copy.batch_rows {
                let full = std::mem::replace(&mut batch, Batch::new());
                if tx.send(full).await.is_err() {
                    return Err(WriterStopped.into());
                }
            }
        }
        if done {
            break;
        }
    }
    copy.progress.inc(since_tick);
    if !pending.is_empty() {
        anyhow::bail!("the source's COPY stream ended in the middle of a row");
    }
    if !batch.rows.is_empty() && tx.send(batch).await.is_err() {
        return Err(WriterStopped.into());
    }
    drop(tx);
    Ok(())
}

/// Sends a refused batch's rows one at a time (each in its own savepoint); returns the hash,
/// source key and the target's reason for each row it refuses.
async fn row_by_row(
    target: &Client,
    copy_in: &str,
    data: &Bytes,
    rows: &[(usize, String, u64)],
) -> anyhow::Result<Vec<(u64, String, String)>> {
    let mut refused = Vec::new();
    let mut start = 0;
    for (end, key, h) in rows {
        let line = data.slice(start..*end);
        start = *end;
        target.batch_execute("SAVEPOINT import_row").await?;
        match send(target, copy_in, line).await {
            Ok(()) => target.batch_execute("RELEASE SAVEPOINT import_row").await?,
            Err(e) => {
                target
                    .batch_execute("ROLLBACK TO SAVEPOINT import_row")
                    .await?;
                let why = e
                    .as_db_error()
                    .map_or(e.to_string(), |d| d.message().to_string());
                refused.push((*h, key.clone(), why));
            }
        }
    }
    Ok(refused)
}

/// `source_key,new id` for each row of the batch the target took.
fn write_ids(
    w: &mut IdMap,
    data: &[u8],
    rows: &[(usize, String, u64)],
    failed: &[Reject],
) -> anyhow::Result<()> {
    let new_ids = rows.iter().scan(0, |start, (end, key, _)| {
        let line = &data[*start..*end];
        *start = *end;
        let id = line.split(|&b| b == b'\t').next().unwrap_or_default();
        Some((key, String::from_utf8_lossy(id).into_owned()))
    });
    for (key, id) in new_ids {
        if !failed.iter().any(|r: &Reject| &r.source_key == key) {
            writeln!(w, "{key},{id}")?;
        }
    }
    Ok(())
}

async fn send(target: &Client, stmt: &str, data: Bytes) -> Result<(), tokio_postgres::Error> {
    let sink = target.copy_in::<_, Bytes>(stmt).await?;
    futures_util::pin_mut!(sink);
    sink.send(data).await?;
    sink.finish().await.map(|_| ())
}

/// The target's rows over the same columns, hashed the same way.
pub async fn target_checksum(target: &Client, map: &TableMap) -> anyhow::Result<Checksum> {
    let stream = target.copy_out(map.target_copy().as_str()).await?;
    futures_util::pin_mut!(stream);
    let mut sum = Checksum::default();
    let mut pending = BytesMut::new();
    while let Some(chunk) = stream.next().await.transpose()? {
        pending.extend_from_slice(&chunk);
        while let Some(nl) = pending.iter().position(|&b| b == b'\n') {
            let line = pending.split_to(nl + 1);
            sum.add(Checksum::hash(&line));
        }
    }
    Ok(sum)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_ignore_order_and_count_duplicates() {
        let rows: [&[u8]; 3] = [b"1\ta\n", b"2\tb\n", b"2\tb\n"];
        let (mut a, mut b) = (Checksum::default(), Checksum::default());
        for r in rows {
            a.add(Checksum::hash(r));
        }
        for r in rows.iter().rev() {
            b.add(Checksum::hash(r));
        }
        assert_eq!(a, b);
        b.remove(Checksum::hash(b"2\tb\n"));
        assert_ne!(a, b, "a duplicate is a row of its own");
        b.add(Checksum::hash(b"2\tc\n"));
        assert_ne!(a, b);
    }

    #[test]
    fn copy_text_fields_are_decoded() {
        assert_eq!(unescape(b"\\N"), None);
        assert_eq!(unescape(b"a\\tb\\\\c\\n").as_deref(), Some("a\tb\\c\n"));
        assert_eq!(unescape("ação".as_bytes()).as_deref(), Some("ação"));
    }
}
