//! The general fast splitter: a split pattern compiled to deterministic automata whose
//! pieces equal fancy-regex's, piece for piece.
//!
//! A pattern *qualifies* when every construct in it is one the rules below prove
//! equivalent to a plain (greedy, look-around free) regular expression; anything else is
//! refused with a reason and stays on fancy-regex. The pattern is parsed with
//! fancy-regex's own parser (`fancy_regex::Expr::parse_tree`), so flags, escapes and
//! classes mean exactly what they mean to the engine whose pieces we must equal, and each
//! branch is rendered back (`Expr::to_str`) into the syntax regex-automata compiles, the
//! same library fancy-regex delegates its classes to.
//!
//! # Semantics being matched
//!
//! fancy-regex runs a pattern with look-around or atomic groups as a backtracking search:
//! at the leftmost start position where the pattern matches at all, the top-level
//! branches are tried in order and the first branch that matches wins, with the match its
//! own backtracking order finds first (greedy quantifiers try the most repetitions
//! first). A pattern without such constructs is handed whole to the regex crate, whose
//! leftmost-first semantics are defined to give the same match. A DFA built for the
//! branches as separate patterns with `MatchKind::LeftmostFirst` gives exactly that
//! match for plain branches: the highest-priority pattern that matches at the start, with
//! its preferred (greedy) end, and it tells which branch matched.
//!
//! # Rules (each is an equivalence, argued here; tests check them against fancy-regex)
//!
//! 1. **Possessive / atomic single-character repetition.** `C{lo,hi}+` (fancy-regex's
//!    `AtomicGroup(Repeat)`; also `X?+`, `X++`, `X*+`) of a set `C` of single characters,
//!    at the top level of a branch, followed by the rest `R` of the branch, equals the
//!    greedy `C{lo,hi}` when `FIRST(R) ∩ C = ∅` and `R` has no assertion other than `$`
//!    (end of text). Argument: from a position p the greedy form tries counts m (the most
//!    C characters available, at most hi), m−1, …, lo and stops at the first count j
//!    after which R matches; the atomic form tries only m. They differ only if R fails
//!    after m but matches after some j < m. The character after j characters is the
//!    (j+1)-th of the run, in C. A non-empty match of R starts with a character of
//!    FIRST(R), which misses C; so R's match there is empty. An empty match of R that
//!    passes through a `$` needs the end of text, which j < m rules out; an empty match
//!    through no assertion matches empty anywhere, so also after m, where R was said to
//!    fail. Hence no such j exists, and both forms give the same result from every p.
//!    Because the result is the same from every position, the rule composes: the
//!    rightmost atomic item is rewritten first, and each earlier one sees an R already
//!    proven equal to its rewritten form. Nothing follows a branch (the match ends
//!    there), so only the first success matters, which is what the argument compares.
//!    An atomic group around a single character, or an exact count `C{n}` of them, has
//!    only one way to match, so it is dropped whatever follows.
//! 2. **The `\s+(?!\S)` idiom**, as a whole branch k. It is compiled as `\s+`; after the
//!    DFA reports branch k at start s with end q (the maximal whitespace run from s,
//!    because `\s+` is greedy and branch k is the highest-priority branch that matched):
//!    at the end of text the look-ahead holds, keep [s, q); otherwise the character at q
//!    is not whitespace (the run is maximal), so `(?!\S)` fails at q and backtracking
//!    gives back one character: at q' = the start of the run's last character the next
//!    character is whitespace, so the look-ahead holds, and `\s+` still matches if the
//!    run had at least two characters: keep [s, q'). With one character the branch fails
//!    at s, and backtracking goes on with branches k+1.. at s, which a second DFA of
//!    just those branches searches, anchored at s (if one of them is again the idiom,
//!    the same rule applies one level down). If none of them matches, nothing matches
//!    at s (branches before k did not: the DFA preferred k) and the search moves on.
//! 3. **Skipped text.** Every branch, with the idiom read as `\s+`, matches a superset
//!    of what the original branch matches at the same start. So when nothing matches at
//!    the current position, the leftmost start of the rewritten pattern (found by a
//!    regex-automata meta regex over the same branches) is a lower bound for the next
//!    original match: positions before it cannot match. At that start the anchored
//!    search above decides; if it fails, the search resumes one character later. The
//!    usual patterns never skip (their branches cover every character).
//! 4. **Refused**: any other look-around, back-references, atomic groups the first rule
//!    cannot prove, lazy quantifiers, assertions other than `$`, and branches that can
//!    match the empty string (the empty-match rules of the iterators are then involved;
//!    no split pattern in use needs them).
//!
//! # Engine and memory
//!
//! regex-automata builds a dense DFA (`dfa::dense`, anchored starts only: every search
//! starts at a known position, the end of the previous piece, so no reverse DFA is
//! needed) once, when the pattern is compiled; its states are then copied into a table of
//! our own layout (`Level`) and the DFA is dropped. The table is immutable, so one copy
//! serves every thread with no per-thread cache (a lazy DFA would need one per thread,
//! and its cache misses cost a determinization step inside the split loop). The search
//! loop walks the table directly, one load per byte, instead of calling `find` per piece,
//! whose set-up would cost more than the ~4 bytes of a typical piece. In the copy:
//! - a row has an entry per byte (not per byte class: the walk then has no class to load
//!   between one state and the next), and a state's id is where its row starts;
//! - the dead state, final match states and boundary states (below) get the lowest ids,
//!   so one comparison tells whether the walk must look at a state it enters; the other
//!   match states come next, looked at only when the walk leaves one for an ordinary
//!   state or the dead state;
//! - a *final* match state (every byte leads to the dead state, the end of text to no
//!   further match) ends a piece at once, without reading the byte that leads to the
//!   dead state;
//! - in the DFA of all branches, a transition into a final match state of a plain branch
//!   leads instead to a *boundary state*: a copy of the state the start state reaches on
//!   the same byte. Taking it means "the piece ended before this byte, and the next piece
//!   has read it", so a run of pieces is split in one pass. Each boundary state has a
//!   twin, so that a boundary from a boundary state into itself still changes the id (the
//!   loop skips transitions that keep the id, which are only position changes);
//! - rule 2 too is taken in the table where it can be: a transition that ends an idiom
//!   match (into its final match state, on the byte after the whitespace run) leads
//!   instead to a *delayed boundary state*, if the run's last character is one ASCII
//!   byte `c`: a copy of the state a piece is in after reading `c` and then this byte.
//!   Taking it means "the piece ended before the byte before this one (`c`, given back),
//!   and the next piece has read `c` and this byte". The states with such a transition
//!   are split by the class of the byte read last (so the copy to go to is known) and
//!   whether it was the piece's first. No copy is made when the next piece would end at
//!   once (its state after the two bytes final or dead): the walk then stops as without
//!   the copies. A run of one character gives nothing back, and the branches after the
//!   idiom are searched at its start; where their DFA is in a final match state of a
//!   plain branch after that character and this byte (it takes the character alone), the
//!   transition is an ordinary boundary;
//! - a state that every ASCII letter (or every lowercase one) leads back to itself is
//!   marked (in its id's low bits): entering it, the walk steps over the run of such letters
//!   that follows eight bytes at a time, which is taking them one by one without the
//!   per-byte branch (words are most of the bytes of most text).
//!
//! # Lanes
//!
//! A walk is a chain of dependent loads (the next state is read from the last), so it
//! runs at the load latency per byte, with most of the core idle. Text of [`LANES_MIN`]
//! bytes or more is therefore cut into windows of about [`WINDOW`] bytes, each window
//! into [`LANES`] parts, and the parts are walked at once, a byte of each in turn: chains
//! that do not wait for each other. A cut must be a place where a piece starts whatever
//! came before, so that each part's pieces are the text's. The places used are between
//! ASCII byte pairs `a b` such that, in every level's DFA and from every one of its
//! states, reading `a` then `b` leads to the dead state or a final match state
//! ([`sync_pairs`]): any walk that reaches `b` ends its piece there at the latest (it
//! ends before `a`, or the match ends between the two), so no piece, and no match tried
//! by the rules above, holds both bytes. (In the usual patterns a letter before a space
//! is such a pair: the space starts the next word's piece.) Such a cut is also where a
//! search that skipped text (rule 3) would look: a skipped stretch that spans the cut
//! holds no match start before it, and the search resumes at the cut as it would from
//! further back. Each lane walks the real text (not a copy cut at its end: the end of
//! text changes rule 2 and `$`) and stops once it has read the byte at its cut.
//!
//! In a lane, a step has no branch on the common path: the piece end is written
//! whether or not the byte was a boundary, and only the count moves; a branch per
//! byte would mispredict at most piece ends, and a misprediction throws away the work
//! of every lane. Transitions into the dead state or a final match state leave the
//! loop for the general decision ([`Automaton::settle`]); rule 2 (the most common
//! event, where the table has no delayed boundary for it) is decided inline. The lanes
//! do not step over runs of letters (a branch per state change). Each lane's pieces wait
//! in its [`Ends`] until the lanes before it are out. Two lanes: with three or four the loop's values no longer fit the
//! registers, and it ran slower than one lane (three, with the inner loop below, 12% slower
//! than two). The steps run in an inner loop with no
//! call in it, as far as the shorter lane goes or up to the first event: the calls on the
//! rare paths make the compiler keep values that live across them on the stack, and in a
//! single loop a lane's state went through the stack at every byte.
//!
//! Memory: a table is (states × 260 × 4) bytes (more than a row per byte class took for
//! small alphabets, so a pattern of many states and few classes reaches the size limit
//! sooner, at about 32K states); regex-automata's limits
//! ([`DFA_SIZE_LIMIT`], also during determinization) bound the DFA, and the same bound
//! is checked for the table; a pattern over it is refused (fancy-regex runs it). A
//! pattern has one table plus one per idiom branch that has branches after it, and at
//! most [`MAX_LOOKAHEAD_BRANCHES`] idiom branches.

