//! Which words does a passage hold, and how well do a query's words match it? The lexical half of
//! hybrid search: an English analyser (Unicode words, lower-cased, Lucene's stop words, Snowball
//! stemming) and BM25 over passages, with statistics kept exact under every add, replace and remove.
//!
//! A passage's words travel as strings ([`PassageTerms`]) wherever documents move between stores
//! (index files, records, an encoder pool's output) and are interned once stored ([`Lexicon`]), so
//! a store's statistics never depend on the order or the route by which its documents came.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::sync::OnceLock;

use rust_stemmers::{Algorithm, Stemmer};

/// BM25's term-frequency saturation and length normalisation, as Lucene's defaults (and the
/// baselines the quality table compares with).
const K1: f32 = 1.2;
const B: f32 = 0.75;
/// Longer runs of letters and digits (base64, hashes, URLs without separators) are not words a
/// person types into a search box; keeping them would only grow the dictionary.
const MAX_WORD_BYTES: usize = 64;

/// Lucene's English stop set (EnglishAnalyzer's default, also Elasticsearch's and bm25s's "en"):
/// 33 function words. Short on purpose: personal notes search for words such as "first" or "new"
/// that longer lists (NLTK's 179) drop.
const STOP_WORDS: [&str; 33] = [
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it",
    "no", "not", "of", "on", "or", "such", "that", "the", "their", "then", "there", "these",
    "they", "this", "to", "was", "will", "with",
];

/// One indexed word of a text: its stemmed term and where it stands (byte range).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    pub term: String,
    pub range: Range<usize>,
}

fn stemmer() -> &'static Stemmer {
    static STEMMER: OnceLock<Stemmer> = OnceLock::new();
    STEMMER.get_or_init(|| Stemmer::create(Algorithm::English))
}

/// The words of `text` that the lexical index keeps, in order: maximal runs of letters and digits,
/// lower-cased, stop words and over-long runs dropped, stemmed (Snowball English). Chinese and
/// Japanese characters, written without spaces, are a word each (as Lucene's standard tokenizer
/// treats ideographs), so a note in those scripts is not one unsearchable run.
pub fn words(text: &str) -> Vec<Word> {
    let mut out = Vec::new();
    let mut push = |range: Range<usize>| {
        if let Some(term) = term_of(&text[range.clone()]) {
            out.push(Word { term, range });
        }
    };
    let mut start = None;
    let end = std::iter::once((text.len(), ' '));
    for (i, c) in text.char_indices().chain(end) {
        let single = is_ideograph(c);
        if let Some(s) = start.filter(|_| single || !c.is_alphanumeric()) {
            start = None;
            push(s..i);
        }
        if single {
            push(i..i + c.len_utf8());
        } else if c.is_alphanumeric() && start.is_none() {
            start = Some(i);
        }
    }
    out
}

/// Han ideographs and Japanese kana: scripts written without spaces between words.
fn is_ideograph(c: char) -> bool {
    matches!(
        c as u32,
        0x3040..=0x30FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x2FA1F
    )
}

fn term_of(raw: &str) -> Option<String> {
    if raw.len() > MAX_WORD_BYTES {
        return None;
    }
    let lower = raw.to_lowercase();
    if STOP_WORDS.contains(&lower.as_str()) {
        return None;
    }
    Some(stemmer().stem(&lower).into_owned())
}

/// A passage's terms with their counts, sorted by term: what a passage contributes to BM25.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PassageTerms {
    pub counts: Vec<(String, u32)>,
}

impl PassageTerms {
    pub fn of(text: &str) -> PassageTerms {
        let mut counts: BTreeMap<String, u32> = BTreeMap::new();
        for word in words(text) {
            *counts.entry(word.term).or_default() += 1;
        }
        PassageTerms {
            counts: counts.into_iter().collect(),
        }
    }

    /// Indexed words in the passage (BM25's document length).
    pub fn length(&self) -> u32 {
        self.counts.iter().map(|(_, n)| n).sum()
    }
}

/// A stored passage's terms, interned: (term id, count) sorted by id, and its length.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InternedTerms {
    counts: Box<[(u32, u32)]>,
    length: u32,
}

