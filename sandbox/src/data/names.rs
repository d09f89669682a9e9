//! Word lists the generator draws from: people, places, products. Unicode on purpose.

/// Given names.
pub const FIRST_NAMES: &[&str] = &[
    "Ava",
    "Liam",
    "Noah",
    "Emma",
    "Olivia",
    "Mateo",
    "Sofía",
    "Zoë",
    "Chloé",
    "Björn",
    "Ines",
    "Kenji",
    "Yuki",
    "Aarav",
    "Priya",
    "Fatima",
    "Omar",
    "Łukasz",
    "Agnieszka",
    "Søren",
    "Maëlle",
    "José",
    "Ana",
    "Lucas",
    "Hannah",
    "Mohammed",
    "Wei",
    "Mei",
    "Olusegun",
    "Chiamaka",
    "Darius",
    "Nora",
    "Henrik",
    "Elif",
    "Mustafa",
    "Siobhán",
    "Niamh",
    "Jürgen",
];

/// Family names.
pub const LAST_NAMES: &[&str] = &[
    "Smith",
    "García",
    "Müller",
    "Dubois",
    "Rossi",
    "Nowak",
    "Johansson",
    "Tanaka",
    "Kim",
    "Nguyen",
    "O'Brien",
    "Okafor",
    "Patel",
    "Hernández",
    "Novák",
    "Jensen",
    "Kowalski",
    "Silva",
    "Andersen",
    "Yılmaz",
    "Ivanova",
    "Fernández",
    "Brown",
    "Wilson",
    "Martin",
    "Lefèvre",
    "Schröder",
    "Costa",
    "Haddad",
    "Zhang",
    "Li",
    "Mensah",
    "Van der Berg",
    "Ó Súilleabháin",
];

/// Countries: ISO alpha-2 code, English name, a state or region, a city, a postal code pattern.
pub const PLACES: &[(&str, &str, &str, &str, &str)] = &[
    ("US", "United States", "Texas", "Austin", "787##"),
    ("US", "United States", "California", "San José", "951##"),
    ("US", "United States", "New York", "Brooklyn", "112##"),
    ("US", "United States", "Colorado", "Boulder", "803##"),
    ("CA", "Canada", "Québec", "Montréal", "H2X #A#"),
    ("GB", "United Kingdom", "England", "Manchester", "M1 #AB"),
    ("DE", "Germany", "Bayern", "München", "80###"),
    ("FR", "France", "Île-de-France", "Paris", "750##"),
    ("AU", "Australia", "New South Wales", "Sydney", "20##"),
    ("JP", "Japan", "Tokyo", "Shibuya", "150-00##"),
    ("MX", "Mexico", "Jalisco", "Guadalajara", "44###"),
    ("NL", "Netherlands", "Noord-Holland", "Amsterdam", "10## AB"),
];

/// Street names.
pub const STREETS: &[&str] = &[
    "Main Street",
    "Oak Avenue",
    "Congress Ave",
    "Rue de Rivoli",
    "Königsallee",
    "Calle Mayor",
    "Baker Street",
    "Elm Road",
    "Harbour Parade",
    "Sakura-dori",
    "Lakeshore Blvd",
    "Prinsengracht",
];

/// Product adjectives.
pub const ADJECTIVES: &[&str] = &[
    "Alpine",
    "Trail",
    "Summit",
    "Coastal",
    "Nordic",
    "Urban",
    "Classic",
    "Ultralight",
    "Rugged",
    "Everyday",
    "Expedition",
    "Café",
    "Über",
    "Señor",
    "Zen",
];

/// Product nouns.
pub const NOUNS: &[&str] = &[
    "Backpack",
    "Tent",
    "Sleeping Bag",
    "Water Bottle",
    "Rain Jacket",
    "Hiking Boots",
    "Headlamp",
    "Camp Stove",
    "Trekking Poles",
    "Fleece",
    "Beanie",
    "Duffel",
    "Hammock",
    "Compass",
    "Mug",
    "Socks",
    "Gloves",
    "Cooler",
];

/// Variant option values.
pub const COLOURS: &[&str] =
    &["Black", "Forest Green", "Glacier Blue", "Sunset Orange", "Sand", "Charcoal", "Rosé", "Crimson"];
/// Variant sizes.
pub const SIZES: &[&str] = &["XS", "S", "M", "L", "XL", "XXL"];

/// Category names for the tree: (name, parent index or none).
pub const CATEGORIES: &[(&str, Option<usize>)] = &[
    ("Camping", None),
    ("Tents", Some(0)),
    ("Sleeping", Some(0)),
    ("Cooking", Some(0)),
    ("Clothing", None),
    ("Jackets", Some(4)),
    ("Footwear", Some(4)),
    ("Accessories", Some(4)),
    ("Hiking", None),
    ("Packs", Some(8)),
    ("Navigation", Some(8)),
    ("Ultralight Packs", Some(9)),
    ("Sale", None),
    ("Gifts & Gear", None),
];

/// Payment gateways (BigCommerce's ids) with the method they use.
pub const GATEWAYS: &[(&str, &str, &str)] = &[
    // (gateway, method, payment_method display name on the order)
    ("braintree", "credit_card", "Credit Card"),
    ("stripe", "credit_card", "Credit Card"),
    ("paypalexpress", "electronic_wallet", "PayPal"),
    ("authorizenet", "credit_card", "Credit Card"),
    ("square", "credit_card", "Credit Card"),
    ("cod", "offline", "Cash on Delivery"),
    ("bankdeposit", "offline", "Bank Deposit"),
    ("storecredit", "store_credit", "Store Credit"),
    ("giftcertificate", "gift_certificate", "Gift Certificate"),
];

/// Card brands as BigCommerce spells them.
pub const CARD_TYPES: &[&str] = &["visa", "master", "american_express", "discover", "jcb"];

/// Paragraph used to build long product descriptions.
pub const LOREM: &str = "<p>Built for long days on the trail, this piece balances weight, durability and comfort. \
Recycled ripstop fabric, taped seams and a lifetime warranty — tested from the Cairngorms to the Cordillera Blanca. \
Entretien facile, 100 % recyclé. 軽量で丈夫。</p>";

/// ASCII-only, lowercase, for email local parts.
pub fn ascii_slug(text: &str) -> String {
    text.chars().filter(|c| c.is_ascii_alphanumeric()).collect::<String>().to_lowercase()
}
