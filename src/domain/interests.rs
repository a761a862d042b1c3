//! Interests: a fixed, curated vocabulary of topics a profile may list (up to [`MAX_INTERESTS`]) and matching may
//! prefer. No free text, so there is nothing to moderate. Each topic has a stable id (what the API, the protocol
//! and the database carry; never renamed or reused) and a Turkish and an English label (what clients show).
//! docs/matching.md lists them.

use std::fmt;

/// How many interests a profile may hold.
pub const MAX_INTERESTS: usize = 10;

/// One topic of the vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Topic {
    /// Stable id: lowercase ASCII and `_`.
    pub id: &'static str,
    pub tr: &'static str,
    pub en: &'static str,
}

const fn t(id: &'static str, tr: &'static str, en: &'static str) -> Topic {
    Topic { id, tr, en }
}

/// The vocabulary, in the order clients list it. A topic's place is its bit in [`Interests`], in memory only: stored,
/// sent and queued as ids, so topics may be added anywhere (at most 128).
pub const TOPICS: [Topic; 80] = [
    t("music", "Müzik", "Music"),
    t("movies", "Filmler", "Movies"),
    t("series", "Diziler", "TV series"),
    t("books", "Kitaplar", "Books"),
    t("gaming", "Oyun", "Gaming"),
    t("football", "Futbol", "Football"),
    t("basketball", "Basketbol", "Basketball"),
    t("volleyball", "Voleybol", "Volleyball"),
    t("tennis", "Tenis", "Tennis"),
    t("running", "Koşu", "Running"),
    t("fitness", "Fitness", "Fitness"),
    t("yoga", "Yoga", "Yoga"),
    t("cycling", "Bisiklet", "Cycling"),
    t("hiking", "Doğa yürüyüşü", "Hiking"),
    t("camping", "Kamp", "Camping"),
    t("swimming", "Yüzme", "Swimming"),
    t("travel", "Seyahat", "Travel"),
    t("cooking", "Yemek yapmak", "Cooking"),
    t("baking", "Pastacılık", "Baking"),
    t("coffee", "Kahve", "Coffee"),
    t("tea", "Çay", "Tea"),
    t("food", "Yeme içme", "Food and drink"),
    t("photography", "Fotoğrafçılık", "Photography"),
    t("painting", "Resim", "Painting"),
    t("drawing", "Çizim", "Drawing"),
    t("design", "Tasarım", "Design"),
    t("fashion", "Moda", "Fashion"),
    t("dance", "Dans", "Dance"),
    t("theatre", "Tiyatro", "Theatre"),
    t("concerts", "Konserler", "Concerts"),
    t("guitar", "Gitar", "Guitar"),
    t("piano", "Piyano", "Piano"),
    t("singing", "Şarkı söylemek", "Singing"),
    t("rap", "Rap", "Rap"),
    t("rock", "Rock", "Rock"),
    t("jazz", "Caz", "Jazz"),
    t("classical_music", "Klasik müzik", "Classical music"),
    t("turkish_music", "Türk müziği", "Turkish music"),
    t("anime", "Anime", "Anime"),
    t("comics", "Çizgi roman", "Comics"),
    t("poetry", "Şiir", "Poetry"),
    t("writing", "Yazı yazmak", "Writing"),
    t("history", "Tarih", "History"),
    t("philosophy", "Felsefe", "Philosophy"),
    t("psychology", "Psikoloji", "Psychology"),
    t("science", "Bilim", "Science"),
    t("space", "Uzay", "Space"),
    t("mathematics", "Matematik", "Mathematics"),
    t("programming", "Programlama", "Programming"),
    t("technology", "Teknoloji", "Technology"),
    t("startups", "Girişimcilik", "Startups"),
    t("economics", "Ekonomi", "Economics"),
    t("investing", "Yatırım", "Investing"),
    t("cars", "Arabalar", "Cars"),
    t("motorcycles", "Motosiklet", "Motorcycles"),
    t("animals", "Hayvanlar", "Animals"),
    t("cats", "Kediler", "Cats"),
    t("dogs", "Köpekler", "Dogs"),
    t("nature", "Doğa", "Nature"),
    t("gardening", "Bahçecilik", "Gardening"),
    t("environment", "Çevre", "Environment"),
    t("languages", "Yabancı diller", "Languages"),
    t("education", "Eğitim", "Education"),
    t("university", "Üniversite hayatı", "University life"),
    t("careers", "Kariyer", "Careers"),
    t("parenting", "Ebeveynlik", "Parenting"),
    t("relationships", "İlişkiler", "Relationships"),
    t("mental_health", "Ruh sağlığı", "Mental health"),
    t("meditation", "Meditasyon", "Meditation"),
    t("astrology", "Astroloji", "Astrology"),
    t("board_games", "Kutu oyunları", "Board games"),
    t("chess", "Satranç", "Chess"),
    t("esports", "E-spor", "Esports"),
    t("podcasts", "Podcast", "Podcasts"),
    t("memes", "Caps ve mizah", "Memes and humour"),
    t("stand_up", "Stand-up", "Stand-up comedy"),
    t("diy", "Kendin yap", "DIY"),
    t("crafts", "El işi", "Crafts"),
    t("volunteering", "Gönüllülük", "Volunteering"),
    t("politics", "Güncel olaylar", "Current affairs"),
];