use once_cell::race::OnceBox;
use regex_automata::dfa::{dense, Automaton as _, StartKind};
use regex_automata::nfa::thompson;
use regex_automata::util::primitives::StateID;
use regex_automata::util::start;
use regex_automata::{meta, Anchored, Input, MatchKind};
use regex_syntax::hir::{Class, ClassUnicode, Hir, HirKind, Look};

use fancy_regex::{Assertion, Expr, LookAround};

use crate::split::{ascii_run_end, Ascii};

/// The most bytes one DFA may take (transition table and its other tables).
pub(crate) const DFA_SIZE_LIMIT: usize = 32 << 20;

/// The most `\s+(?!\S)` branches a qualifying pattern may have.
pub(crate) const MAX_LOOKAHEAD_BRANCHES: usize = 4;

/// Texts of at least this many bytes are walked in two lanes
/// ([`Automaton::for_each_range`]); shorter ones in one (in tests, nearly all, so that
/// the tests of the splitter check the lanes).
const LANES_MIN: usize = if cfg!(test) { 8 } else { 256 };
/// The bytes of text per window of two lanes ([`Automaton::for_each_range`]): the
/// second lane's pieces are held until the first's are out.
const WINDOW: usize = if cfg!(test) { 16 } else { 2 << 10 };
/// Lanes walked at once ([`Automaton::lanes`]).
const LANES: usize = 2;
/// How far past the place it wants [`Automaton::sync_after`] looks for a cut.
const SYNC_SCAN: usize = 256;
/// Room for the pieces of one lane of a window ([`Ends`]): one entry per byte at most
/// (a piece or skipped text takes one byte or more), and one for the write a lane makes
/// past its last piece.
const LANE_ENDS: usize = (WINDOW + SYNC_SCAN) / 2 + SYNC_SCAN + 2;
const _: () = assert!(LANE_ENDS < Ends::SKIP as usize, "a lane's offsets fit an entry");

/// How a branch's DFA match is finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// The DFA's match is the branch's match.
    Plain,
    /// `\s+(?!\S)`: rule 2 of the module notes.
    WsLookahead,
}

/// One anchored DFA over the branches `first..` of the pattern, copied out of
/// regex-automata's dense DFA into a table of our own layout (module notes, "Engine").
struct Level {
    /// `table[id + byte]`: the next state's id. An id is its state's index times
    /// [`STRIDE`] plus its [`LetterLoop`] (see [`LOOP_MASK`]).
    table: Vec<u32>,
    start: u32,
    /// Ids below this are final match states (every byte leads to the dead state, the
    /// end of text to no other match), id 0 (the dead state) aside.
    final_end: u32,
    /// Ids in `final_end..delayed` are boundary states, those in `delayed..special_end`
    /// delayed boundary states (module notes). Every id below `special_end` needs a look
    /// when the walk enters it; no other id does.
    delayed: u32,
    special_end: u32,
    /// Ids in `match_start..match_end` are the match states other than final ones: the
    /// delayed boundary states that copy match states, up to `special_end`, and the rest.
    match_start: u32,
    match_end: u32,
    /// Per state index: the pattern of a match state's match.
    match_pattern: Vec<u32>,
    /// Per state index: 1 + the pattern of a match ending at the end of text, or 0.
    eoi: Vec<u32>,
    /// The kind of each of this DFA's patterns (branch `first + i`).
    kinds: Vec<Kind>,
    /// For each pattern of this DFA: the level searching the branches after it, if the
    /// branch is the idiom and branches follow it.
    after: Vec<Option<usize>>,
}

/// The low bits of a state's id: its [`LetterLoop`]. An id is otherwise its row's index
/// times [`STRIDE`], and the row's 256 transitions (one per byte) start at the id itself
/// (its slot at `id & !LOOP_MASK`), so the walk indexes `table[id + byte]`: no mask, and
/// no load of the byte's class on the path from one state to the next.
const LOOP_MASK: u32 = 3;
const _: () = assert!((LOOP_MASK + 1).is_power_of_two() && LetterLoop::Lower as u32 <= LOOP_MASK);

/// Entries per row: 256 bytes, from up to [`LOOP_MASK`] entries into the row; a multiple
/// of `LOOP_MASK + 1`, so that an id's low bits are its letter loop alone.
const STRIDE: u32 = 256 + LOOP_MASK + 1;
const _: () = assert!(STRIDE.is_multiple_of(LOOP_MASK + 1));

/// The ASCII letters that all lead a state back to itself ([`LOOP_MASK`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
enum LetterLoop {
    None = 0,
    /// `[A-Za-z]`.
    Letters = 1,
    /// `[a-z]` (not all of `[A-Z]`).
    Lower = 2,
}

/// What an anchored walk found.
#[derive(Clone, Copy)]
enum Walked {
    /// A match of `pattern` ending at `end`.
    Match {
        pattern: u32,
        end: usize,
    },
    /// A plain branch matched up to `end` and the next piece starts there (a boundary).
    Plain {
        end: usize,
    },
    None,
}

/// A state of the walk while [`Level::new`] builds it: a DFA state (one with a
/// transition that ends an idiom match is split by the class of the byte read last, if
/// that byte is ASCII, and whether it was the piece's first), a boundary state (a copy of
/// the state a piece is in after its first byte), or a delayed boundary state (a copy of
/// the state a piece is in after its first two bytes, the first given back by rule 2).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Node {
    State(StateID, Option<(usize, bool)>),
    Boundary(StateID, Option<(usize, bool)>),
    Delayed(StateID),
}

