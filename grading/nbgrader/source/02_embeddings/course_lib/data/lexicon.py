"""The words of the course world, sorted into the classes the grammar needs.

Everything here is plain data. The grammar (`grammar.py`) reads these lists to decide whether a
sentence is valid, and the story generator (`stories.py`) reads them to write sentences, so the
two can never disagree about what a word is.

The vocabulary is deliberately small (a few hundred words) so that a tiny model trained on a
laptop CPU can learn it.
"""

from __future__ import annotations

# --- Proper names -------------------------------------------------------------------------------
# A World (see world.py) picks its characters and pets from these pools, so every World uses
# words the grammar already knows. Names are always written with a capital letter.

GIRL_NAMES = [
    "Mia", "Lily", "Emma", "Zoe", "Anna", "Ella", "Ruby", "Nora",
    "Lucy", "Ava", "Sara", "Maya", "Iris", "Hana", "Rosa", "Kate",
]
BOY_NAMES = [
    "Tom", "Ben", "Sam", "Leo", "Jack", "Finn", "Noah", "Omar",
    "Theo", "Luke", "Adam", "Eli", "Hugo", "Ravi", "Dan", "Kai",
]
PET_NAMES = [
    "Rex", "Bella", "Luna", "Coco", "Milo", "Daisy", "Oscar", "Rosie",
    "Bruno", "Pip", "Lucky", "Sunny", "Ziggy", "Biscuit", "Pepper", "Shadow",
    "Button", "Fluffy", "Patch", "Whiskers", "Peanut", "Toffee", "Ginger", "Bubbles",
    "Nibbles", "Socks", "Pebble", "Maple", "Honey", "Olive",
]

# --- Nouns: (singular, plural) ------------------------------------------------------------------

PERSON_NOUNS = [
    ("girl", "girls"), ("boy", "boys"), ("friend", "friends"), ("child", "children"),
    ("farmer", "farmers"), ("baker", "bakers"), ("teacher", "teachers"),
    ("mother", "mothers"), ("father", "fathers"), ("man", "men"), ("woman", "women"),
]
ANIMAL_NOUNS = [
    ("dog", "dogs"), ("cat", "cats"), ("rabbit", "rabbits"), ("bird", "birds"),
    ("duck", "ducks"), ("horse", "horses"), ("goat", "goats"), ("hamster", "hamsters"),
    ("turtle", "turtles"), ("frog", "frogs"), ("pony", "ponies"), ("lamb", "lambs"),
    ("puppy", "puppies"), ("kitten", "kittens"),
]
# Things a character can own (a World gives each character one, with a colour).
OBJECT_NOUNS = [
    ("kite", "kites"), ("ball", "balls"), ("book", "books"), ("hat", "hats"), ("box", "boxes"),
    ("cup", "cups"), ("bike", "bikes"), ("boat", "boats"), ("drum", "drums"), ("lamp", "lamps"),
    ("bag", "bags"), ("umbrella", "umbrellas"), ("scarf", "scarves"), ("clock", "clocks"),
    ("doll", "dolls"), ("train", "trains"), ("robot", "robots"), ("balloon", "balloons"),
    ("blanket", "blankets"), ("bucket", "buckets"),
]
# Small things found along the way, and food.
THING_NOUNS = [
    ("stone", "stones"), ("shell", "shells"), ("coin", "coins"), ("feather", "feathers"),
    ("flower", "flowers"), ("key", "keys"), ("apple", "apples"), ("egg", "eggs"),
    ("cake", "cakes"), ("cookie", "cookies"), ("pie", "pies"), ("carrot", "carrots"),
    ("sandwich", "sandwiches"), ("map", "maps"), ("letter", "letters"), ("picture", "pictures"),
]
# Places. Stories always say "the park", "the market", ... (singular only).
PLACE_NOUNS = [
    "park", "market", "school", "beach", "forest", "river", "garden", "library", "farm",
    "bakery", "lake", "hill", "zoo", "castle", "village", "station", "pond", "meadow",
]
# Everything else a sentence may talk about.
OTHER_NOUNS = [
    ("tree", "trees"), ("house", "houses"), ("day", "days"), ("morning", "mornings"),
    ("evening", "evenings"), ("night", "nights"), ("sun", "suns"), ("wind", "winds"),
    ("rain", "rains"), ("water", "waters"), ("hole", "holes"), ("name", "names"),
    ("colour", "colours"), ("kind", "kinds"), ("animal", "animals"), ("question", "questions"),
    ("game", "games"), ("song", "songs"), ("story", "stories"), ("bench", "benches"),
    ("bridge", "bridges"), ("road", "roads"), ("rock", "rocks"), ("bush", "bushes"),
    ("roof", "roofs"), ("window", "windows"), ("door", "doors"), ("table", "tables"),
]

