//! Upkeep of a lake table, which paimon-rust 0.4 does not do: compaction of primary-key
//! tables, expiry of old snapshots, and removal of files nothing references.
//!
//! Everything happens under the table's commit lock, so no risklake commit interleaves.
//! What is kept:
//! - every file a retained snapshot or a tag needs to be read: its manifest lists, the
//!   manifests they name, the data files live in it (ADD entries not undone by DELETE
//!   entries of the same snapshot's manifests), its changelog files, index files and
//!   statistics;
//! - the newest `retain_last` snapshots, and any snapshot younger than `retain_age_s`, so a
//!   reader that has just planned a read of a recent snapshot finds its files;
//! - files nothing references but younger than `orphan_grace_s`: a write still running
//!   (ours, or another engine's) owns them until its commit.
//!
//! Snapshot files are removed before the files only they referenced, so an interrupted run
//! leaves orphans (removed by the next run), never a snapshot without its data.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use futures::StreamExt;
use paimon::spec::{FileKind, IndexManifest, ManifestList, Snapshot};
use paimon::Table;
use serde::{Deserialize, Serialize};

use risklake_core::error::ResultExt;
use risklake_core::{Error, Result};

use crate::{Lake, TableName, TableRef, WriteMode};

/// What `maintain` does; the defaults are Paimon's (10 snapshots and 1 hour retained,
/// orphans older than 1 day removed).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MaintainOptions {
    /// Rewrite a primary-key table whose latest snapshot has more than one data file in a
    /// bucket into one file per bucket (an overwrite commit of the merged rows).
    pub compact: bool,
    /// Always keep this many newest snapshots (at least 1).
    pub retain_last: usize,
    /// Keep snapshots younger than this many seconds.
    pub retain_age_s: f64,
    /// Remove unreferenced files only when older than this many seconds.
    pub orphan_grace_s: f64,
    /// Report what would be done, change nothing.
    pub dry_run: bool,
}

impl Default for MaintainOptions {
    fn default() -> Self {
        MaintainOptions {
            compact: true,
            retain_last: 10,
            retain_age_s: 3600.0,
            orphan_grace_s: 86_400.0,
            dry_run: false,
        }
    }
}

impl MaintainOptions {
    pub fn validate(&self) -> Result<()> {
        if self.retain_last < 1 {
            return Err(Error::param(
                "retain_last",
                "must be at least 1 (the latest snapshot is always kept)",
            ));
        }
        for (p, v) in [
            ("retain_age_s", self.retain_age_s),
            ("orphan_grace_s", self.orphan_grace_s),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(Error::param(p, format!("must be a number of seconds >= 0, got {v}")));
            }
        }
        Ok(())
    }
}

/// A compaction's result.
#[derive(Clone, Debug, Serialize)]
pub struct Compaction {
    /// Data files of the latest snapshot before and after.
    pub files_before: usize,
    /// `None` in a dry run (one per bucket).
    pub files_after: Option<usize>,
    pub rows: u64,
    /// The snapshot the compaction committed (`None` in a dry run).
    pub snapshot: Option<i64>,
}

/// What `maintain` did (or would do, in a dry run).
#[derive(Clone, Debug, Serialize)]
pub struct MaintainReport {
    pub table: String,
    pub dry_run: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compaction: Option<Compaction>,
    /// Snapshot ids expired.
    pub expired: Vec<i64>,
    /// Snapshots left, oldest and newest.
    pub snapshots_kept: usize,
    pub earliest: Option<i64>,
    pub latest: Option<i64>,
    /// Tags, whose snapshots' files are always kept.
    pub tags: Vec<String>,
    /// Files only expired snapshots referenced, removed.
    pub expired_files: usize,
    /// Unreferenced files older than the grace period, removed.
    pub orphans: usize,
    /// Unreferenced files younger than the grace period, kept.
    pub young_orphans: usize,
    pub bytes_freed: u64,
}

/// Folders of a table that hold metadata `maintain` never removes files from.
const KEPT_DIRS: [&str; 7] = [
    "snapshot",
    "schema",
    "tag",
    "branch",
    "consumer",
    "service",
    "changelog",
];

/// The local folder of a table.
fn table_dir(lake: &Lake, name: &TableName) -> PathBuf {
    lake.warehouse().join(format!("{}.db", name.database)).join(&name.table)
}

/// The last path component: data files, manifests and index files have names unique
/// within a table (a UUID and a counter), so names identify them.
fn base_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// The files reading `snapshot` needs, by name, and its live data files.
struct Needs {
    files: HashSet<String>,
    /// The live data files.
    data: Vec<String>,
}

/// The part of a manifest entry `maintain` reads (paimon keeps the entry's kind and bucket
/// private, so the Avro records are decoded into this instead).
#[derive(Deserialize)]
struct Entry {
    #[serde(rename = "_KIND")]
    kind: FileKind,
    #[serde(rename = "_BUCKET")]
    bucket: i32,
    #[serde(rename = "_FILE")]
    file: EntryFile,
}

