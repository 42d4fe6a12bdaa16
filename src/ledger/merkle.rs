//! The RFC 6962 (RFC 9162 §2.1) Merkle tree over the ledger's entries: a checkpoint signs the
//! root of the first N entries, an inclusion proof shows one entry is among them without the
//! others, and a consistency proof shows a later checkpoint extends an earlier one (nothing
//! before it was rewritten).

use sha2::{Digest, Sha256};

/// A SHA-256 hash.
pub type Hash = [u8; 32];

/// The hash of an entry as a leaf: `SHA-256(0x00 || entry bytes)`.
pub fn leaf_hash(entry: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(entry);
    h.finalize().into()
}

fn node(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The largest power of two strictly below `n` (n ≥ 2).
fn split(n: usize) -> usize {
    let mut k = 1;
    while k << 1 < n {
        k <<= 1;
    }
    k
}

/// The Merkle tree hash of `leaves` (already leaf-hashed); the hash of nothing for none.
pub fn root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => Sha256::digest([]).into(),
        1 => leaves[0],
        n => {
            let k = split(n);
            node(&root(&leaves[..k]), &root(&leaves[k..]))
        }
    }
}

/// The right edge of a growing tree: the roots of its perfect subtrees, largest first, so
/// the root after every append costs O(log n) instead of rehashing every leaf (what
/// verification does at each checkpoint).
#[derive(Debug, Clone, Default)]
pub struct Frontier {
    subtrees: Vec<(Hash, u32)>,
    size: u64,
}

impl Frontier {
    /// Adds the next leaf (already leaf-hashed).
    pub fn push(&mut self, leaf: Hash) {
        let (mut hash, mut height) = (leaf, 0u32);
        while let Some(&(left, h)) = self.subtrees.last() {
            if h != height {
                break;
            }
            self.subtrees.pop();
            hash = node(&left, &hash);
            height += 1;
        }
        self.subtrees.push((hash, height));
        self.size += 1;
    }

    /// How many leaves it holds.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// A compact text form (`size;height:hex,…`) for storing beside a checkpoint.
    pub fn to_text(&self) -> String {
        let parts: Vec<String> = self
            .subtrees
            .iter()
            .map(|(h, height)| format!("{height}:{}", hex::encode(h)))
            .collect();
        format!("{};{}", self.size, parts.join(","))
    }

    /// Reads [`Frontier::to_text`]; `None` when it is not one (its shape must match its size).
    pub fn from_text(text: &str) -> Option<Frontier> {
        let (size, parts) = text.split_once(';')?;
        let size: u64 = size.parse().ok()?;
        let mut subtrees = Vec::new();
        for part in parts.split(',').filter(|p| !p.is_empty()) {
            let (height, hash) = part.split_once(':')?;
            let height: u32 = height.parse().ok()?;
            let hash: Hash = hex::decode(hash).ok()?.try_into().ok()?;
            subtrees.push((hash, height));
        }
        let covered: u64 = subtrees
            .iter()
            .map(|(_, h)| 1u64.checked_shl(*h).unwrap_or(0))
            .sum();
        let decreasing = subtrees.windows(2).all(|w| w[0].1 > w[1].1);
        (covered == size && decreasing).then_some(Frontier { subtrees, size })
    }

    /// The root of the leaves pushed so far (equal to [`root`] over them).
    pub fn root(&self) -> Hash {
        let mut iter = self.subtrees.iter().rev();
        let Some(&(mut acc, _)) = iter.next() else {
            return Sha256::digest([]).into();
        };
        for (left, _) in iter {
            acc = node(left, &acc);
        }
        acc
    }
}

/// Every level of the tree over some leaves, so proofs cost O(log n) each after one O(n)
/// build (an export proves thousands of entries). A lone last node of a level is carried up
/// unchanged, which gives exactly RFC 6962's left-balanced tree: the node at level `j`,
/// index `i` is the hash of leaves `i·2^j .. min((i+1)·2^j, n)`.
#[derive(Debug, Clone)]
pub struct Tree {
    levels: Vec<Vec<Hash>>,
}

