//! The quick vote that reads a support mail's language from its function
//! words (articles, pronouns, prepositions, auxiliaries, the greetings
//! and thanks every mail carries) before the trigram detector is asked.
//!
//! A trigram detector compares a few hundred trigrams of each candidate
//! language's profile with the text's, a fixed cost of about 10 µs for
//! four languages however short the text (whatlang 0.18, measured in
//! `benches/benches/classify.rs`). Most mail says which language it is in
//! within its first sentence: `Guten Tag, leider wurde unsere Rechnung …`
//! holds four German function words and no other language's. When the
//! vote is that clear it decides; when it is not (too few words, two
//! languages close, the winner a language the rules do not list, a listed
//! language without a list here) the detector does.
//!
//! The lists are our own, lower-case, accents as written. A word in two
//! lists (`in`, `de`, `la`, `no`) votes for both. Words of one letter (`a`,
//! `i`, `y`, `e`, `o`) are left out: every language has them, so they
//! would vote for a listed language in text of one that is not listed
//! (Polish `a`, `i`). Italian `è` and Portuguese `é` (both "is") stay: no
//! other list has them, and few languages write them alone.

/// The languages with a list, by tag, and their words.
const LISTS: &[(&str, &[&str])] = &[
    (
        "en",
        &[
            "the", "an", "and", "or", "but", "is", "are", "was", "were", "be", "been", "being", "am", "have", "has",
            "had", "do", "does", "did", "not", "to", "of", "in", "on", "at", "for", "with", "from", "by", "this",
            "that", "these", "those", "it", "its", "we", "you", "they", "my", "our", "your", "their", "me", "us",
            "them", "can", "could", "would", "should", "will", "please", "there", "here", "what", "when", "why", "how",
            "which", "who", "if", "as", "so", "than", "then", "also", "just", "still", "any", "some", "all", "after",
            "before", "about", "into", "since", "again", "because", "hi", "hello", "thanks", "thank", "regards",
            "dear", "cannot", "don", "isn", "doesn", "didn", "won", "ve", "ll", "get", "got", "no", "nothing", "never",
            "he", "she", "his", "her", "him", "yet", "only", "very", "too", "out", "up", "more", "one",
        ],
    ),
    (
        "de",
        &[
            "der",
            "die",
            "das",
            "den",
            "dem",
            "des",
            "ein",
            "eine",
            "einen",
            "einem",
            "einer",
            "und",
            "oder",
            "aber",
            "ist",
            "sind",
            "war",
            "waren",
            "wird",
            "wurde",
            "wurden",
            "haben",
            "hat",
            "hatte",
            "habe",
            "kann",
            "können",
            "nicht",
            "kein",
            "keine",
            "mit",
            "von",
            "zu",
            "zum",
            "zur",
            "auf",
            "für",
            "bei",
            "nach",
            "aus",
            "im",
            "in",
            "an",
            "am",
            "ich",
            "wir",
            "sie",
            "es",
            "er",
            "ihr",
            "mein",
            "meine",
            "unser",
            "unsere",
            "unseren",
            "ihre",
            "ihren",
            "bitte",
            "danke",
            "dass",
            "wenn",
            "weil",
            "auch",
            "noch",
            "schon",
            "seit",
            "wie",
            "was",
            "leider",
            "hallo",
            "guten",
            "tag",
            "grüße",
            "grüßen",
            "freundlichen",
            "sehr",
            "geehrte",
            "geehrter",
            "uns",
            "mir",
            "mich",
            "sich",
            "dieser",
            "diese",
            "dieses",
            "wieder",
            "immer",
            "jetzt",
            "viele",
        ],
    ),
    (
        "fr",
        &[
            "le",
            "la",
            "les",
            "un",
            "une",
            "des",
            "du",
            "de",
            "et",
            "ou",
            "mais",
            "est",
            "sont",
            "était",
            "avons",
            "avez",
            "ont",
            "ai",
            "pas",
            "ne",
            "pour",
            "avec",
            "dans",
            "sur",
            "par",
            "au",
            "aux",
            "je",
            "nous",
            "vous",
            "il",
            "elle",
            "ils",
            "mon",
            "ma",
            "mes",
            "notre",
            "nos",
            "votre",
            "vos",
            "ce",
            "cette",
            "ces",
            "que",
            "qui",
            "quand",
            "si",
            "merci",
            "bonjour",
            "cordialement",
            "depuis",
            "encore",
            "aussi",
            "très",
            "plus",
            "madame",
            "monsieur",
            "en",
            "été",
            "être",
            "avoir",
            "qu",
            "toujours",
            "rien",
        ],
    ),
    (
        "es",
        &[
            "el",
            "la",
            "los",
            "las",
            "un",
            "una",
            "unos",
            "unas",
            "pero",
            "es",
            "son",
            "está",
            "están",
            "fue",
            "hemos",
            "ha",
            "han",
            "he",
            "no",
            "para",
            "por",
            "con",
            "en",
            "de",
            "del",
            "al",
            "sobre",
            "yo",
            "nosotros",
            "usted",
            "ustedes",
            "mi",
            "mis",
            "nuestro",
            "nuestra",
            "su",
            "sus",
            "este",
            "esta",
            "esto",
            "que",
            "cuando",
            "si",
            "gracias",
            "hola",
            "saludos",
            "desde",
            "también",
            "muy",
            "más",
            "todavía",
            "ya",
            "se",
            "le",
            "lo",
            "me",
            "nos",
            "estimado",
            "estimados",
            "buenos",
            "días",
            "puedo",
            "podemos",
        ],
    ),
    (
        "it",
        &[
            "il",
            "lo",
            "la",
            "gli",
            "le",
            "un",
            "una",
            "uno",
            "ma",
            "è",
            "sono",
            "era",
            "abbiamo",
            "ha",
            "hanno",
            "non",
            "per",
            "con",
            "in",
            "di",
            "da",
            "del",
            "della",
            "dei",
            "al",
            "alla",
            "su",
            "io",
            "noi",
            "voi",
            "lui",
            "lei",
            "mio",
            "mia",
            "nostro",
            "nostra",
            "vostro",
            "suo",
            "sua",
            "questo",
            "questa",
            "che",
            "quando",
            "se",
            "grazie",
            "buongiorno",
            "ciao",
            "saluti",
            "cordiali",
            "anche",
            "ancora",
            "già",
            "molto",
            "più",
            "ci",
            "mi",
            "si",
            "ti",
        ],
    ),
    (
        "pt",
        &[
            "os",
            "as",
            "um",
            "uma",
            "ou",
            "mas",
            "é",
            "são",
            "está",
            "estão",
            "foi",
            "temos",
            "tem",
            "não",
            "para",
            "por",
            "com",
            "em",
            "de",
            "do",
            "da",
            "dos",
            "das",
            "no",
            "na",
            "ao",
            "eu",
            "nós",
            "você",
            "vocês",
            "meu",
            "minha",
            "nosso",
            "nossa",
            "seu",
            "sua",
            "este",
            "esta",
            "isso",
            "que",
            "quando",
            "se",
            "obrigado",
            "obrigada",
            "olá",
            "bom",
            "dia",
            "atenciosamente",
            "também",
            "ainda",
            "já",
            "muito",
            "mais",
            "me",
            "nos",
            "lhe",
        ],
    ),
    (
        "nl",
        &[
            "de",
            "het",
            "een",
            "en",
            "of",
            "maar",
            "is",
            "zijn",
            "was",
            "waren",
            "wordt",
            "werd",
            "hebben",
            "heeft",
            "had",
            "kan",
            "niet",
            "geen",
            "met",
            "van",
            "voor",
            "op",
            "in",
            "aan",
            "bij",
            "naar",
            "uit",
            "ik",
            "wij",
            "we",
            "jullie",
            "mijn",
            "ons",
            "onze",
            "uw",
            "hun",
            "dit",
            "dat",
            "deze",
            "die",
            "wat",
            "wanneer",
            "als",
            "omdat",
            "ook",
            "nog",
            "al",
            "graag",
            "bedankt",
            "dank",
            "hallo",
            "goedemorgen",
            "groeten",
            "vriendelijke",
            "geachte",
            "er",
            "te",
        ],
    ),
];

