//! The catalogue's search index: diacritic-folded, prefix-matching, ranked.
//!
//! Pure and in memory. The catalogue is reference data (a province publishes
//! a few thousand procedures and changes them rarely), so each node keeps an
//! index built from the database and rebuilds it when the catalogue's
//! revision changes; the database stays the source of truth.
//!
//! Every query word must match the start of some word of the procedure
//! (`dang ky khai` finds `Đăng ký khai sinh`). Ranking, highest first: the
//! whole query as a phrase of the name, then per word a match in the code,
//! a whole word of the name, a word start of the name, and words of the
//! documents, agencies and legal basis; ties go to the shorter name, then
//! alphabetically.

use std::collections::BTreeMap;
use std::sync::Arc;

use egov_core::text::{fold, tokens};

use super::domain::{Level, OnlineLevel, PER_PAGE, Procedure, SearchQuery};

const WEIGHT_CODE: u32 = 40;
const WEIGHT_NAME_WORD: u32 = 12;
const WEIGHT_NAME_PREFIX: u32 = 8;
const WEIGHT_OTHER_WORD: u32 = 3;
const WEIGHT_OTHER_PREFIX: u32 = 2;
const BONUS_NAME_PHRASE: u32 = 30;
const BONUS_NAME_STARTS_WITH_PHRASE: u32 = 10;
const BONUS_NAME_EXACT: u32 = 20;

/// Extra text to index with each procedure, such as its agencies' names.
#[derive(Debug, Clone, Default)]
pub struct ExtraText {
    pub agency_names: Vec<String>,
    pub field_name: String,
}

#[derive(Debug)]
struct Entry {
    procedure: Arc<Procedure>,
    name_folded: String,
    sort_key: String,
}

/// One result page.
#[derive(Debug, Clone)]
pub struct SearchPage {
    pub items: Vec<Arc<Procedure>>,
    pub total: usize,
    pub page: u32,
    pub pages: u32,
}

/// The index over one revision of the catalogue.
#[derive(Debug, Default)]
pub struct SearchIndex {
    entries: Vec<Entry>,
    /// Folded word → (entry, weight when the query word is the whole word,
    /// weight when it is only a prefix).
    words: BTreeMap<String, Vec<(u32, u32, u32)>>,
}