impl Tree {
    /// The tree over `leaves` (already leaf-hashed).
    pub fn new(leaves: Vec<Hash>) -> Tree {
        let mut levels = vec![leaves];
        while levels.last().is_some_and(|l| l.len() > 1) {
            let below = levels.last().map(Vec::as_slice).unwrap_or_default();
            let up: Vec<Hash> = below
                .chunks(2)
                .map(|pair| match pair {
                    [l, r] => node(l, r),
                    [lone] => *lone,
                    _ => unreachable!("chunks(2) yields one or two"),
                })
                .collect();
            levels.push(up);
        }
        Tree { levels }
    }

    /// How many leaves.
    pub fn size(&self) -> usize {
        self.levels.first().map_or(0, Vec::len)
    }

    /// The root of all its leaves.
    pub fn root(&self) -> Hash {
        match self.levels.last() {
            Some(top) if !top.is_empty() => top[0],
            _ => Sha256::digest([]).into(),
        }
    }

    /// The hash of leaves `a..b` where the range is a block of the tree (aligned to a power
    /// of two, whole or ending at the last leaf), as every range RFC 6962's proofs name is;
    /// computed from the leaves otherwise.
    fn range_root(&self, a: usize, b: usize) -> Hash {
        let n = self.size();
        let len = b - a;
        let mut j = 0usize;
        while (1usize << j) < len {
            j += 1;
        }
        let aligned = a.is_multiple_of(1usize << j);
        if aligned
            && (len == 1usize << j || b == n)
            && let Some(h) = self.levels.get(j).and_then(|level| level.get(a >> j))
        {
            return *h;
        }
        root(&self.levels[0][a..b])
    }

    /// The audit path of leaf `index` (RFC 6962 §2.1.1); empty when out of range.
    pub fn inclusion_proof(&self, index: usize) -> Vec<Hash> {
        let mut out = Vec::new();
        if index < self.size() {
            self.path_into(index, 0, self.size(), &mut out);
        }
        out
    }

    fn path_into(&self, m: usize, lo: usize, hi: usize, out: &mut Vec<Hash>) {
        let n = hi - lo;
        if n <= 1 {
            return;
        }
        let k = split(n);
        if m < k {
            self.path_into(m, lo, lo + k, out);
            out.push(self.range_root(lo + k, hi));
        } else {
            self.path_into(m - k, lo + k, hi, out);
            out.push(self.range_root(lo, lo + k));
        }
    }

    /// The proof that the first `old` leaves' tree is a prefix of this one (RFC 6962
    /// §2.1.2); empty when `old` is 0 or not smaller than the tree.
    pub fn consistency_proof(&self, old: usize) -> Vec<Hash> {
        let mut out = Vec::new();
        if old > 0 && old < self.size() {
            self.subproof(old, 0, self.size(), true, &mut out);
        }
        out
    }

    fn subproof(&self, m: usize, lo: usize, hi: usize, whole: bool, out: &mut Vec<Hash>) {
        let n = hi - lo;
        if m == n {
            if !whole {
                out.push(self.range_root(lo, hi));
            }
            return;
        }
        let k = split(n);
        if m <= k {
            self.subproof(m, lo, lo + k, whole, out);
            out.push(self.range_root(lo + k, hi));
        } else {
            self.subproof(m - k, lo + k, hi, false, out);
            out.push(self.range_root(lo, lo + k));
        }
    }
}

/// The audit path of leaf `index` in the tree of `leaves` (RFC 6962 §2.1.1); empty when the
/// index is out of range or the tree has one leaf.
pub fn inclusion_proof(index: usize, leaves: &[Hash]) -> Vec<Hash> {
    Tree::new(leaves.to_vec()).inclusion_proof(index)
}

/// Whether `path` proves that `leaf` is leaf `index` of the tree of `size` leaves whose root
/// is `root` (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(index: u64, size: u64, leaf: &Hash, path: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for p in path {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            r = node(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    s == 0 && r == *root
}

/// The proof that the tree of the first `old` leaves is a prefix of the tree of `leaves`
/// (RFC 6962 §2.1.2); empty when `old` is 0 or not smaller than the tree.
pub fn consistency_proof(old: usize, leaves: &[Hash]) -> Vec<Hash> {
    Tree::new(leaves.to_vec()).consistency_proof(old)
}