/// A vote needs this many function words for its winner…
const MIN_VOTES: u32 = 3;

/// …and the winner this share of its votes ahead of the runner-up
/// (`(best - second) / best`), or the detector is asked.
const MIN_MARGIN: f64 = 0.5;

/// Hash seed of the word table.
const SEED: u64 = 0x6c61_6e67_2d76_6f74; // "lang-vot"

/// The function words of every list, ready to vote for the languages a
/// rule set detects.
#[derive(Debug, Clone)]
pub(crate) struct Vote {
    /// Open addressing by the word's hash: (the hash, bit `i` set when it
    /// is a word of `LISTS[i]`); a mask of 0 is an empty slot. One probe
    /// for most words, which are no function word.
    words: Vec<(u64, u32)>,
    slot_mask: usize,
    /// Per list: the index of its language in the rules' list, if listed.
    listed: Vec<Option<usize>>,
}

/// The result of a clear vote: which of the languages, and how far ahead
/// of the runner-up it is (0 to 1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Verdict {
    pub index: usize,
    pub margin: f64,
}

impl Vote {
    /// The vote for `tags` (the rules' `detect_languages`, in order), or
    /// None when any of them has no list here (the vote cannot speak for a
    /// language it does not know, so the detector decides every case).
    ///
    /// Every list votes, the rules' languages or not: a mail in Portuguese
    /// that the rules do not list wins for Portuguese and is left to the
    /// detector, rather than won by Spanish at full confidence.
    pub fn new(tags: &[&str]) -> Option<Vote> {
        if tags.is_empty() || tags.iter().any(|t| !LISTS.iter().any(|(l, _)| l == t)) {
            return None;
        }
        let mut words: Vec<(u64, u32)> = Vec::new();
        for (i, (_, list)) in LISTS.iter().enumerate() {
            for w in *list {
                words.push((crate::similarity::hash_bytes(SEED, w.as_bytes()), 1 << i));
            }
        }
        words.sort_unstable();
        // One entry a word, with every language it belongs to.
        words.dedup_by(|later, kept| {
            let same = later.0 == kept.0;
            if same {
                kept.1 |= later.1;
            }
            same
        });
        let size = (words.len() * 4).next_power_of_two();
        let mut table = vec![(0u64, 0u32); size];
        for (h, mask) in words {
            let mut s = (h as usize) & (size - 1);
            while table[s].1 != 0 {
                s = (s + 1) & (size - 1);
            }
            table[s] = (h, mask);
        }
        let listed = LISTS.iter().map(|(l, _)| tags.iter().position(|t| t == l)).collect();
        Some(Vote { words: table, slot_mask: size - 1, listed })
    }