impl Node {
    /// The DFA state whose transitions this one takes, and its split: the class of the
    /// byte read last, and whether it is the piece's first.
    fn state(self) -> (StateID, Option<(usize, bool)>) {
        match self {
            Node::State(s, t) | Node::Boundary(s, t) => (s, t),
            Node::Delayed(s) => (s, None),
        }
    }
}

/// For an idiom branch, the DFA of the branches after it and their kinds ([`Level::new`]).
type After<'a> = Option<(&'a dense::DFA<Vec<u32>>, &'a [Kind])>;

impl Level {
    /// Copies `dfa` into the walk's layout. With `boundaries`, a transition into a final
    /// match state of a plain branch becomes a transition into a *boundary state*: a copy
    /// of the state the start state reaches on the same byte. Taking it means "the piece
    /// ended before this byte, and the next piece has read it", so consecutive pieces are
    /// found in one pass, without returning to the start state and reading the byte again.
    /// Likewise for the idiom's final match states and *delayed boundary states* (module
    /// notes).
    ///
    /// `after[k]`: for an idiom branch `k` of this DFA, the DFA of the branches after it
    /// and their kinds (rule 2's search when the run is one character), if built.
    fn new(
        dfa: &dense::DFA<Vec<u32>>,
        kinds: Vec<Kind>,
        boundaries: bool,
        after: &[After<'_>],
    ) -> Result<Self, Refusal> {
        let start = anchored_start(dfa)?;
        let mut classes = [0u8; 256];
        let mut reps: Vec<u8> = Vec::new();
        for b in 0..=255u8 {
            let c = dfa.byte_classes().get(b);
            classes[usize::from(b)] = c;
            if usize::from(c) == reps.len() {
                reps.push(b);
            }
        }
        let alphabet = reps.len();
        // The rows while the table is built: one entry per byte class.
        let stride2 = alphabet.next_power_of_two().trailing_zeros();
        let stride = 1usize << stride2;
        let order = reachable(dfa, start, &reps);
        let is_final = |sid: StateID| {
            dfa.is_match_state(sid)
                && reps.iter().all(|&b| dfa.is_dead_state(dfa.next_state(sid, b)))
                && !dfa.is_match_state(dfa.next_eoi_state(sid))
        };
        let kind = |sid: StateID| kinds[dfa.match_pattern(sid, 0).as_usize()];
        // The states with a transition that ends an idiom match (delayed boundaries, in
        // the notes above), and the byte classes of ASCII bytes alone.
        let ends_idiom = |sid: StateID| is_final(sid) && kind(sid) == Kind::WsLookahead;
        let tagged: std::collections::HashSet<StateID> = if boundaries {
            order
                .iter()
                .copied()
                .filter(|&s| reps.iter().any(|&b| ends_idiom(dfa.next_state(s, b))))
                .collect()
        } else {
            Default::default()
        };
        let ascii: Vec<bool> =
            (0..alphabet).map(|c| (0..256).all(|b| classes[b] != c as u8 || b < 0x80)).collect();
        // The walk's states: DFA states (those in `tagged` split by what the last byte
        // was), boundary states and delayed boundary states (module notes).
        let start_node = Node::State(start, None);
        let tag = |p: StateID, c: usize, first: bool| (tagged.contains(&p) && ascii[c]).then_some((c, first));
        // Rule 2 after a run of one character `c0` followed by a byte of class `c`: the
        // branches after idiom branch `k` match the character alone (their DFA is in a
        // final state of a plain branch after the two bytes), or None.
        let alone = |k: usize, c0: usize, c: usize| -> Option<()> {
            let (d1, kinds1) = after.get(k).copied().flatten()?;
            let start1 = anchored_start(d1).ok()?;
            let q = d1.next_state(start1, reps[c0]);
            let f1 = d1.next_state(q, reps[c]);
            // (Every byte of either class the same to that DFA.)
            let same = (0..=255u8).all(|b| {
                (classes[usize::from(b)] != c0 as u8 || d1.next_state(start1, b) == q)
                    && (classes[usize::from(b)] != c as u8 || d1.next_state(q, b) == f1)
            });
            let final1 = d1.is_match_state(f1)
                && (0..=255u8).all(|b| d1.is_dead_state(d1.next_state(f1, b)))
                && !d1.is_match_state(d1.next_eoi_state(f1));
            (same && final1 && kinds1[d1.match_pattern(f1, 0).as_usize()] == Kind::Plain).then_some(())
        };
        let step = |node: Node, c: usize| -> Option<Node> {
            let (sid, t) = node.state();
            let first = node == start_node;
            let next = dfa.next_state(sid, reps[c]);
            if dfa.is_dead_state(next) {
                return None;
            }
            let boundary = || {
                let b0 = dfa.next_state(start, reps[c]);
                Some(Node::Boundary(b0, tag(b0, c, true)))
            };
            if boundaries && is_final(next) && kind(next) == Kind::Plain {
                return boundary();
            }
            match (ends_idiom(next), t) {
                (true, Some((c0, false))) => {
                    // Rule 2 gives back the run's last character, one byte: the next
                    // piece has read it and this byte, and is in state `u`.
                    let u = dfa.next_state(dfa.next_state(start, reps[c0]), reps[c]);
                    if !dfa.is_dead_state(u) && !is_final(u) && !tagged.contains(&u) {
                        return Some(Node::Delayed(u));
                    }
                }
                (true, Some((c0, true))) if alone(dfa.match_pattern(next, 0).as_usize(), c0, c).is_some() => {
                    // A run of one character: rule 2 gives nothing back, and the branches
                    // after the idiom decide; where they take the character alone, the
                    // piece ends here like a plain one.
                    return boundary();
                }
                _ => {}
            }
            Some(Node::State(next, tag(next, c, first)))
        };
        let mut nodes = vec![start_node];
        let mut known = std::collections::HashSet::from([start_node]);
        let mut k = 0;
        while k < nodes.len() {
            let node = nodes[k];
            k += 1;
            for c in 0..alphabet {
                if let Some(next) = step(node, c) {
                    if known.insert(next) {
                        nodes.push(next);
                    }
                }
            }
        }
        let of = |node: &Node| node.state().0;
        let finals: Vec<Node> =
            nodes.iter().copied().filter(|n| matches!(n, Node::State(..)) && is_final(of(n))).collect();
        // Delayed boundary states of match states last, so that those are one range.
        let mut delayed: Vec<Node> =
            nodes.iter().copied().filter(|n| matches!(n, Node::Delayed(_))).collect();
        delayed.sort_by_key(|n| dfa.is_match_state(of(n)));
        let delayed_matches = delayed.iter().filter(|n| dfa.is_match_state(of(n))).count();
        let copies: Vec<Node> = nodes.iter().copied().filter(|n| matches!(n, Node::Boundary(..))).collect();
        let matches: Vec<Node> = nodes
            .iter()
            .copied()
            .filter(|n| matches!(n, Node::State(..)) && dfa.is_match_state(of(n)) && !is_final(of(n)))
            .collect();
        let normals: Vec<Node> = nodes
            .iter()
            .copied()
            .filter(|n| matches!(n, Node::State(..)) && !dfa.is_match_state(of(n)))
            .collect();
        // Each boundary state has a twin: a boundary from a boundary state into itself
        // must change the id, or the walk would take it for a transition that stays.
        // (A delayed boundary state is entered only from a state split by its last
        // byte, never one itself, so it needs none.)
        let twins = copies.len();
        let (f, d, m) = (finals.len(), delayed.len(), matches.len());
        let states = 1 + f + d + 2 * twins + m + normals.len();
        if states.saturating_mul(STRIDE as usize) > DFA_SIZE_LIMIT / 4 {
            return refuse("the DFA's table is over the size limit");
        }
        // The ids' order: finals, boundary states and their twins, delayed boundary states
        // (of match states last, next to the other match states), match states, the rest.
        let index: std::collections::HashMap<Node, usize> = finals
            .iter()
            .chain(&copies)
            .enumerate()
            .map(|(i, &n)| (n, 1 + i))
            .chain(
                delayed
                    .iter()
                    .chain(&matches)
                    .chain(&normals)
                    .enumerate()
                    .map(|(i, &n)| (n, 1 + f + 2 * twins + i)),
            )
            .collect();
        let mut table = vec![0u32; states * stride];
        let mut eoi = vec![0u32; states];
        let mut match_pattern = vec![0u32; states];
        let mut fill = |row: usize, node: Node| {
            for c in 0..alphabet {
                table[row * stride + c] = match step(node, c) {
                    None => 0,
                    Some(next) => {
                        let i = index[&next];
                        // From a boundary state into itself: to its twin (and a twin's
                        // row, at `i + twins`, leads back to `i`).
                        let i = if i == row && matches!(next, Node::Boundary(..)) { i + twins } else { i };
                        (i as u32) << stride2
                    }
                };
            }
            let sid = node.state().0;
            let e = dfa.next_eoi_state(sid);
            eoi[row] = if dfa.is_match_state(e) { 1 + dfa.match_pattern(e, 0).as_u32() } else { 0 };
            if dfa.is_match_state(sid) {
                match_pattern[row] = dfa.match_pattern(sid, 0).as_u32();
            }
        };
        for &n in finals.iter().chain(&delayed).chain(&matches).chain(&normals) {
            fill(index[&n], n);
        }
        for &n in &copies {
            fill(index[&n], n);
            fill(index[&n] + twins, n);
        }
        let letter_loop: Vec<LetterLoop> = (0..states)
            .map(|row| {
                let id = (row as u32) << stride2;
                let loops =
                    |b: u8| row != 0 && table[row * stride + usize::from(classes[usize::from(b)])] == id;
                match ((b'a'..=b'z').all(loops), (b'A'..=b'Z').all(loops)) {
                    (true, true) => LetterLoop::Letters,
                    (true, false) => LetterLoop::Lower,
                    _ => LetterLoop::None,
                }
            })
            .collect();
        // The walk's layout: one entry per byte, each id its row times `STRIDE` plus its
        // letter loop, and the row starting at its id (see `LOOP_MASK`).
        let final_id = |id: u32| {
            let row = (id >> stride2) as usize;
            row as u32 * STRIDE + letter_loop[row] as u32
        };
        let mut by_byte = vec![0u32; states * STRIDE as usize];
        for (row, next) in table.chunks(stride).enumerate() {
            let at = final_id((row as u32) << stride2) as usize;
            for (b, to) in by_byte[at..at + 256].iter_mut().enumerate() {
                *to = final_id(next[usize::from(classes[b])]);
            }
        }
        Ok(Level {
            table: by_byte,
            start: final_id((index[&start_node] as u32) << stride2),
            final_end: (1 + f) as u32 * STRIDE,
            delayed: (1 + f + 2 * twins) as u32 * STRIDE,
            match_start: (1 + f + 2 * twins + d - delayed_matches) as u32 * STRIDE,
            special_end: (1 + f + 2 * twins + d) as u32 * STRIDE,
            match_end: (1 + f + 2 * twins + d + m) as u32 * STRIDE,
            match_pattern,
            eoi,
            after: vec![None; kinds.len()],
            kinds,
        })
    }

    fn memory_usage(&self) -> usize {
        4 * (self.table.len() + self.eoi.len() + self.match_pattern.len())
    }

    /// Whether `id` is a match state other than a final one (which the walk never
    /// stays in).
    #[inline]
    fn is_match(&self, id: u32) -> bool {
        id.wrapping_sub(self.match_start) < self.match_end - self.match_start
    }

    #[inline]
    fn pattern(&self, id: u32) -> u32 {
        self.match_pattern[(id / STRIDE) as usize]
    }

    /// One step of a walk of `lane` (one byte, or a run of letters its state keeps):
    /// `None` to go on, or what the walk found, for [`Automaton::settle`]. `lane.i` must
    /// be inside `bytes`. With `EMIT`, a piece that ends at a boundary goes to `f` and the
    /// walk goes on; without, the walk stops there (`Walked::Plain`).
    ///
    /// regex-automata reports a match one byte late: being in a match state with byte
    /// `i` next means a match ends at `i - 1`. A transition that stays in its state (a
    /// run of letters, say) changes nothing but the position, so the step looks at
    /// states only when they change, and the next load need not wait for this one.
    #[inline(always)]
    fn step<const EMIT: bool>(
        &self,
        bytes: &[u8],
        lane: &mut Lane,
        f: &mut impl FnMut(usize, usize),
    ) -> Option<Walked> {
        let (sid, i) = (lane.sid, lane.i);
        let next = self.table[(sid + u32::from(bytes[i])) as usize];
        if next != sid {
            if next < self.special_end {
                if next == 0 {
                    if self.is_match(sid) {
                        return Some(Walked::Match { pattern: self.pattern(sid), end: i - 1 });
                    }
                    return Some(lane.found);
                }
                if next < self.final_end {
                    return Some(Walked::Match { pattern: self.pattern(next), end: i });
                }
                // A boundary: the piece ended before byte i (before byte i - 1, the
                // character rule 2 gave back, at a delayed one).
                let end = i - usize::from(next >= self.delayed);
                if !EMIT {
                    return Some(Walked::Plain { end });
                }
                f(lane.piece, end);
                lane.piece = end;
                lane.found = Walked::None;
            } else if self.is_match(sid) {
                // Leaving a match state for an ordinary one: remember the match.
                // (Into another match state or a boundary, the match is superseded.)
                lane.found = Walked::Match { pattern: self.pattern(sid), end: i - 1 };
            }
            lane.sid = next;
            let run = match next & LOOP_MASK {
                0 => None,
                1 => Some(Ascii::Letter),
                _ => Some(Ascii::Lower),
            };
            if let Some(kind) = run {
                // The letters that follow keep the state: step over them at once
                // (the same as taking them one by one, which changes only `i`).
                lane.i = ascii_run_end(bytes, i + 1, kind);
                return None;
            }
        }
        lane.i = i + 1;
        None
    }

    /// What a walk of `lane` that read all of `bytes` found.
    fn at_end(&self, bytes: &[u8], lane: &Lane) -> Walked {
        match self.eoi[(lane.sid / STRIDE) as usize] {
            0 if self.is_match(lane.sid) => {
                Walked::Match { pattern: self.pattern(lane.sid), end: bytes.len() - 1 }
            }
            0 => lane.found,
            p => Walked::Match { pattern: p - 1, end: bytes.len() },
        }
    }

    /// Walks from `*piece` to the first piece that needs a decision (with `EMIT`,
    /// calling `f` on each piece before it that ends at a boundary and moving `*piece`
    /// past it), and returns what that piece found.
    #[inline(always)]
    fn walk<const EMIT: bool>(
        &self,
        text: &str,
        piece: &mut usize,
        f: &mut impl FnMut(usize, usize),
    ) -> Walked {
        let bytes = text.as_bytes();
        let mut lane = Lane::new(self, *piece);
        let walked = loop {
            if lane.i >= bytes.len() {
                break self.at_end(bytes, &lane);
            }
            if let Some(w) = self.step::<EMIT>(bytes, &mut lane, f) {
                break w;
            }
        };
        *piece = lane.piece;
        walked
    }
}

/// A walk of `levels[0]` under way: the state it is in, the next byte it reads, where
/// its piece started, and the last match it left.
#[derive(Clone, Copy)]
struct Lane {
    sid: u32,
    i: usize,
    piece: usize,
    found: Walked,
}

impl Lane {
    fn new(level: &Level, at: usize) -> Lane {
        Lane { sid: level.start, i: at, piece: at, found: Walked::None }
    }
}

/// Where a lane of [`Automaton::lanes`] puts its pieces until they go out in order:
/// piece ends relative to `base`, each piece starting where the one before ended, and
/// (with [`Ends::SKIP`]) places where the next piece starts after text no piece holds.
struct Ends {
    base: usize,
    n: usize,
    ends: [u16; LANE_ENDS],
}

impl Ends {
    const SKIP: u16 = 1 << 15;

