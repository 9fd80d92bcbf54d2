//! Security phrases: two random words shown in the response and repeated in
//! the message, so the user can tell the login they started from a forged one.

use crate::secret::random_choice;

const ADJECTIVES: &[&str] = &[
    "amber", "bold", "brave", "bright", "calm", "clever", "cosmic", "crisp", "daring", "eager", "early", "fancy",
    "fierce", "gentle", "giant", "golden", "grand", "happy", "hidden", "honest", "icy", "jolly", "kind", "lively",
    "lucky", "mellow", "mighty", "misty", "noble", "patient", "polite", "proud", "quick", "quiet", "rapid", "rare",
    "royal", "rustic", "silent", "silver", "smooth", "solar", "spicy", "steady", "stormy", "sunny", "swift", "tidy",
    "tiny", "velvet", "vivid", "warm", "wild", "wise", "witty", "young", "zesty", "lunar", "crimson", "emerald",
    "frosty", "humble", "jade", "sturdy",
];

const NOUNS: &[&str] = &[
    "anchor", "badger", "beacon", "bison", "canyon", "cedar", "comet", "coral", "crane", "dolphin", "eagle", "ember",
    "falcon", "fern", "fjord", "forest", "fox", "glacier", "harbor", "hawk", "heron", "island", "jaguar", "kestrel",
    "lagoon", "lantern", "lemur", "lion", "lotus", "maple", "meadow", "meteor", "nebula", "oak", "ocean", "orchid",
    "otter", "owl", "panda", "pebble", "pine", "planet", "prairie", "quartz", "raven", "reef", "river", "robin",
    "saffron", "salmon", "sparrow", "summit", "tiger", "tulip", "valley", "walrus", "willow", "wolf", "yak", "zebra",
    "breeze", "cactus", "delta", "garnet",
];

/// Two CSPRNG-chosen words, e.g. `"swift otter"`.
pub(crate) fn security_phrase() -> String {
    format!("{} {}", random_choice(ADJECTIVES), random_choice(NOUNS))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_phrase_is_two_words() {
        assert_eq!(super::security_phrase().split(' ').count(), 2);
    }
}