# --- Adjectives ---------------------------------------------------------------------------------
# The grammar allows at most one quality adjective followed by at most one colour, in that order:
# "a big red ball" is valid, "a red big ball" is not.

COLOURS = [
    "red", "blue", "green", "yellow", "orange", "purple", "pink", "white", "black", "brown", "grey",
]
TRAITS = [  # what kind of person a character is
    "brave", "shy", "clever", "funny", "quiet", "cheerful", "curious", "gentle",
    "busy", "lazy", "polite", "silly", "careful", "friendly", "helpful", "clumsy",
]
FEELINGS = [
    "happy", "sad", "tired", "hungry", "scared", "proud", "angry", "excited",
    "sleepy", "lonely", "worried", "glad", "wet", "cold", "warm",
]
QUALITIES = [
    "big", "small", "little", "old", "new", "tall", "shiny", "soft", "heavy", "long",
    "broken", "beautiful", "tiny", "dark", "strong", "deep", "stuck", "lost", "best",
    "favourite", "good", "bad", "lovely", "empty",
]

# --- Verbs: (base, third person singular, past) and the frames they take -------------------------
# Frames (what may follow the verb):
#   "intr"    nothing required              Mia smiled. / Mia played in the park.
#   "motion"  "to" + place, "home", ...     Mia walked to the market.
#   "trans"   an object                     Mia found the ball.
#   "ditrans" two objects                   Mia gave Tom the ball.
#   "link"    an adjective                  Mia felt happy. / The kite got stuck.
#   "toinf"   "to" + a verb                 Mia wanted to play. / It started to rain.
#   "say"     a greeting                    Mia said thank you to Tom.
VERBS = [
    ("walk", "walks", "walked", {"motion", "intr"}),
    ("run", "runs", "ran", {"motion", "intr"}),
    ("go", "goes", "went", {"motion"}),
    ("hurry", "hurries", "hurried", {"motion", "intr"}),
    ("swim", "swims", "swam", {"motion", "intr"}),
    ("come", "comes", "came", {"motion", "intr"}),
    ("fly", "flies", "flew", {"motion", "intr"}),
    ("fall", "falls", "fell", {"motion", "intr"}),
    ("play", "plays", "played", {"intr", "trans"}),
    ("smile", "smiles", "smiled", {"intr"}),
    ("laugh", "laughs", "laughed", {"intr"}),
    ("cry", "cries", "cried", {"intr"}),
    ("sleep", "sleeps", "slept", {"intr"}),
    ("sing", "sings", "sang", {"intr", "trans"}),
    ("dance", "dances", "danced", {"intr"}),
    ("wait", "waits", "waited", {"intr"}),
    ("jump", "jumps", "jumped", {"intr", "motion"}),
    ("shout", "shouts", "shouted", {"intr"}),
    ("rest", "rests", "rested", {"intr"}),
    ("sit", "sits", "sat", {"intr"}),
    ("live", "lives", "lived", {"intr"}),
    ("rain", "rains", "rained", {"intr"}),
    ("look", "looks", "looked", {"intr", "link"}),
    ("feel", "feels", "felt", {"link"}),
    ("get", "gets", "got", {"link", "trans"}),
    ("find", "finds", "found", {"trans"}),
    ("see", "sees", "saw", {"trans"}),
    ("like", "likes", "liked", {"trans", "toinf"}),
    ("love", "loves", "loved", {"trans", "toinf"}),
    ("lose", "loses", "lost", {"trans"}),
    ("carry", "carries", "carried", {"trans"}),
    ("hold", "holds", "held", {"trans"}),
    ("drop", "drops", "dropped", {"trans"}),
    ("paint", "paints", "painted", {"trans"}),
    ("clean", "cleans", "cleaned", {"trans"}),
    ("open", "opens", "opened", {"trans"}),
    ("share", "shares", "shared", {"trans"}),
    ("want", "wants", "wanted", {"trans", "toinf"}),
    ("need", "needs", "needed", {"trans", "toinf"}),
    ("kick", "kicks", "kicked", {"trans"}),
    ("catch", "catches", "caught", {"trans"}),
    ("fix", "fixes", "fixed", {"trans"}),
    ("hug", "hugs", "hugged", {"trans"}),
    ("help", "helps", "helped", {"trans", "intr"}),
    ("take", "takes", "took", {"trans"}),
    ("eat", "eats", "ate", {"trans", "intr"}),
    ("read", "reads", "read", {"trans", "intr"}),
    ("draw", "draws", "drew", {"trans", "intr"}),
    ("build", "builds", "built", {"trans"}),
    ("visit", "visits", "visited", {"trans"}),
    ("meet", "meets", "met", {"trans"}),
    ("thank", "thanks", "thanked", {"trans"}),
    ("follow", "follows", "followed", {"trans"}),
    ("chase", "chases", "chased", {"trans"}),
    ("feed", "feeds", "fed", {"trans"}),
    ("call", "calls", "called", {"trans"}),
    ("try", "tries", "tried", {"toinf"}),
    ("stop", "stops", "stopped", {"intr", "trans"}),
    ("start", "starts", "started", {"toinf"}),
    ("give", "gives", "gave", {"ditrans", "trans"}),
    ("show", "shows", "showed", {"ditrans", "trans"}),
    ("bring", "brings", "brought", {"ditrans", "trans"}),
    ("make", "makes", "made", {"ditrans", "trans"}),
    ("buy", "buys", "bought", {"ditrans", "trans"}),
    ("throw", "throws", "threw", {"ditrans", "trans"}),
    ("say", "says", "said", {"say"}),
]
# "be", "have" and "do" are irregular enough to be spelled out in full.
BE_FORMS = {("sg", "pres"): "is", ("pl", "pres"): "are", ("sg", "past"): "was", ("pl", "past"): "were"}
HAVE_FORMS = {("sg", "pres"): "has", ("pl", "pres"): "have", ("sg", "past"): "had", ("pl", "past"): "had"}
DO_FORMS = {("sg", "pres"): "does", ("pl", "pres"): "do", ("sg", "past"): "did", ("pl", "past"): "did"}
MODALS = ["can", "could", "will", "would"]
GREETINGS = [("thank", "you"), ("hello",), ("goodbye",), ("sorry",)]