    /// Counts the function words of `text` per language and names the
    /// winner when it has at least [`MIN_VOTES`] and a margin of at least
    /// [`MIN_MARGIN`]; None otherwise.
    pub fn decide(&self, text: &str) -> Option<Verdict> {
        let mut votes = [0u32; LISTS.len()];
        let mut count = |h: u64| {
            let mut s = (h as usize) & self.slot_mask;
            loop {
                match self.words[s] {
                    (_, 0) => return,
                    (k, mask) if k == h => {
                        let mut mask = mask;
                        while mask != 0 {
                            votes[mask.trailing_zeros() as usize] += 1;
                            mask &= mask - 1;
                        }
                        return;
                    }
                    _ => s = (s + 1) & self.slot_mask,
                }
            }
        };
        let short = |w: &[u8]| !w.is_empty() && w.len() <= 24;
        if text.is_ascii() {
            // Words of ASCII letters and digits, lower-cased as hashed.
            for word in text.as_bytes().split(|b| !b.is_ascii_alphanumeric()).filter(|w| short(w)) {
                let mut h = crate::similarity::fnv_start(SEED);
                for &b in word {
                    crate::similarity::fnv_step(&mut h, b.to_ascii_lowercase());
                }
                count(crate::similarity::mix(h));
            }
        } else {
            let mut lower = String::new();
            for word in text.split(|c: char| !c.is_alphanumeric()).filter(|w| short(w.as_bytes())) {
                let bytes = if word.bytes().all(|b| b.is_ascii_lowercase()) {
                    word.as_bytes()
                } else {
                    lower.clear();
                    lower.extend(word.chars().flat_map(char::to_lowercase));
                    lower.as_bytes()
                };
                count(crate::similarity::hash_bytes(SEED, bytes));
            }
        }
        // The winner, ties to the earlier list.
        let (mut best, mut second) = (0usize, None::<usize>);
        for i in 1..votes.len() {
            if votes[i] > votes[best] {
                second = Some(best);
                best = i;
            } else if second.is_none_or(|s| votes[i] > votes[s]) {
                second = Some(i);
            }
        }
        let (b, s) = (votes[best], second.map_or(0, |s| votes[s]));
        let margin = f64::from(b - s) / f64::from(b.max(1));
        let index = self.listed[best]?;
        (b >= MIN_VOTES && margin >= MIN_MARGIN).then_some(Verdict { index, margin })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic, reason = "tests fail loudly")]