impl InternedTerms {
    fn count_of(&self, term: u32) -> u32 {
        self.counts
            .binary_search_by_key(&term, |(t, _)| *t)
            .map_or(0, |i| self.counts[i].1)
    }

    /// Bytes this passage's terms take in memory.
    pub fn heap_bytes(&self) -> usize {
        self.counts.len() * std::mem::size_of::<(u32, u32)>()
    }
}

/// Every stored passage's vocabulary: term ids, each term's document (passage) frequency, and the
/// totals BM25 needs. Passages are added and forgotten one by one; the figures after any sequence
/// are those of a store built from scratch (see [`Lexicon::statistics`]).
#[derive(Debug, Clone, Default)]
pub struct Lexicon {
    ids: HashMap<Box<str>, u32>,
    /// By id: the term and how many stored passages hold it (0: no longer stored; its id is kept so
    /// stored passages' ids never change).
    terms: Vec<(Box<str>, u32)>,
    passages: usize,
    total_length: u64,
}

/// What BM25 computes from: equal for two lexicons holding the same passages, however built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LexiconStatistics {
    pub passages: usize,
    pub total_length: u64,
    pub document_frequency: BTreeMap<String, u32>,
}

impl Lexicon {
    /// Counts a passage in and returns its interned terms.
    pub fn add(&mut self, terms: &PassageTerms) -> InternedTerms {
        let mut counts: Vec<(u32, u32)> = terms
            .counts
            .iter()
            .map(|(term, n)| {
                let id = self.intern(term);
                self.terms[id as usize].1 += 1;
                (id, *n)
            })
            .collect();
        counts.sort_unstable();
        let length = terms.length();
        self.passages += 1;
        self.total_length += u64::from(length);
        InternedTerms {
            counts: counts.into_boxed_slice(),
            length,
        }
    }

    /// Counts a stored passage out (it is being removed).
    pub fn forget(&mut self, terms: &InternedTerms) {
        for (id, _) in terms.counts.iter() {
            self.terms[*id as usize].1 -= 1;
        }
        self.passages -= 1;
        self.total_length -= u64::from(terms.length);
    }

    fn intern(&mut self, term: &str) -> u32 {
        if let Some(id) = self.ids.get(term) {
            return *id;
        }
        let id = self.terms.len() as u32;
        self.ids.insert(term.into(), id);
        self.terms.push((term.into(), 0));
        id
    }

    /// A stored passage's terms as strings again (to write it out or hand it to another store).
    pub fn terms_of(&self, interned: &InternedTerms) -> PassageTerms {
        let mut counts: Vec<(String, u32)> = interned
            .counts
            .iter()
            .map(|(id, n)| (self.terms[*id as usize].0.to_string(), *n))
            .collect();
        counts.sort_unstable();
        PassageTerms { counts }
    }

    pub fn statistics(&self) -> LexiconStatistics {
        LexiconStatistics {
            passages: self.passages,
            total_length: self.total_length,
            document_frequency: self
                .terms
                .iter()
                .filter(|(_, df)| *df > 0)
                .map(|(t, df)| (t.to_string(), *df))
                .collect(),
        }
    }

    /// Bytes the dictionary takes in memory (terms, ids, frequencies).
    pub fn heap_bytes(&self) -> usize {
        let per_term = 2 * std::mem::size_of::<Box<str>>() + 8;
        self.terms.iter().map(|(t, _)| 2 * t.len() + per_term).sum()
    }

    /// The query's distinct terms that some stored passage holds, with their BM25 weights (Lucene's
    /// idf) and how often the query says each: what [`Lexicon::score`] sums. A repeated word counts
    /// each time, as in Lucene (on CISI's long questions, counting it once cost 0.06 nDCG@10).
    pub fn query_terms(&self, query: &str) -> Vec<QueryTerm> {
        let mut terms: Vec<QueryTerm> = Vec::new();
        let n = self.passages as f32;
        for word in words(query) {
            let Some(&id) = self.ids.get(word.term.as_str()) else {
                continue;
            };
            let df = self.terms[id as usize].1;
            if df == 0 {
                continue;
            }
            match terms.iter_mut().find(|t| t.id == id) {
                Some(seen) => seen.count += 1.0,
                None => {
                    let idf = (1.0 + (n - df as f32 + 0.5) / (df as f32 + 0.5)).ln();
                    terms.push(QueryTerm {
                        id,
                        idf,
                        count: 1.0,
                    });
                }
            }
        }
        terms
    }