    fn new(base: usize) -> Ends {
        Ends { base, n: 0, ends: [0; LANE_ENDS] }
    }

    /// A byte read: a piece ended at `end` if `boundary`. (The entry is written either
    /// way, without a branch; only the count depends on `boundary`. Where it is not one,
    /// `end` may be anything, before the lane's start too: hence the wrapping arithmetic.)
    #[inline(always)]
    fn take(&mut self, end: usize, boundary: bool) {
        self.ends[self.n.min(LANE_ENDS - 1)] = end.wrapping_sub(self.base) as u16;
        self.n += usize::from(boundary);
    }

    /// Where the last piece ended (the lane's start if none has).
    fn last(&self) -> usize {
        match self.n {
            0 => self.base,
            n => self.base + usize::from(self.ends[n - 1] & !Self::SKIP),
        }
    }

    /// Marks that the lane's pieces go on at `at` (if they do not already).
    fn skip_to(&mut self, at: usize) {
        if at != self.last() {
            self.ends[self.n] = (at - self.base) as u16 | Self::SKIP;
            self.n += 1;
        }
    }

    fn push(&mut self, s: usize, e: usize) {
        self.skip_to(s);
        self.ends[self.n] = (e - self.base) as u16;
        self.n += 1;
    }

    fn replay(&self, f: &mut impl FnMut(usize, usize)) {
        let mut s = self.base;
        for &e in &self.ends[..self.n] {
            let at = self.base + usize::from(e & !Self::SKIP);
            if e & Self::SKIP == 0 {
                f(s, at);
            }
            s = at;
        }
    }
}

/// A split pattern compiled to DFAs (see the module notes).
pub(crate) struct Automaton {
    /// `levels[0]` searches all branches; the others the branches after an idiom branch.
    levels: Vec<Level>,
    /// The branches as regex-automata syntax (the idiom as `\s+`), for the finder.
    branches: Vec<String>,
    /// The leftmost-start finder for skipped text, built on first need.
    finder: OnceBox<meta::Regex>,
    /// The pairs of ASCII bytes no piece crosses, in every level ([`sync_pairs`]):
    /// where the text is cut for [`Automaton::for_each_range`]'s lanes.
    sync: Box<[u128; 128]>,
}

/// Why a pattern does not qualify (for tests and diagnostics).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal(pub(crate) String);

fn refuse<T>(why: impl Into<String>) -> Result<T, Refusal> {
    Err(Refusal(why.into()))
}

/// Whether `e` is fancy-regex's parse of `\s+(?!\S)`.
fn is_ws_lookahead(items: &[Expr]) -> bool {
    let ws =
        |e: &Expr, class: &str| matches!(e, Expr::Delegate { inner, casei: false, .. } if inner == class);
    match items {
        [Expr::Repeat { child, lo: 1, hi: usize::MAX, greedy: true }, Expr::LookAround(inner, LookAround::LookAheadNeg)] => {
            ws(child, "\\s") && ws(inner, "\\S")
        }
        _ => false,
    }
}

/// `e` in regex-automata's syntax.
fn render(e: &Expr) -> String {
    let mut s = String::new();
    e.to_str(&mut s, 1);
    s
}

fn parse_hir(src: &str) -> Result<Hir, Refusal> {
    regex_syntax::ParserBuilder::new()
        .unicode(true)
        .utf8(true)
        .build()
        .parse(src)
        .or_else(|e| refuse(format!("regex-syntax rejects {src:?}: {e}")))
}

/// The characters a non-empty match of `h` can start with, and whether `h` can match
/// empty. Refuses assertions other than `$` (rule 1 needs that).
fn first_set(h: &Hir) -> Result<(ClassUnicode, bool), Refusal> {
    Ok(match h.kind() {
        HirKind::Empty => (ClassUnicode::empty(), true),
        HirKind::Literal(lit) => {
            let Some(c) = std::str::from_utf8(&lit.0).ok().and_then(|s| s.chars().next()) else {
                return refuse("a literal that is not UTF-8");
            };
            (ClassUnicode::new([regex_syntax::hir::ClassUnicodeRange::new(c, c)]), false)
        }
        HirKind::Class(Class::Unicode(cls)) => (cls.clone(), false),
        HirKind::Class(Class::Bytes(_)) => return refuse("a byte class"),
        HirKind::Look(Look::End) => (ClassUnicode::empty(), true),
        HirKind::Look(look) => return refuse(format!("the assertion {look:?}")),
        HirKind::Repetition(rep) => {
            let (set, nullable) = first_set(&rep.sub)?;
            (set, nullable || rep.min == 0)
        }
        HirKind::Capture(cap) => first_set(&cap.sub)?,
        HirKind::Concat(items) => {
            let mut acc = ClassUnicode::empty();
            for item in items {
                let (set, nullable) = first_set(item)?;
                acc.union(&set);
                if !nullable {
                    return Ok((acc, false));
                }
            }
            (acc, true)
        }
        HirKind::Alternation(alts) => {
            let mut acc = ClassUnicode::empty();
            let mut any_nullable = false;
            for alt in alts {
                let (set, nullable) = first_set(alt)?;
                acc.union(&set);
                any_nullable |= nullable;
            }
            (acc, any_nullable)
        }
    })
}

/// The set of single characters `e` matches, if it matches exactly one character.
fn single_char_class(e: &Expr) -> Result<Option<ClassUnicode>, Refusal> {
    // `render` (fancy-regex's `to_str`) panics on constructs the regex crate lacks.
    check_plain(e)?;
    let hir = parse_hir(&render(e))?;
    Ok(match hir.kind() {
        HirKind::Class(Class::Unicode(cls)) => Some(cls.clone()),
        HirKind::Literal(lit) => match std::str::from_utf8(&lit.0) {
            Ok(s) if s.chars().count() == 1 => {
                let c = s.chars().next().unwrap_or_default();
                Some(ClassUnicode::new([regex_syntax::hir::ClassUnicodeRange::new(c, c)]))
            }
            _ => None,
        },
        _ => None,
    })
}

/// Checks that `e` holds only constructs a DFA runs with backtracking's meaning.
fn check_plain(e: &Expr) -> Result<(), Refusal> {
    match e {
        Expr::Empty | Expr::Any { .. } | Expr::Literal { .. } | Expr::Delegate { .. } => Ok(()),
        Expr::Assertion(Assertion::EndText) => Ok(()),
        Expr::Assertion(a) => refuse(format!("the assertion {a:?}")),
        Expr::Concat(items) | Expr::Alt(items) => items.iter().try_for_each(check_plain),
        Expr::Group(inner) => check_plain(inner),
        Expr::Repeat { child, greedy, .. } => {
            if !greedy {
                return refuse("a lazy quantifier");
            }
            check_plain(child)
        }
        Expr::LookAround(..) => refuse("look-around other than a whole `\\s+(?!\\S)` branch"),
        Expr::AtomicGroup(_) => refuse("an atomic group or possessive quantifier rule 1 cannot prove"),
        Expr::Backref { .. } | Expr::BackrefWithRelativeRecursionLevel { .. } => refuse("a back-reference"),
        other => refuse(format!("the construct {other:?}")),
    }
}

/// One branch rewritten to a plain regex (rules 1 and 2).
fn rewrite_branch(branch: &Expr) -> Result<(String, Kind), Refusal> {
    let mut items: Vec<Expr> = match branch {
        Expr::Concat(items) => items.clone(),
        other => vec![other.clone()],
    };
    if is_ws_lookahead(&items) {
        return Ok(("\\s+".to_owned(), Kind::WsLookahead));
    }
    // Rule 1, right to left so each rest is already plain.
    for i in (0..items.len()).rev() {
        let Expr::AtomicGroup(inner) = &items[i] else { continue };
        // An atomic group around one character, or an exact count of them, has one way
        // to match, so it equals its inside whatever follows.
        let (class, one_way) = match inner.as_ref() {
            Expr::Repeat { child, lo, hi, greedy: true } => (single_char_class(child)?, lo == hi),
            single => (single_char_class(single)?, true),
        };
        let Some(class) = class else {
            return refuse("an atomic group that is not over a single-character class");
        };
        let rest = Expr::Concat(items[i + 1..].to_vec());
        check_plain(&rest)?;
        if !one_way {
            let (first, _) = first_set(&parse_hir(&render(&rest))?)?;
            let mut overlap = class;
            overlap.intersect(&first);
            if !overlap.ranges().is_empty() {
                return refuse(
                    "a possessive repetition followed by what can start with one of its characters",
                );
            }
        }
        items[i] = inner.as_ref().clone();
    }
    let plain = Expr::Concat(items);
    check_plain(&plain)?;
    Ok((render(&plain), Kind::Plain))
}

fn build_dfa(branches: &[String]) -> Result<dense::DFA<Vec<u32>>, Refusal> {
    dense::Builder::new()
        .configure(
            dense::Config::new()
                .match_kind(MatchKind::LeftmostFirst)
                .start_kind(StartKind::Anchored)
                // Acceleration is for regex-automata's own search loop; the table copy
                // (`Level`) does not use it.
                .accelerate(false)
                .specialize_start_states(false)
                .dfa_size_limit(Some(DFA_SIZE_LIMIT))
                .determinize_size_limit(Some(DFA_SIZE_LIMIT)),
        )
        .thompson(thompson::Config::new().which_captures(thompson::WhichCaptures::None))
        .build_many(branches)
        .or_else(|e| refuse(format!("the DFA cannot be built within the limits: {e}")))
}

/// The state every anchored search of `dfa` starts in.
fn anchored_start(dfa: &dense::DFA<Vec<u32>>) -> Result<StateID, Refusal> {
    dfa.start_state(&start::Config::new().anchored(Anchored::Yes))
        .or_else(|e| refuse(format!("no anchored start state: {e}")))
}

/// Every state of `dfa` that `start` reaches on the bytes `bytes` (all 256, or one of each
/// byte class), `start` first.
fn reachable(dfa: &dense::DFA<Vec<u32>>, start: StateID, bytes: &[u8]) -> Vec<StateID> {
    let mut seen = std::collections::HashSet::from([start]);
    let mut order = vec![start];
    let mut k = 0;
    while k < order.len() {
        let sid = order[k];
        k += 1;
        for &b in bytes {
            let next = dfa.next_state(sid, b);
            if !dfa.is_dead_state(next) && seen.insert(next) {
                order.push(next);
            }
        }
    }
    order
}

/// The pairs of ASCII bytes `a b` that no piece crosses, in `dfa` (bit `b` of entry `a`):
/// from every state, reading `a` then `b` leads to the dead state or to a final match
/// state (the match ended between them and can go no further). A walk that starts
/// before `b` reads `a` and `b` (unless it ended before), so it ends there at the
/// latest: no match of the DFA's branches holds both bytes, and a piece starts at `b`.
fn sync_pairs(dfa: &dense::DFA<Vec<u32>>) -> Result<[u128; 128], Refusal> {
    let every: Vec<u8> = (0..=255).collect();
    let order = reachable(dfa, anchored_start(dfa)?, &every);
    let ends_piece = |sid: StateID| {
        dfa.is_dead_state(sid)
            || (dfa.is_match_state(sid)
                && (0..=255u8).all(|b| dfa.is_dead_state(dfa.next_state(sid, b)))
                && !dfa.is_match_state(dfa.next_eoi_state(sid)))
    };
    let mut pairs = [0u128; 128];
    for (a, row) in (0..128u8).zip(pairs.iter_mut()) {
        let mut after_a: Vec<StateID> = order.iter().map(|&s| dfa.next_state(s, a)).collect();
        after_a.sort_unstable();
        after_a.dedup();
        for b in 0..128u8 {
            if after_a.iter().all(|&t| dfa.is_dead_state(t) || ends_piece(dfa.next_state(t, b))) {
                *row |= 1 << b;
            }
        }
    }
    Ok(pairs)
}

impl std::fmt::Debug for Automaton {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Automaton")
            .field("branches", &self.branches)
            .field("dfas", &self.levels.len())
            .field("memory_usage", &self.memory_usage())
            .finish()
    }
}