#[derive(Deserialize)]
struct EntryFile {
    #[serde(rename = "_FILE_NAME")]
    file_name: String,
    #[serde(rename = "_EXTRA_FILES", default)]
    extra_files: Vec<String>,
}

async fn read_manifest(table: &Table, name: &str) -> Result<Vec<Entry>> {
    let path = table.snapshot_manager().manifest_path(name);
    let bytes = table
        .file_io()
        .new_input(&path)
        .with_context(|| format!("opening manifest {name}"))?
        .read()
        .await
        .with_context(|| format!("reading manifest {name}"))?;
    paimon::spec::from_avro_bytes::<Entry>(&bytes).with_context(|| format!("decoding manifest {name}"))
}

type Manifests = HashMap<String, Vec<Entry>>;

async fn needs(table: &Table, snapshot: &Snapshot, manifests: &mut Manifests) -> Result<Needs> {
    let sm = table.snapshot_manager();
    let io = table.file_io();
    let mut files = HashSet::new();
    let mut live: BTreeSet<(i32, String)> = BTreeSet::new();
    let mut extras: HashMap<String, Vec<String>> = HashMap::new();
    let lists = [
        Some(snapshot.base_manifest_list()),
        Some(snapshot.delta_manifest_list()),
        snapshot.changelog_manifest_list(),
    ];
    for (i, list) in lists.into_iter().enumerate() {
        let Some(list) = list.filter(|l| !l.is_empty()) else {
            continue;
        };
        files.insert(base_name(list).to_string());
        let metas = ManifestList::read(io, &sm.manifest_path(list))
            .await
            .with_context(|| format!("reading manifest list {list}"))?;
        for meta in metas {
            let m = meta.file_name().to_string();
            files.insert(m.clone());
            if !manifests.contains_key(&m) {
                manifests.insert(m.clone(), read_manifest(table, &m).await?);
            }
            for e in &manifests[&m] {
                if i == 2 {
                    // Changelog files are read as they are; keep every one named.
                    files.insert(e.file.file_name.clone());
                    files.extend(e.file.extra_files.iter().map(|x| base_name(x).to_string()));
                    continue;
                }
                let key = (e.bucket, e.file.file_name.clone());
                match e.kind {
                    FileKind::Add => {
                        extras.insert(
                            e.file.file_name.clone(),
                            e.file.extra_files.iter().map(|x| base_name(x).to_string()).collect(),
                        );
                        live.insert(key);
                    }
                    FileKind::Delete => {
                        live.remove(&key);
                    }
                }
            }
        }
    }
    let mut data = Vec::with_capacity(live.len());
    for (_, name) in &live {
        data.push(name.clone());
        files.insert(name.clone());
        if let Some(x) = extras.get(name) {
            files.extend(x.iter().cloned());
        }
    }
    if let Some(index) = snapshot.index_manifest().filter(|i| !i.is_empty()) {
        files.insert(base_name(index).to_string());
        let entries = IndexManifest::read(io, &sm.manifest_path(index))
            .await
            .with_context(|| format!("reading index manifest {index}"))?;
        let mut live_index = BTreeSet::new();
        for e in entries {
            match e.kind {
                FileKind::Add => live_index.insert(e.index_file.file_name.clone()),
                FileKind::Delete => live_index.remove(&e.index_file.file_name),
            };
        }
        files.extend(live_index);
    }
    if let Some(stats) = snapshot.statistics().filter(|s| !s.is_empty()) {
        files.insert(base_name(stats).to_string());
    }
    Ok(Needs { files, data })
}

/// Every file under the table's folder outside the metadata folders, with its size and
/// age.
fn candidate_files(dir: &Path) -> Result<Vec<(PathBuf, u64, Duration)>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    let now = SystemTime::now();
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).map_err(|e| Error::io(format!("listing {}", d.display()), e))?;
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(format!("listing {}", d.display()), e))?;
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().to_string();
            let meta = entry
                .metadata()
                .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
            if meta.is_dir() {
                let kept = d == dir && KEPT_DIRS.contains(&name.as_str());
                if !kept && !name.starts_with('.') {
                    stack.push(path);
                }
            } else if meta.is_file() && d != dir {
                let age = meta
                    .modified()
                    .ok()
                    .and_then(|m| now.duration_since(m).ok())
                    .unwrap_or_default();
                out.push((path, meta.len(), age));
            }
        }
    }
    Ok(out)
}

/// The most of `data` (file names) in one folder (a bucket of a partition).
fn max_files_per_folder(dir: &Path, data: &[String]) -> Result<usize> {
    let wanted: HashSet<&str> = data.iter().map(String::as_str).collect();
    let mut per: HashMap<PathBuf, usize> = HashMap::new();
    for (path, _, _) in candidate_files(dir)? {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        if wanted.contains(name.as_str()) {
            *per.entry(path.parent().map(Path::to_path_buf).unwrap_or_default())
                .or_default() += 1;
        }
    }
    Ok(per.values().copied().max().unwrap_or(0))
}

fn remove(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(format!("removing {}", path.display()), e)),
    }
}