/// Whether `proof` shows that the tree of `old_size` leaves with root `old_root` is a prefix
/// of the tree of `new_size` leaves with root `new_root` (RFC 9162 §2.1.4.2).
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> bool {
    if old_size == new_size {
        return proof.is_empty() && old_root == new_root;
    }
    if old_size == 0 || old_size > new_size || proof.is_empty() {
        return old_size == 0 && proof.is_empty();
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old_size.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    let (mut f, mut s) = (old_size - 1, new_size - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (path[0], path[0]);
    for c in &path[1..] {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            fr = node(c, &fr);
            sr = node(c, &sr);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            sr = node(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    fr == *old_root && sr == *new_root && s == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n)
            .map(|i| leaf_hash(format!("entry {i}").as_bytes()))
            .collect()
    }

    /// The proofs of RFC 6962's own recursive definitions, computed from the leaves, to hold
    /// the level-based tree to.
    fn path_by_definition(m: usize, l: &[Hash]) -> Vec<Hash> {
        if l.len() <= 1 {
            return Vec::new();
        }
        let k = split(l.len());
        let mut p = if m < k {
            path_by_definition(m, &l[..k])
        } else {
            path_by_definition(m - k, &l[k..])
        };
        p.push(if m < k { root(&l[k..]) } else { root(&l[..k]) });
        p
    }

    #[test]
    fn the_level_tree_gives_the_rfc_6962_root_and_paths() {
        for n in 1..=40 {
            let l = leaves(n);
            let t = Tree::new(l.clone());
            assert_eq!(t.root(), root(&l), "root of {n}");
            for m in 0..n {
                assert_eq!(t.inclusion_proof(m), path_by_definition(m, &l), "{m}/{n}");
            }
        }
    }

    #[test]
    fn the_root_matches_rfc_6962_by_hand() {
        let l = leaves(3);
        assert_eq!(root(&l), node(&node(&l[0], &l[1]), &l[2]));
        assert_eq!(
            hex::encode(root(&[])),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        // The leaf prefix keeps a leaf from passing for an inner node.
        assert_ne!(leaf_hash(b""), Sha256::digest([]).as_slice());
    }

    #[test]
    fn the_frontier_has_the_root_of_every_prefix() {
        let l = leaves(70);
        let mut f = Frontier::default();
        assert_eq!(f.root(), root(&[]));
        for (i, leaf) in l.iter().enumerate() {
            f.push(*leaf);
            assert_eq!(f.root(), root(&l[..=i]), "size {}", i + 1);
        }
        assert_eq!(f.size(), 70);
        let back = Frontier::from_text(&f.to_text()).unwrap();
        assert_eq!(back.root(), f.root());
        assert!(Frontier::from_text("71;").is_none());
    }

    #[test]
    fn every_leaf_of_every_small_tree_proves_its_inclusion_and_no_other() {
        for n in 1..=33 {
            let l = leaves(n);
            let r = root(&l);
            for i in 0..n {
                let path = inclusion_proof(i, &l);
                assert!(
                    verify_inclusion(i as u64, n as u64, &l[i], &path, &r),
                    "{i}/{n}"
                );
                let other = leaf_hash(b"not in the tree");
                assert!(!verify_inclusion(i as u64, n as u64, &other, &path, &r));
                if n > 1 {
                    let j = (i + 1) % n;
                    assert!(!verify_inclusion(j as u64, n as u64, &l[i], &path, &r));
                }
            }
        }
    }

    #[test]
    fn every_prefix_is_consistent_and_a_rewritten_one_is_not() {
        for n in 1..=33 {
            let l = leaves(n);
            let r = root(&l);
            for m in 1..=n {
                let proof = consistency_proof(m, &l);
                let old = root(&l[..m]);
                assert!(
                    verify_consistency(m as u64, n as u64, &old, &r, &proof),
                    "{m}/{n}"
                );
                if m < n {
                    let mut rewritten = l[..m].to_vec();
                    rewritten[m - 1] = leaf_hash(b"rewritten");
                    let forged = root(&rewritten);
                    assert!(!verify_consistency(m as u64, n as u64, &forged, &r, &proof));
                }
            }
        }
    }
}