impl Automaton {
    /// Compiles `source` if it qualifies (module notes); otherwise says why not.
    pub(crate) fn new(source: &str) -> Result<Self, Refusal> {
        let tree = Expr::parse_tree(source).or_else(|e| refuse(format!("fancy-regex rejects it: {e}")))?;
        if !tree.backrefs.is_empty() {
            return refuse("back-references");
        }
        let top: Vec<Expr> = match tree.expr {
            Expr::Alt(branches) => branches,
            other => vec![other],
        };
        let mut branches = Vec::with_capacity(top.len());
        let mut kinds = Vec::with_capacity(top.len());
        for b in &top {
            let (src, kind) = rewrite_branch(b)?;
            let hir = parse_hir(&src)?;
            if hir.properties().minimum_len().is_none_or(|n| n == 0) {
                return refuse(format!("the branch {src:?} can match the empty string"));
            }
            // Look-behind context would make the start state depend on the text before.
            if hir.properties().look_set().iter().any(|l| l != Look::End) {
                return refuse(format!("the branch {src:?} has an assertion other than `$`"));
            }
            branches.push(src);
            kinds.push(kind);
        }
        if kinds.iter().filter(|&&k| k == Kind::WsLookahead).count() > MAX_LOOKAHEAD_BRANCHES {
            return refuse("too many `\\s+(?!\\S)` branches");
        }
        // Level for branches first.., built for 0 and after each idiom branch.
        let mut firsts: Vec<usize> = Vec::new();
        let mut dfas = Vec::new();
        let mut sync = Box::new([u128::MAX; 128]);
        let mut pending = vec![0usize];
        while let Some(first) = pending.pop() {
            if firsts.contains(&first) {
                continue;
            }
            firsts.push(first);
            let dfa = build_dfa(&branches[first..])?;
            for (all, these) in sync.iter_mut().zip(sync_pairs(&dfa)?) {
                *all &= these;
            }
            dfas.push(dfa);
            for (k, kind) in kinds.iter().enumerate().skip(first) {
                if *kind == Kind::WsLookahead && k + 1 < branches.len() {
                    pending.push(k + 1);
                }
            }
        }
        let mut levels: Vec<Level> = Vec::new();
        for (&first, dfa) in firsts.iter().zip(&dfas) {
            let after: Vec<_> = (first..branches.len())
                .map(|k| {
                    let next =
                        firsts.iter().position(|&f| f == k + 1).filter(|_| kinds[k] == Kind::WsLookahead)?;
                    Some((&dfas[next], &kinds[k + 1..]))
                })
                .collect();
            levels.push(Level::new(dfa, kinds[first..].to_vec(), first == 0, &after)?);
        }
        // Link each idiom branch to the level of the branches after it.
        for li in 0..levels.len() {
            let first = firsts[li];
            for (k, &kind) in kinds.iter().enumerate().skip(first) {
                if kind == Kind::WsLookahead {
                    levels[li].after[k - first] = firsts.iter().position(|&f| f == k + 1);
                }
            }
        }
        Ok(Automaton { levels, branches, finder: OnceBox::new(), sync })
    }