/// Compacts, expires and cleans one table (see the module's notes).
pub async fn maintain(lake: &Lake, name: &TableName, o: &MaintainOptions) -> Result<MaintainReport> {
    o.validate()?;
    if !lake.exists(name).await? {
        return Err(Error::not_found("table", name.to_string()));
    }
    let lock = lake.lock(name).await?;
    let table = lake.table(name).await?;
    let sm = table.snapshot_manager();
    let mut manifests = HashMap::new();

    let mut compaction = None;
    let has_pk = !table.schema().primary_keys().is_empty();
    if o.compact && has_pk {
        if let Some(latest) = sm
            .get_latest_snapshot()
            .await
            .with_context(|| format!("reading the latest snapshot of {name}"))?
        {
            let n = needs(&table, &latest, &mut manifests).await?;
            if max_files_per_folder(&table_dir(lake, name), &n.data)? > 1 {
                let (rows, snapshot, files_after) = if o.dry_run {
                    (latest.total_record_count().unwrap_or(0).max(0) as u64, None, None)
                } else {
                    let session = lake.sql().await?;
                    let mut stream = session
                        .scan_at(&TableRef::Lake(name.clone()), None, Some(latest.id()))
                        .await?;
                    let mut w = lake.writer(name, WriteMode::Overwrite).await?;
                    while let Some(batch) = stream.next().await {
                        let batch = batch.with_context(|| format!("reading {name} to compact it"))?;
                        w.write(&batch).await?;
                    }
                    let summary = w.commit_holding(&lock).await?;
                    let now = lake.table(name).await?;
                    let after = match now.snapshot_manager().get_latest_snapshot().await.ok().flatten() {
                        Some(s) => needs(&now, &s, &mut manifests).await?.data.len(),
                        None => 0,
                    };
                    (summary.rows, summary.snapshot, Some(after))
                };
                compaction = Some(Compaction {
                    files_before: n.data.len(),
                    files_after,
                    rows,
                    snapshot,
                });
            }
        }
    }
    // Re-open: a compaction committed a snapshot.
    let table = lake.table(name).await?;
    let sm = table.snapshot_manager();
    let ids = sm
        .list_all_ids()
        .await
        .with_context(|| format!("listing snapshots of {name}"))?;
    let now_ms = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let age_limit_ms = (o.retain_age_s * 1000.0) as u64;
    let mut snapshots = Vec::with_capacity(ids.len());
    for id in &ids {
        snapshots.push(
            sm.get_snapshot(*id)
                .await
                .with_context(|| format!("reading snapshot {id} of {name}"))?,
        );
    }
    // Expire the longest run of oldest snapshots that are neither among the newest
    // `retain_last` nor younger than the age limit.
    let expirable = snapshots.len().saturating_sub(o.retain_last);
    let cut = snapshots[..expirable]
        .iter()
        .take_while(|s| now_ms.saturating_sub(s.time_millis()) > age_limit_ms)
        .count();
    let (expired, kept) = snapshots.split_at(cut);

    let tags = table.tag_manager();
    let tag_names = tags
        .list_all_names()
        .await
        .with_context(|| format!("listing tags of {name}"))?;
    let mut live: HashSet<String> = HashSet::new();
    for s in kept {
        live.extend(needs(&table, s, &mut manifests).await?.files);
    }
    for t in &tag_names {
        if let Some(s) = tags
            .get(t)
            .await
            .with_context(|| format!("reading tag {t} of {name}"))?
        {
            live.extend(needs(&table, &s, &mut manifests).await?.files);
        }
    }
    let mut dead: HashSet<String> = HashSet::new();
    for s in expired {
        dead.extend(needs(&table, s, &mut manifests).await?.files);
    }
    dead.retain(|f| !live.contains(f));

    if !o.dry_run && !expired.is_empty() {
        for s in expired {
            sm.delete_snapshot(s.id())
                .await
                .with_context(|| format!("removing snapshot {} of {name}", s.id()))?;
        }
        if let Some(first) = kept.first() {
            sm.write_earliest_hint(first.id())
                .await
                .with_context(|| format!("writing the earliest-snapshot hint of {name}"))?;
        }
    }
    let grace = Duration::from_secs_f64(o.orphan_grace_s);
    let (mut expired_files, mut orphans, mut young_orphans, mut bytes_freed) = (0, 0, 0, 0u64);
    for (path, size, age) in candidate_files(&table_dir(lake, name))? {
        let file = path
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        if live.contains(&file) {
            continue;
        }
        if dead.contains(&file) {
            expired_files += 1;
        } else if age >= grace {
            orphans += 1;
        } else {
            young_orphans += 1;
            continue;
        }
        bytes_freed += size;
        if !o.dry_run {
            remove(&path)?;
        }
    }
    drop(lock);
    Ok(MaintainReport {
        table: name.to_string(),
        dry_run: o.dry_run,
        compaction,
        expired: expired.iter().map(|s| s.id()).collect(),
        snapshots_kept: kept.len(),
        earliest: kept.first().map(|s| s.id()),
        latest: kept.last().map(|s| s.id()),
        tags: tag_names,
        expired_files,
        orphans,
        young_orphans,
        bytes_freed,
    })
}
