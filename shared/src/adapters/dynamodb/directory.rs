//! The list directory of a record set, as plain data: what [`super::records`] reads and writes
//! under `DIR#<connection>#<data type>`.
//!
//! The sort keys of a set are cut into *buckets*: contiguous key ranges, each named by its first
//! key (`start`) and holding `count` records when last sealed. Buckets are grouped into *chunks*
//! (one item each, `CHUNK#<first start>`), and the head lists the chunks with their counts, so
//! offset N is found by reading the head and one chunk, then skipping fewer than
//! [`SPLIT_ABOVE`] keys from the bucket's start.
//!
//! Sealing is incremental: every write marks the key *groups* it touched (see [`group_of`]);
//! a seal recounts only the buckets those groups overlap, splitting a bucket that grew past
//! [`SPLIT_ABOVE`] and dropping one left empty, so its cost follows what changed, not the set's
//! size. A seal with no head yet (or with more marked groups than recounting would save) cuts
//! the whole set again.

/// Records per bucket when a set is cut whole (and per piece when a bucket splits).
pub const STRIDE: u64 = 100;
/// A bucket is split once a recount finds more records than this in it.
pub const SPLIT_ABOVE: u64 = STRIDE * 3 / 2;
/// Buckets per chunk when chunks are cut (a chunk is split above twice this).
pub const CHUNK: usize = 100;
/// The start of the first bucket: below every sort key (digits and `~`).
pub const FIRST: &str = "!";
/// The version of this layout, in the head (`format`); a head of another version is cut again.
pub const FORMAT: u64 = 2;

/// A key range `[start, next bucket's start)` and how many records it held when sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    /// Its first key ([`FIRST`] for the first bucket).
    pub start: String,
    /// Records in the range.
    pub count: u64,
}

/// A chunk as the head lists it: its first bucket's start and its records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkRef {
    /// The start of its first bucket (names the chunk item).
    pub first: String,
    /// Records in its buckets.
    pub count: u64,
}

/// The sort key of a chunk item.
pub fn chunk_key(first: &str) -> String {
    format!("CHUNK#{first}")
}

/// The group a sort key's write marks: a zero-padded numeric key without its last 2 digits
/// (100 neighbouring ids share a group: a page of a full sync marks three or four); a key with
/// `_` up to its last `_` (an order's payments, `~42_`); any other key itself. Every key starts
/// with its group, so the keys a group covers are the range `[group, group_end(group)]`.
pub fn group_of(sort_key: &str) -> &str {
    if sort_key.len() == 20 && sort_key.bytes().all(|b| b.is_ascii_digit()) {
        return &sort_key[..18];
    }
    match sort_key.rfind('_') {
        Some(at) => &sort_key[..=at],
        None => sort_key,
    }
}

/// The last key a group can cover: above every key that starts with it.
pub fn group_end(group: &str) -> String {
    format!("{group}{}", char::MAX)
}

/// Cuts sorted keys into buckets of [`STRIDE`]: the first starts at [`FIRST`].
pub fn cut(starts_every_stride: Vec<String>, count: u64) -> Vec<Bucket> {
    let mut buckets: Vec<Bucket> = starts_every_stride
        .into_iter()
        .enumerate()
        .map(|(n, start)| Bucket { start: if n == 0 { FIRST.to_string() } else { start }, count: STRIDE })
        .collect();
    let full = buckets.len().saturating_sub(1) as u64;
    match buckets.last_mut() {
        Some(last) => last.count = count - STRIDE * full,
        None => buckets.push(Bucket { start: FIRST.to_string(), count: 0 }),
    }
    buckets
}

/// A bucket recounted: the keys now in its range (sorted). Above [`SPLIT_ABOVE`] it splits into
/// pieces of [`STRIDE`], the first keeping its start, so the ranges stay contiguous.
pub fn recounted(start: &str, keys: &[String]) -> Vec<Bucket> {
    if keys.len() as u64 <= SPLIT_ABOVE {
        return vec![Bucket { start: start.to_string(), count: keys.len() as u64 }];
    }
    keys.chunks(STRIDE as usize)
        .enumerate()
        .map(|(n, piece)| Bucket {
            start: if n == 0 { start.to_string() } else { piece[0].clone() },
            count: piece.len() as u64,
        })
        .collect()
}