/// A set of topics, as one bit per topic of [`TOPICS`]: sharing is a popcount, so ranking waiters by shared
/// interests costs no allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Interests(u128);

/// As the list of ids (a queue entry in Redis carries it between nodes of different versions).
impl serde::Serialize for Interests {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.ids())
    }
}

impl<'de> serde::Deserialize<'de> for Interests {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let ids = <Vec<String> as serde::Deserialize>::deserialize(deserializer)?;
        Ok(Interests::from_stored(&ids.join(",")))
    }
}

/// An interest id that is not in the vocabulary.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InterestsError {
    #[error("unknown interest {0:?}: GET /v1/interests lists them")]
    Unknown(String),
    #[error("at most {MAX_INTERESTS} interests")]
    TooMany,
}

impl Interests {
    /// The ids a client sent: each known, at most [`MAX_INTERESTS`] distinct ones (a repeat counts once).
    pub fn parse<S: AsRef<str>>(ids: &[S]) -> Result<Self, InterestsError> {
        let mut set = Interests::default();
        for id in ids {
            let id = id.as_ref();
            let bit = TOPICS.iter().position(|t| t.id == id).ok_or_else(|| InterestsError::Unknown(id.to_owned()))?;
            set.0 |= 1 << bit;
        }
        if set.len() > MAX_INTERESTS {
            return Err(InterestsError::TooMany);
        }
        Ok(set)
    }

    /// As stored (`users.interests`): the ids joined by `,`. Ids the vocabulary no longer has are skipped, never
    /// an error: a stored profile always reads.
    pub fn from_stored(text: &str) -> Self {
        let mut set = Interests::default();
        for id in text.split(',').filter(|s| !s.is_empty()) {
            if let Some(bit) = TOPICS.iter().position(|t| t.id == id) {
                set.0 |= 1 << bit;
            }
        }
        set
    }

    pub fn to_stored(self) -> String {
        self.ids().collect::<Vec<_>>().join(",")
    }

    /// The topics, in vocabulary order.
    pub fn topics(self) -> impl Iterator<Item = &'static Topic> {
        TOPICS.iter().enumerate().filter(move |(bit, _)| self.0 & (1 << bit) != 0).map(|(_, t)| t)
    }

    pub fn ids(self) -> impl Iterator<Item = &'static str> {
        self.topics().map(|t| t.id)
    }

    pub fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The topics both hold.
    pub fn shared(self, other: Interests) -> Interests {
        Interests(self.0 & other.0)
    }
}

impl fmt::Display for Interests {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_stored())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_lowercase_and_fit_the_set() {
        assert!(TOPICS.len() <= 128, "one bit per topic in a u128");
        for (i, topic) in TOPICS.iter().enumerate() {
            assert!(topic.id.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'), "{}", topic.id);
            assert!(!topic.tr.is_empty() && !topic.en.is_empty(), "{}", topic.id);
            assert!(TOPICS[..i].iter().all(|earlier| earlier.id != topic.id), "{} twice", topic.id);
        }
    }

    #[test]
    fn a_profile_holds_up_to_ten_known_interests_and_a_repeat_counts_once() {
        let set = Interests::parse(&["music", "chess", "music"]).unwrap();
        assert_eq!(set.ids().collect::<Vec<_>>(), ["music", "chess"]);
        assert_eq!(
            Interests::parse(&["music", "knitting_with_cats"]),
            Err(InterestsError::Unknown("knitting_with_cats".into()))
        );
        let eleven: Vec<&str> = TOPICS[..11].iter().map(|t| t.id).collect();
        assert_eq!(Interests::parse(&eleven), Err(InterestsError::TooMany));
        assert_eq!(Interests::parse(&eleven[..10]).unwrap().len(), 10);
        assert!(Interests::parse::<&str>(&[]).unwrap().is_empty());
    }

    #[test]
    fn stored_text_round_trips_and_a_retired_id_is_skipped() {
        let set = Interests::parse(&["cats", "anime", "space"]).unwrap();
        assert_eq!(set.to_stored(), "anime,space,cats", "in vocabulary order");
        assert_eq!(Interests::from_stored(&set.to_stored()), set);
        assert_eq!(Interests::from_stored("cats,retired_topic"), Interests::parse(&["cats"]).unwrap());
        assert_eq!(Interests::from_stored(""), Interests::default());
    }

    #[test]
    fn shared_interests_are_the_intersection() {
        let a = Interests::parse(&["music", "chess", "cats"]).unwrap();
        let b = Interests::parse(&["cats", "dogs", "music"]).unwrap();
        assert_eq!(a.shared(b).ids().collect::<Vec<_>>(), ["music", "cats"]);
        assert!(a.shared(Interests::default()).is_empty());
    }
}