mod tests {
    use super::*;

    #[test]
    fn lists_are_lower_case_and_without_repeats() {
        for (tag, list) in LISTS {
            for w in *list {
                assert_eq!(w.to_lowercase(), *w, "{tag}: {w}");
                assert!(w.chars().all(char::is_alphanumeric), "{tag}: {w}");
            }
            let mut sorted = list.to_vec();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(sorted.len(), list.len(), "{tag} lists a word twice");
        }
    }

    #[test]
    fn a_clear_mail_is_voted_and_an_unclear_one_is_not() {
        let vote = Vote::new(&["en", "de", "fr", "es"]).unwrap();
        let clear = [
            ("Guten Tag, leider wurde unsere Rechnung zweimal abgebucht und niemand antwortet.", 1),
            ("Hello, we were charged twice for the March invoice, please refund it.", 0),
            ("Bonjour, nous avons reçu deux factures pour le même mois. Merci de vérifier.", 2),
            ("Hola, no puedo iniciar sesión desde ayer y necesito acceso a mi cuenta.", 3),
            ("GUTEN TAG, UNSERE KARTE WURDE ABGELEHNT UND WIR KÖNNEN NICHT ZAHLEN", 1),
        ];
        for (text, want) in clear {
            let v = vote.decide(text).unwrap_or_else(|| panic!("no vote: {text}"));
            assert_eq!(v.index, want, "{text}");
            assert!(v.margin >= MIN_MARGIN, "{text}");
        }
        // Too few function words, or two languages as close.
        for text in ["Rechnung", "Invoice 4711", "502 Bad Gateway", "la de en", "", "die Hard in Berlin"] {
            assert_eq!(vote.decide(text), None, "{text}");
        }
    }

    #[test]
    fn words_every_language_has_do_not_outvote_the_rest() {
        let vote = Vote::new(&["en", "de", "fr", "es"]).unwrap();
        // English `no` and `he` vote for English as much as for Spanish.
        for text in [
            "No reply, no refund, no apology: awful, horrible, disgusting service.",
            "No login, no access, no support.",
            "He said he paid, but he got no receipt.",
        ] {
            assert!(vote.decide(text).is_none_or(|v| v.index == 0), "{text}");
        }
        // Polish `to`, `a`, `i` do not make English.
        assert_eq!(vote.decide("To nie działa, a on i ja nie możemy się zalogować."), None);
        for (tag, list) in LISTS {
            for w in *list {
                assert!(w.chars().count() > 1 || ["è", "é"].contains(w), "{tag}: {w}");
            }
        }
    }

    #[test]
    fn a_language_the_rules_do_not_list_is_left_to_the_detector() {
        let four = Vote::new(&["en", "de", "fr", "es"]).unwrap();
        let portuguese = "Olá, não consigo entrar na minha conta desde ontem. Vocês podem ajudar? Obrigado.";
        let dutch = "Goedemorgen, wij hebben de factuur van maart nog niet ontvangen. Met vriendelijke groeten.";
        assert_eq!(four.decide(portuguese), None);
        assert_eq!(four.decide(dutch), None);
        // Listed, they win, by their index in the rules' list.
        let seven = Vote::new(&["nl", "pt", "en"]).unwrap();
        assert_eq!(seven.decide(portuguese).map(|v| v.index), Some(1));
        assert_eq!(seven.decide(dutch).map(|v| v.index), Some(0));
    }

    #[test]
    fn a_language_without_a_list_leaves_every_case_to_the_detector() {
        assert!(Vote::new(&["en", "pl"]).is_none());
        assert!(Vote::new(&["en", "ja"]).is_none());
        assert!(Vote::new(&[]).is_none());
        assert!(Vote::new(&["en", "de", "fr", "es", "it", "pt", "nl"]).is_some());
        assert!(LISTS.len() <= 32, "a vote's languages are bits of a u32");
    }
}