impl SearchIndex {
    pub fn build(procedures: Vec<(Procedure, ExtraText)>) -> SearchIndex {
        let mut index = SearchIndex::default();
        let mut postings: BTreeMap<String, BTreeMap<u32, (u32, u32)>> = BTreeMap::new();
        for (position, (procedure, extra)) in procedures.into_iter().enumerate() {
            let entry_id = u32::try_from(position).unwrap_or(u32::MAX);
            let mut add = |word: String, whole: u32, prefix: u32| {
                let weights = postings.entry(word).or_default().entry(entry_id).or_insert((0, 0));
                weights.0 = weights.0.max(whole);
                weights.1 = weights.1.max(prefix);
            };
            for word in tokens(procedure.code.as_str()) {
                add(word, WEIGHT_CODE, WEIGHT_CODE / 2);
            }
            for word in tokens(&procedure.name_vi).into_iter().chain(tokens(&procedure.name_en)) {
                add(word, WEIGHT_NAME_WORD, WEIGHT_NAME_PREFIX);
            }
            let others = procedure
                .required_documents
                .iter()
                .chain(extra.agency_names.iter())
                .chain([&procedure.legal_basis, &extra.field_name]);
            for text in others {
                for word in tokens(text) {
                    add(word, WEIGHT_OTHER_WORD, WEIGHT_OTHER_PREFIX);
                }
            }
            let name_folded = fold(&procedure.name_vi);
            index.entries.push(Entry {
                sort_key: format!("{name_folded}\u{0}{}", procedure.code),
                name_folded,
                procedure: Arc::new(procedure),
            });
        }
        index.words = postings
            .into_iter()
            .map(|(word, entries)| {
                let list = entries
                    .into_iter()
                    .map(|(entry, (whole, prefix))| (entry, whole, prefix))
                    .collect();
                (word, list)
            })
            .collect();
        index
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Finds a procedure by its exact code.
    pub fn get(&self, code: &str) -> Option<Arc<Procedure>> {
        self.entries
            .iter()
            .find(|entry| entry.procedure.code.as_str() == code)
            .map(|entry| Arc::clone(&entry.procedure))
    }

    /// Every procedure, in name order.
    pub fn all(&self) -> impl Iterator<Item = &Arc<Procedure>> {
        self.entries.iter().map(|entry| &entry.procedure)
    }

    fn passes_filters(procedure: &Procedure, query: &SearchQuery) -> bool {
        query.level.is_none_or(|level: Level| procedure.level == level)
            && query
                .online
                .is_none_or(|online: OnlineLevel| procedure.online == online)
            && query.field.as_deref().is_none_or(|field| procedure.field_code == field)
            && query
                .agency
                .as_deref()
                .is_none_or(|agency| procedure.agency_codes.iter().any(|code| code == agency))
    }

    /// Scores of the entries matching every query word; `None` for entries
    /// that miss a word.
    fn score_words(&self, words: &[String]) -> Vec<Option<u32>> {
        let mut scores: Vec<Option<u32>> = vec![Some(0); self.entries.len()];
        for word in words {
            let mut best: Vec<u32> = vec![0; self.entries.len()];
            for (indexed, postings) in self.words.range(word.clone()..) {
                if !indexed.starts_with(word.as_str()) {
                    break;
                }
                let whole = indexed == word;
                for &(entry, whole_weight, prefix_weight) in postings {
                    let weight = if whole { whole_weight } else { prefix_weight };
                    let slot = &mut best[entry as usize];
                    *slot = (*slot).max(weight);
                }
            }
            for (score, word_score) in scores.iter_mut().zip(best) {
                *score = match *score {
                    Some(total) if word_score > 0 => Some(total + word_score),
                    _ => None,
                };
            }
        }
        scores
    }

    pub fn search(&self, query: &SearchQuery) -> SearchPage {
        let words = tokens(&query.text);
        let phrase = words.join(" ");
        let mut hits: Vec<(u32, &Entry)> = if words.is_empty() {
            self.entries.iter().map(|entry| (0, entry)).collect()
        } else {
            self.score_words(&words)
                .into_iter()
                .zip(&self.entries)
                .filter_map(|(score, entry)| {
                    let mut score = score?;
                    if entry.name_folded == phrase {
                        score += BONUS_NAME_EXACT;
                    }
                    if entry.name_folded.contains(&phrase) {
                        score += BONUS_NAME_PHRASE;
                        if entry.name_folded.starts_with(&phrase) {
                            score += BONUS_NAME_STARTS_WITH_PHRASE;
                        }
                    }
                    Some((score, entry))
                })
                .collect()
        };
        hits.retain(|(_, entry)| SearchIndex::passes_filters(&entry.procedure, query));
        // Equal scores: the shorter name is the more specific match.
        hits.sort_by(|(score_a, a), (score_b, b)| {
            score_b
                .cmp(score_a)
                .then_with(|| {
                    if words.is_empty() {
                        std::cmp::Ordering::Equal
                    } else {
                        a.name_folded.len().cmp(&b.name_folded.len())
                    }
                })
                .then_with(|| a.sort_key.cmp(&b.sort_key))
        });
        let total = hits.len();
        let pages = u32::try_from(total.div_ceil(PER_PAGE)).unwrap_or(u32::MAX).max(1);
        let skip = (query.page as usize - 1).saturating_mul(PER_PAGE);
        let items = hits
            .into_iter()
            .skip(skip)
            .take(PER_PAGE)
            .map(|(_, entry)| Arc::clone(&entry.procedure))
            .collect();
        SearchPage {
            items,
            total,
            page: query.page,
            pages,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::domain::ProcedureCode;
    use proptest::prelude::*;

    fn procedure(code: &str, name_vi: &str, name_en: &str, level: Level) -> (Procedure, ExtraText) {
        (
            Procedure {
                code: ProcedureCode::parse(code).expect("valid code"),
                name_vi: name_vi.into(),
                name_en: name_en.into(),
                level,
                field_code: "ho_tich".into(),
                fee: None,
                fee_note: String::new(),
                processing_days: 1,
                processing_note: String::new(),
                online: OnlineLevel::Full,
                online_note: String::new(),
                required_documents: vec!["Tờ khai".into()],
                legal_basis: String::new(),
                agency_codes: vec!["A1".into()],
            },
            ExtraText::default(),
        )
    }

    fn index() -> SearchIndex {
        SearchIndex::build(vec![
            procedure("1.000894", "Đăng ký kết hôn", "Marriage registration", Level::Commune),
            procedure("1.001193", "Đăng ký khai sinh", "Birth registration", Level::Commune),
            procedure("1.000656", "Đăng ký khai tử", "Death registration", Level::Commune),
            procedure(
                "2.000001",
                "Cấp bản sao trích lục khai sinh",
                "Copy of a birth extract",
                Level::Province,
            ),
        ])
    }

    fn codes(index: &SearchIndex, text: &str) -> Vec<String> {
        let query = SearchQuery {
            text: text.into(),
            page: 1,
            ..SearchQuery::default()
        };
        index.search(&query).items.iter().map(|p| p.code.to_string()).collect()
    }

    #[test]
    fn diacritics_and_case_do_not_matter() {
        let index = index();
        let expected = codes(&index, "Đăng ký khai sinh");
        assert_eq!(expected.first().map(String::as_str), Some("1.001193"));
        assert_eq!(codes(&index, "dang ky khai sinh"), expected);
        assert_eq!(codes(&index, "DANG KY KHAI SINH"), expected);
    }

    #[test]
    fn the_exact_phrase_ranks_first_and_partial_matches_follow() {
        assert_eq!(codes(&index(), "khai sinh"), ["1.001193", "2.000001"]);
    }

    #[test]
    fn a_word_start_matches_and_every_word_must_match() {
        let index = index();
        assert_eq!(codes(&index, "ket ho"), ["1.000894"]);
        assert!(codes(&index, "khai sinh xyz").is_empty());
    }

    #[test]
    fn a_code_finds_its_procedure() {
        assert_eq!(codes(&index(), "1.000656"), ["1.000656"]);
    }

    #[test]
    fn english_names_are_searched_too() {
        assert_eq!(
            codes(&index(), "birth registration").first().map(String::as_str),
            Some("1.001193")
        );
    }

    #[test]
    fn filters_narrow_and_an_empty_query_lists_by_name() {
        let index = index();
        let query = SearchQuery {
            level: Some(Level::Province),
            page: 1,
            ..SearchQuery::default()
        };
        let page = index.search(&query);
        assert_eq!(page.total, 1);
        let all = index.search(&SearchQuery {
            page: 1,
            ..SearchQuery::default()
        });
        let names: Vec<_> = all.items.iter().map(|p| p.name_vi.as_str()).collect();
        assert_eq!(
            names,
            [
                "Cấp bản sao trích lục khai sinh",
                "Đăng ký kết hôn",
                "Đăng ký khai sinh",
                "Đăng ký khai tử"
            ]
        );
    }

    #[test]
    fn pages_hold_twenty_and_past_the_end_is_empty() {
        let procedures = (0..45)
            .map(|n| {
                procedure(
                    &format!("9.{n:06}"),
                    &format!("Thủ tục số {n}"),
                    "Procedure",
                    Level::Commune,
                )
            })
            .collect();
        let index = SearchIndex::build(procedures);
        let page = |page| {
            index.search(&SearchQuery {
                text: "thu tuc".into(),
                page,
                ..SearchQuery::default()
            })
        };
        assert_eq!((page(1).items.len(), page(1).total, page(1).pages), (20, 45, 3));
        assert_eq!(page(3).items.len(), 5);
        assert!(page(4).items.is_empty());
    }

    proptest! {
        #[test]
        fn every_result_contains_every_query_word_as_a_prefix(query in "[a-z ]{0,12}") {
            let index = index();
            let page = index.search(&SearchQuery { text: query.clone(), page: 1, ..SearchQuery::default() });
            for procedure in &page.items {
                let mut haystack = tokens(&procedure.name_vi);
                haystack.extend(tokens(&procedure.name_en));
                haystack.extend(tokens(procedure.code.as_str()));
                haystack.extend(procedure.required_documents.iter().flat_map(|d| tokens(d)));
                for word in tokens(&query) {
                    prop_assert!(haystack.iter().any(|h| h.starts_with(&word)), "{word} not in {}", procedure.code);
                }
            }
        }
    }
}