# --- Small words --------------------------------------------------------------------------------

PRONOUNS_SUBJECT = {"he": "sg", "she": "sg", "it": "sg", "they": "pl", "everyone": "sg"}
PRONOUNS_OBJECT = ["him", "her", "it", "them", "everyone"]
POSSESSIVES = ["his", "her", "its", "their"]
DETERMINERS_SG = ["a", "an", "this", "that", "every"]
DETERMINERS_PL = ["these", "those", "two", "three", "some", "many", "all"]
DETERMINERS_ANY = ["the"]
PREPOSITIONS = [
    "to", "in", "at", "near", "with", "under", "on", "into", "from", "for", "by", "behind",
    "over", "until", "after", "before", "of",
]
ADVERBS = [  # may end a verb phrase: "Mia ran home quickly."
    "home", "together", "again", "too", "everywhere", "away", "back", "out", "up", "down",
    "outside", "inside", "alone", "quickly", "slowly", "happily", "loudly", "there", "today",
]
# Fixed phrases that behave like one adverb at the end of a verb phrase.
ADVERB_PHRASES = [
    ("every", "morning"), ("every", "day"), ("every", "evening"), ("all", "day"),
    ("that", "day"), ("that", "night"), ("very", "much"), ("each", "other"), ("after", "that"),
]
# Phrases that may open a sentence, followed by a comma: "One day, Mia ..."
OPENERS = [
    ("one", "day"), ("every", "morning"), ("every", "day"), ("every", "evening"), ("after", "that"), ("then",),
    ("later",), ("at", "last"), ("in", "the", "end"), ("once", "upon", "a", "time"),
    ("that", "night"), ("the", "next", "day"), ("suddenly",), ("soon",), ("finally",),
    ("in", "the", "evening"), ("in", "the", "morning"),
]
# Joining two clauses: "..., but ...", "..., so ...", "... because ...", "... and ...".
CLAUSE_JOINERS_WITH_COMMA = ["but", "so", "and"]
CLAUSE_JOINERS_NO_COMMA = ["because", "and"]
SUBORDINATORS = ["when", "after", "before"]  # "When Mia saw the kite, she smiled."
DEGREE = ["very"]
NEGATION = "not"
WH_WORDS = ["who", "what", "where", "whose"]