    /// Heap bytes of the DFAs.
    pub(crate) fn memory_usage(&self) -> usize {
        self.levels.iter().map(Level::memory_usage).sum()
    }

    /// Finishes a walk of `levels[level]` from `s` (rules 2 and 3): the end of the
    /// pattern's match at `s`, if it matches there.
    #[inline]
    fn resolve(&self, text: &str, s: usize, mut level: usize, mut walked: Walked) -> Option<usize> {
        loop {
            let l = &self.levels[level];
            let (pattern, q) = match walked {
                Walked::None => return None,
                Walked::Plain { end } => return Some(end),
                Walked::Match { pattern, end } => (pattern as usize, end),
            };
            if l.kinds[pattern] == Kind::Plain || q == text.len() {
                return Some(q);
            }
            // Rule 2: give back the run's last character, if that leaves one.
            let mut last = q - 1;
            while !text.is_char_boundary(last) {
                last -= 1;
            }
            if last > s {
                return Some(last);
            }
            level = l.after[pattern]?;
            let mut at = s;
            walked = self.levels[level].walk::<false>(text, &mut at, &mut |_, _| ());
        }
    }

    /// The end of the pattern's match anchored at `s`, if it matches there.
    fn match_at(&self, text: &str, s: usize) -> Option<usize> {
        let mut at = s;
        let walked = self.levels[0].walk::<false>(text, &mut at, &mut |_, _| ());
        self.resolve(text, s, 0, walked)
    }