    /// BM25 of one passage for the query's terms (0 when it holds none of them).
    pub fn score(&self, query: &[QueryTerm], passage: &InternedTerms) -> f32 {
        query
            .iter()
            .map(|q| self.term_score(q, passage.count_of(q.id), passage.length))
            .sum()
    }

    /// One query term's share of a passage's BM25, given its count there and the passage's length.
    fn term_score(&self, term: &QueryTerm, count: u32, length: u32) -> f32 {
        if count == 0 || self.passages == 0 {
            return 0.0;
        }
        let average = (self.total_length as f32 / self.passages as f32).max(1.0);
        let norm = K1 * (1.0 - B + B * length as f32 / average);
        let tf = count as f32;
        term.count * term.idf * tf * (K1 + 1.0) / (tf + norm)
    }

    /// Which of the query's words `passage` (a stored passage's text) holds: each distinct query
    /// term the index knows, with its words in the query and in the passage (byte ranges of each)
    /// and its share of the passage's BM25 (the shares sum to what a search scored it).
    pub fn explain(&self, query: &str, passage: &str) -> Vec<WordMatch> {
        let terms = self.query_terms(query);
        let query_words = words(query);
        let passage_words = words(passage);
        let length = passage_words.len() as u32;
        terms
            .iter()
            .filter_map(|q| {
                let term = &self.terms[q.id as usize].0;
                let ranges_of = |ws: &[Word]| -> Vec<Range<usize>> {
                    ws.iter()
                        .filter(|w| *w.term == **term)
                        .map(|w| w.range.clone())
                        .collect()
                };
                let in_passage = ranges_of(&passage_words);
                let score = self.term_score(q, in_passage.len() as u32, length);
                (!in_passage.is_empty()).then(|| WordMatch {
                    term: term.to_string(),
                    query_ranges: ranges_of(&query_words),
                    passage_ranges: in_passage,
                    score,
                })
            })
            .collect()
    }
}

/// A query term found in a passage (see [`Lexicon::explain`]).
#[derive(Debug, Clone, PartialEq)]
pub struct WordMatch {
    /// The stemmed term ("run" for "running").
    pub term: String,
    /// Byte ranges of its words in the query.
    pub query_ranges: Vec<Range<usize>>,
    /// Byte ranges of its words in the passage's text.
    pub passage_ranges: Vec<Range<usize>>,
    /// Its share of the passage's BM25.
    pub score: f32,
}

/// A query term the index holds, its inverse document frequency and its count in the query.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QueryTerm {
    id: u32,
    idf: f32,
    /// How many of the query's words stem to it.
    count: f32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_lower_cased_stemmed_and_stop_words_dropped() {
        let w = words("The Running dogs, INV-2024-0042 and naïve café");
        let terms: Vec<&str> = w.iter().map(|w| w.term.as_str()).collect();
        assert_eq!(terms, ["run", "dog", "inv", "2024", "0042", "naïv", "café"]);
        assert_eq!(w[0].range, 4..11);
        assert_eq!(
            &"The Running dogs, INV-2024-0042 and naïve café"[w[5].range.clone()],
            "naïve"
        );
    }

    #[test]
    fn ideographs_are_words_of_their_own() {
        let words = words("東京は日本 tokyo2024");
        let terms: Vec<&str> = words.iter().map(|w| w.term.as_str()).collect();
        assert_eq!(terms, ["東", "京", "は", "日", "本", "tokyo2024"]);
    }

    #[test]
    fn a_passage_with_more_of_a_rare_term_scores_higher() {
        let mut lexicon = Lexicon::default();
        let a = lexicon.add(&PassageTerms::of("sourdough starter feeding schedule"));
        let b = lexicon.add(&PassageTerms::of("sourdough sourdough bread"));
        let c = lexicon.add(&PassageTerms::of("bread recipe with yeast"));
        let q = lexicon.query_terms("sourdough");
        assert!(lexicon.score(&q, &b) > lexicon.score(&q, &a));
        assert_eq!(lexicon.score(&q, &c), 0.0);
        assert!(lexicon.query_terms("the of unknownword").is_empty());
    }
}