/// Groups buckets into chunks of [`CHUNK`].
pub fn chunks(buckets: Vec<Bucket>) -> Vec<Vec<Bucket>> {
    let mut out = Vec::with_capacity(buckets.len().div_ceil(CHUNK));
    let mut rest = buckets.into_iter().peekable();
    while rest.peek().is_some() {
        out.push(rest.by_ref().take(CHUNK).collect());
    }
    out
}

/// Where `offset` falls among ranges with these counts: the range's index and the offset
/// within it. `None` past the end.
pub fn locate(counts: impl IntoIterator<Item = u64>, offset: u64) -> Option<(usize, u64)> {
    let mut before = 0;
    for (n, count) in counts.into_iter().enumerate() {
        if offset < before + count {
            return Some((n, offset - before));
        }
        before += count;
    }
    None
}

/// The indexes of the ranges (each from its start to the next one's, the last open) that meet
/// `[low, high]`; `starts` sorted.
pub fn overlapping<'a>(starts: impl IntoIterator<Item = &'a str>, low: &str, high: &str) -> Vec<usize> {
    let starts: Vec<&str> = starts.into_iter().collect();
    (0..starts.len()).filter(|&n| starts[n] <= high && starts.get(n + 1).is_none_or(|next| *next > low)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(range: std::ops::Range<u64>) -> Vec<String> {
        range.map(|n| format!("{n:020}")).collect()
    }

    #[test]
    fn groups_cover_their_keys() {
        let key = format!("{:020}", 123_456);
        assert_eq!(group_of(&key), &key[..18]);
        assert_eq!(group_of("~42_7"), "~42_");
        assert_eq!(group_of("~abc"), "~abc");
        for k in [key.as_str(), "~42_7", "~abc"] {
            let g = group_of(k);
            assert!(k.starts_with(g) && g <= k && k < group_end(g).as_str());
        }
        // Neighbouring ids share a group; a group's range holds no key of the next one.
        assert_eq!(group_of(&format!("{:020}", 1_000)), group_of(&format!("{:020}", 1_099)));
        assert!(format!("{:020}", 1_100) > group_end(group_of(&format!("{:020}", 1_099))));
    }

    #[test]
    fn a_cut_counts_every_key_once() {
        let all = keys(0..250);
        let starts: Vec<String> = all.iter().step_by(STRIDE as usize).cloned().collect();
        let buckets = cut(starts, 250);
        assert_eq!(buckets.iter().map(|b| b.count).collect::<Vec<_>>(), [100, 100, 50]);
        assert_eq!(buckets[0].start, FIRST);
        assert_eq!(buckets[1].start, all[100]);
        assert_eq!(cut(Vec::new(), 0), [Bucket { start: FIRST.into(), count: 0 }]);
    }

    #[test]
    fn a_grown_bucket_splits_and_keeps_its_start() {
        let all = keys(10..260);
        let pieces = recounted("x", &all);
        assert_eq!(pieces.iter().map(|b| b.count).collect::<Vec<_>>(), [100, 100, 50]);
        assert_eq!(pieces[0].start, "x");
        assert_eq!(pieces[1].start, all[100]);
        assert_eq!(recounted("x", &all[..SPLIT_ABOVE as usize]).len(), 1, "not above the limit");
    }

    #[test]
    fn offsets_and_ranges_are_located() {
        assert_eq!(locate([100, 0, 40, 100], 99), Some((0, 99)));
        assert_eq!(locate([100, 0, 40, 100], 100), Some((2, 0)));
        assert_eq!(locate([100, 0, 40, 100], 239), Some((3, 99)));
        assert_eq!(locate([100, 0, 40, 100], 240), None);
        let starts = ["!", "b", "d", "f"];
        assert_eq!(overlapping(starts, "c", "c~"), [1]);
        assert_eq!(overlapping(starts, "b", "d"), [1, 2]);
        assert_eq!(overlapping(starts, "g", "h"), [3]);
        assert_eq!(overlapping(starts, "a", "a~"), [0]);
        assert_eq!(chunks((0..250).map(|n| Bucket { start: n.to_string(), count: 1 }).collect()).len(), 3);
    }
}