    fn finder(&self) -> Option<&meta::Regex> {
        if let Some(f) = self.finder.get() {
            return Some(f);
        }
        let built = meta::Regex::builder()
            .configure(meta::Regex::config().match_kind(MatchKind::LeftmostFirst))
            .syntax(regex_automata::util::syntax::Config::new().unicode(true).utf8(true))
            .build_many(&self.branches)
            .ok()?;
        Some(self.finder.get_or_init(|| Box::new(built)))
    }

    /// Calls `f` on the byte range of each piece of `text`, in order (fancy-regex's
    /// `find_iter` pieces); text of [`LANES_MIN`] bytes or more in windows walked in
    /// lanes (module notes, "Lanes"). A window ends at the first cut at or after
    /// [`WINDOW`] bytes; where none is near, one lane walks on to the next cut.
    #[inline]
    pub(crate) fn for_each_range(&self, text: &str, mut f: impl FnMut(usize, usize)) {
        let bytes = text.as_bytes();
        if bytes.len() < LANES_MIN {
            return self.run_lane(text, Lane::new(&self.levels[0], 0), bytes.len(), &mut f);
        }
        let mut w = 0;
        while w < bytes.len() {
            if w + WINDOW >= bytes.len() {
                self.window(text, w, bytes.len(), &mut f);
                return;
            }
            match self.sync_after(bytes, w + WINDOW, SYNC_SCAN) {
                Some(end) => {
                    self.window(text, w, end, &mut f);
                    w = end;
                }
                None => {
                    // No cut near: one lane up to the next cut.
                    let end = self.sync_after(bytes, w + WINDOW, usize::MAX).unwrap_or(bytes.len());
                    self.run_lane(text, Lane::new(&self.levels[0], w), end, &mut f);
                    w = end;
                    continue;
                }
            }
        }
    }

    /// The pieces of `text[from..end]` (both places where pieces start, `end -
    /// from` at most `WINDOW + SYNC_SCAN`): in [`LANES`] lanes if there are cuts near
    /// the places that divide it evenly.
    fn window(&self, text: &str, from: usize, end: usize, f: &mut impl FnMut(usize, usize)) {
        let mut cuts = [end; LANES + 1];
        cuts[0] = from;
        for k in 1..LANES {
            let at = from + k * (end - from) / LANES;
            match self.sync_after(text.as_bytes(), at, SYNC_SCAN).filter(|&p| p > cuts[k - 1] && p < end) {
                Some(p) => cuts[k] = p,
                None => return self.run_lane(text, Lane::new(&self.levels[0], from), end, f),
            }
        }
        self.lanes(text, &cuts, f);
    }

    /// The first place at or after `at` (and within `scan` bytes) where a piece
    /// starts whatever came before: between a pair of [`Automaton::sync`].
    fn sync_after(&self, bytes: &[u8], at: usize, scan: usize) -> Option<usize> {
        let from = at.max(1);
        let to = bytes.len().min(from.saturating_add(scan));
        (from..to).find(|&j| {
            let (a, b) = (bytes[j - 1], bytes[j]);
            a < 0x80 && b < 0x80 && self.sync[usize::from(a)] >> b & 1 != 0
        })
    }

    /// The pieces of the text between `cuts[0]` and `cuts[LANES]`, all places where
    /// pieces start, walked in lanes from each cut to the next (see
    /// [`Automaton::for_each_range`]). A lane's step has no branch but the one for the
    /// rare transitions into the dead state or a final match state, and the loop's.
    fn lanes(&self, text: &str, cuts: &[usize; LANES + 1], f: &mut impl FnMut(usize, usize)) {
        let l = &self.levels[0];
        let bytes = text.as_bytes();
        let table = &l.table[..];
        let (final_end, delayed, special_end) = (l.final_end, l.delayed, l.special_end);
        let mut outs: [Ends; LANES] = std::array::from_fn(|k| Ends::new(cuts[k]));
        let mut sid = [l.start; LANES];
        // Each lane's bytes, from its cut up to the byte at the next one (a lane is done
        // once it has read that byte: it then ended a piece there), or to the end of the
        // text; `at` is relative to the lane's cut, as are the ends it writes.
        let mine: [&[u8]; LANES] =
            std::array::from_fn(|k| &bytes[cuts[k]..=cuts[k + 1].min(bytes.len() - 1)]);
        let mut at = [0usize; LANES];
        // (The counts in locals, where the loop keeps them in registers.)
        let mut n = [0usize; LANES];
        loop {
            // A run of steps of all lanes, as far as the shortest goes, in a loop of its
            // own: its values stay in registers (the calls of the rare paths, outside it,
            // spill what lives across them), and it reads the lanes' bytes without
            // bounds checks (each lane's sliced to the run's length).
            let steps = (0..LANES).map(|k| mine[k].len().saturating_sub(at[k])).min().unwrap_or(0);
            if steps == 0 {
                break;
            }
            let run: [&[u8]; LANES] = std::array::from_fn(|k| &mine[k][at[k]..at[k] + steps]);
            let (from, mut next, mut done) = (at, [0u32; LANES], steps);
            for j in 0..steps {
                next = std::array::from_fn(|k| table[(sid[k] + u32::from(run[k][j])) as usize]);
                if next.iter().any(|&x| x < final_end) {
                    done = j;
                    break;
                }
                for k in 0..LANES {
                    // (Written whatever `next` is: only the count says whether it is an end,
                    // and `next >= delayed` holds for a delayed boundary among the boundaries.)
                    outs[k].ends[n[k].min(LANE_ENDS - 1)] =
                        (from[k] + j).wrapping_sub(usize::from(next[k] >= delayed)) as u16;
                    n[k] += usize::from(next[k] < special_end);
                }
                sid = next;
            }
            for k in 0..LANES {
                at[k] = from[k] + done;
            }
            if done == steps {
                continue;
            }
            for k in 0..LANES {
                outs[k].n = n[k];
                let i = cuts[k] + at[k];
                let (s, i) = if next[k] < final_end {
                    self.event(text, sid[k], next[k], i, cuts[k + 1], &mut outs[k])
                } else {
                    outs[k].take(i.wrapping_sub(usize::from(next[k] >= delayed)), next[k] < special_end);
                    (next[k], i + 1)
                };
                (sid[k], at[k]) = (s, i.saturating_sub(cuts[k]));
                n[k] = outs[k].n;
            }
        }
        for (k, out) in outs.iter_mut().enumerate() {
            out.n = n[k];
            // On alone from the last piece's end (the piece under way walked again).
            self.run_lane(text, Lane::new(l, out.last()), cuts[k + 1], &mut |s, e| out.push(s, e));
            out.replay(f);
        }
    }

    /// A lane of [`Automaton::lanes`] that read a byte into the dead state or a final
    /// match state: its piece decided ([`Automaton::settle`]) and the lane's next state
    /// and position (past the text if no piece starts before `stop`).
    #[inline(never)]
    fn event(&self, text: &str, sid: u32, next: u32, i: usize, stop: usize, out: &mut Ends) -> (u32, usize) {
        let l = &self.levels[0];
        let piece = out.last();
        if next != 0 && i < text.len() && l.kinds[l.pattern(next) as usize] == Kind::WsLookahead {
            // The most common case, rule 2 giving back a character, without the general
            // path's calls ([`Automaton::resolve`] would decide the same).
            let mut last = i - 1;
            while !text.is_char_boundary(last) {
                last -= 1;
            }
            if last > piece {
                out.push(piece, last);
                return (l.start, last);
            }
        }
        let walked = if next != 0 {
            Walked::Match { pattern: l.pattern(next), end: i }
        } else if l.is_match(sid) {
            Walked::Match { pattern: l.pattern(sid), end: i - 1 }
        } else {
            // The last match the walk left, found again.
            let mut at = piece;
            l.walk::<false>(text, &mut at, &mut |_, _| ())
        };
        let settled = self.settle(text, Lane::new(l, piece), walked, stop, &mut |s, e| out.push(s, e));
        if settled.piece < stop {
            return (l.start, settled.piece);
        }
        out.skip_to(stop);
        (l.start, usize::MAX)
    }

    /// Goes on with the walk of `lane` until its pieces reach `stop` (a place where a
    /// piece starts, or the end of text), calling `f` on each.
    #[inline(always)]
    fn run_lane(&self, text: &str, mut lane: Lane, stop: usize, f: &mut impl FnMut(usize, usize)) {
        let l = &self.levels[0];
        let bytes = text.as_bytes();
        while lane.piece < stop {
            let walked = if lane.i >= bytes.len() {
                l.at_end(bytes, &lane)
            } else {
                match l.step::<true>(bytes, &mut lane, f) {
                    Some(walked) => walked,
                    None => continue,
                }
            };
            lane = self.settle(text, lane, walked, stop, f);
        }
    }

    /// After the walk of `lane` found `walked` for the piece at `lane.piece`: decides
    /// that piece (rules 2 and 3), calls `f` on it, and returns a lane that walks on
    /// from its end (one whose piece is `stop` if no piece starts before `stop`).
    #[inline(never)]
    fn settle(
        &self,
        text: &str,
        lane: Lane,
        walked: Walked,
        stop: usize,
        f: &mut impl FnMut(usize, usize),
    ) -> Lane {
        let l = &self.levels[0];
        let pos = lane.piece;
        if let Some(end) = self.resolve(text, pos, 0, walked) {
            debug_assert!(end <= stop, "a piece crossed a place where pieces start");
            f(pos, end);
            return Lane::new(l, end);
        }
        // Rule 3: nothing matches at pos; find the next start that can.
        let mut from = pos + text[pos..].chars().next().map_or(1, char::len_utf8);
        while from < stop {
            // Without a finder (it failed to build), every position is a candidate:
            // slower, equally exact.
            let s = match self.finder() {
                Some(r) => match r.search(&Input::new(text).range(from..)) {
                    Some(m) => m.start(),
                    None => break,
                },
                None => from,
            };
            if s >= stop {
                break;
            }
            if let Some(end) = self.match_at(text, s) {
                debug_assert!(end <= stop, "a piece crossed a place where pieces start");
                f(s, end);
                return Lane::new(l, end);
            }
            from = s + text[s..].chars().next().map_or(1, char::len_utf8);
        }
        Lane::new(l, stop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pattern::{Pattern, LLAMA3_PATTERN, NAMED_PATTERNS};

    fn is_cut(a: &Automaton, x: u8, y: u8) -> bool {
        a.sync[usize::from(x)] >> y & 1 != 0
    }

    /// The cuts of Llama 3's pattern are the places the pattern itself says no piece
    /// crosses, and not the others (so the lanes run, and run where they may).
    #[test]
    fn cuts_are_between_bytes_no_piece_holds_together() {
        let a = Automaton::new(LLAMA3_PATTERN).unwrap();
        for (x, y) in [(b'a', b' '), (b'a', b'.'), (b'\n', b'a'), (b'1', b'a'), (b'a', b'1')] {
            assert!(is_cut(&a, x, y), "{:?}", (x as char, y as char));
        }
        // " a", ".a" (a letter's prefix), "  ", "12" and "'s" can be inside pieces.
        for (x, y) in [
            (b' ', b'a'),
            (b'.', b'a'),
            (b' ', b' '),
            (b'1', b'2'),
            (b'\'', b's'),
            (b'a', b'b'),
            (b'\r', b'\n'),
        ] {
            assert!(!is_cut(&a, x, y), "{:?}", (x as char, y as char));
        }
    }

    /// The table takes rule 2 for runs of ASCII whitespace (delayed boundary states).
    #[test]
    fn the_idiom_gives_back_in_the_table() {
        let l = &Automaton::new(LLAMA3_PATTERN).unwrap().levels[0];
        assert!(l.special_end > l.delayed, "no delayed boundary states");
        let mut lane = Lane::new(l, 0);
        let mut pieces = Vec::new();
        let text = b"ab   cd";
        while lane.i < text.len() {
            assert!(l.step::<true>(text, &mut lane, &mut |s, e| pieces.push((s, e))).is_none());
        }
        assert_eq!(pieces, [(0, 2), (2, 4)]); // "ab", "  ", then " cd" under way
    }

    /// Long texts, walked in windows and lanes (in tests, from a few bytes on), with and
    /// without cuts near the places wanted, against fancy-regex.
    #[test]
    fn lanes_split_long_texts_like_fancy_regex() {
        let parts =
            ["Hello  world's 12345\n\n  end.", "中文字符没有空格", "  \t x", "\u{a0}\u{3000} y", "a.b,c"];
        let mut texts = vec![parts.concat().repeat(50), "中".repeat(400) + &parts.concat().repeat(9)];
        texts.push(texts[1].chars().rev().collect());
        for (_, src) in NAMED_PATTERNS {
            let (auto, slow) = (Pattern::new_automaton(src).unwrap(), Pattern::new_general(src).unwrap());
            for text in &texts {
                let want: Vec<&str> = slow.split(text).map(|p| p.unwrap()).collect();
                let got: Vec<&str> = auto.split(text).map(|p| p.unwrap()).collect();
                assert_eq!(got, want, "{src}");
            }
        }
    }
}
