"""Fixed data of the demo company: names, the catalogue, the ranks and the compensation plan."""

from __future__ import annotations

import json
from decimal import Decimal

from mlmcrm.engine.synthetic import EXAMPLE_PLAN

DEMO_PASSWORD = "mlmcrm-demo"
ADMIN_EMAIL = "admin@example.com"
DISTRIBUTOR_EMAIL = "distributor@example.com"
COMPANY_EMAIL = "company@example.com"
STAFF = (
    ("admin", ADMIN_EMAIL, "Olivia", "Bennett"),
    ("finance", "finance@example.com", "Samuel", "Chen"),
    ("compliance", "compliance@example.com", "Carmen", "Ortiz"),
    ("support", "support@example.com", "Jordan", "Patel"),
)


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


FIRST_NAMES = _words(
    "James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara "
    "Richard Susan Joseph Jessica Thomas Sarah Christopher Karen Charles Lisa Daniel Nancy "
    "Matthew Betty Anthony Sandra Mark Margaret Donald Ashley Steven Kimberly Andrew Emily Paul "
    "Donna Joshua Michelle Kenneth Carol Kevin Amanda Brian Melissa George Deborah Timothy "
    "Stephanie Ronald Dorothy Jason Rebecca Edward Sharon Jeffrey Laura Ryan Cynthia Jacob Amy "
    "Gary Kathleen Nicholas Angela Eric Shirley Jonathan Brenda Stephen Emma Larry Anna Justin "
    "Pamela Scott Nicole Brandon Samantha Benjamin Katherine Samuel Christine Gregory Helen "
    "Alexander Debra Patrick Rachel Frank Carolyn Raymond Janet Jack Maria Dennis Olivia Jerry "
    "Heather Tyler Diane Aaron Julie Jose Joyce Adam Victoria Nathan Ruth Henry Virginia Zachary "
    "Lauren Douglas Kelly Peter Christina Kyle Joan Noah Evelyn Ethan Judith Jeremy Andrea "
    "Christian Hannah Walter Megan Keith Cheryl Austin Jacqueline Roger Martha Terry Madison "
    "Sean Teresa Gerald Gloria Carl Sara Dylan Janice Harold Ann Jordan Kathryn Jesse Abigail "
    "Bryan Sophia Lawrence Frances Arthur Jean Gabriel Alice Bruce Judy Logan Isabella Billy "
    "Julia Joe Grace Alan Amber Juan Denise Elijah Danielle Willie Marilyn Albert Beverly Wayne "
    "Charlotte Randy Natalie Mason Theresa Vincent Diana Liam Brittany Roy Doris Bobby Kayla "
    "Caleb Alexis Bradley Lori Russell Marie Lucas Carmen Priya Wei Aisha Mateo Sofia Diego "
    "Lucia Kenji Yuki Omar Fatima Ivan Elena Raj Mei Tariq Leila Chidi Amara Santiago Valentina"
)

LAST_NAMES = _words(
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez "
    "Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris "
    "Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen "
    "Hill Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts Gomez "
    "Phillips Evans Turner Diaz Parker Cruz Edwards Collins Reyes Stewart Morris Morales Murphy "
    "Cook Rogers Gutierrez Ortiz Morgan Cooper Peterson Bailey Reed Kelly Howard Ramos Kim Cox "
    "Ward Richardson Watson Brooks Chavez Wood James Bennett Gray Mendoza Ruiz Hughes Price "
    "Alvarez Castillo Sanders Patel Myers Long Ross Foster Jimenez Powell Jenkins Perry Russell "
    "Sullivan Bell Coleman Butler Henderson Barnes Gonzales Fisher Vasquez Simmons Romero Jordan "
    "Patterson Alexander Hamilton Graham Reynolds Griffin Wallace Moreno West Cole Hayes Bryant "
    "Herrera Gibson Ellis Tran Medina Aguilar Stevens Murray Ford Castro Marshall Owens Harrison "
    "Fernandez McDonald Woods Washington Kennedy Wells Vargas Henry Chen Freeman Webb Tucker "
    "Guzman Burns Crawford Olson Simpson Porter Hunter Gordon Mendez Silva Shaw Snyder Mason "
    "Dixon Munoz Hunt Hicks Holmes Palmer Wagner Black Robertson Boyd Rose Stone Salazar Fox "
    "Warren Mills Meyer Rice Schmidt Garza Daniels Ferguson Nichols Stephens Soto Weaver Ryan "
    "Gardner Payne Grant Dunn Kelley Spencer Hawkins Arnold Pierce Hansen Peters Santos Hart "
    "Okafor Tanaka Sato Kowalski Novak Singh Khan Ali Haddad Rossi Bianchi Dubois Muller Larsen"
)

CITIES = (
    ("Austin", "TX", "US", "78701"),
    ("Denver", "CO", "US", "80202"),
    ("Phoenix", "AZ", "US", "85004"),
    ("Columbus", "OH", "US", "43215"),
    ("Nashville", "TN", "US", "37203"),
    ("Orlando", "FL", "US", "32801"),
    ("Portland", "OR", "US", "97204"),
    ("Raleigh", "NC", "US", "27601"),
    ("Salt Lake City", "UT", "US", "84101"),
    ("San Diego", "CA", "US", "92101"),
    ("Atlanta", "GA", "US", "30303"),
    ("Minneapolis", "MN", "US", "55401"),
    ("Toronto", "ON", "CA", "M5H 2N2"),
    ("Vancouver", "BC", "CA", "V6B 1A1"),
    ("Guadalajara", "JAL", "MX", "44100"),
    ("Monterrey", "NL", "MX", "64000"),
    ("Manchester", "", "GB", "M1 1AE"),
    ("Leeds", "", "GB", "LS1 4AP"),
    ("Sydney", "NSW", "AU", "2000"),
    ("Manila", "", "PH", "1000"),
)
TAX_RATES: dict[str, tuple[str, Decimal]] = {
    "US-AZ": ("Arizona transaction privilege tax", Decimal("0.056")),
    "US-CA": ("California sales tax", Decimal("0.0725")),
    "US-CO": ("Colorado sales tax", Decimal("0.029")),
    "US-FL": ("Florida sales tax", Decimal("0.06")),
    "US-GA": ("Georgia sales tax", Decimal("0.04")),
    "US-MN": ("Minnesota sales tax", Decimal("0.06875")),
    "US-NC": ("North Carolina sales tax", Decimal("0.0475")),
    "US-OH": ("Ohio sales tax", Decimal("0.0575")),
    "US-OR": ("Oregon: no sales tax", Decimal("0")),
    "US-TN": ("Tennessee sales tax", Decimal("0.07")),
    "US-TX": ("Texas sales tax", Decimal("0.0625")),
    "US-UT": ("Utah sales tax", Decimal("0.0485")),
    "CA-BC": ("GST and British Columbia PST", Decimal("0.12")),
    "CA-ON": ("HST Ontario", Decimal("0.13")),
    "MX": ("IVA", Decimal("0.16")),
    "GB": ("VAT", Decimal("0.20")),
    "AU": ("GST", Decimal("0.10")),
    "PH": ("VAT", Decimal("0.12")),
}
"""The demo company's tax rates (region: name, rate), one for each region of :data:`CITIES`.

The state or provincial rate where the tax is charged by state or province (US, Canada), the
national VAT or GST elsewhere; local sales taxes are left out. Every other region has the
``*`` rate (0 %) every company starts with.
"""


def tax_region(address_index: int) -> str:
    """The tax region (a key of :data:`TAX_RATES`, else ``*``) of address ``address_index``."""
    _, region, country, _ = CITIES[address_index % len(CITIES)]
    for code in (f"{country}-{region}", country):
        if code in TAX_RATES:
            return code
    return "*"


STREETS = (
    "Oak Street",
    "Maple Avenue",
    "Cedar Lane",
    "Pine Road",
    "Elm Street",
    "Lakeview Drive",
    "Sunset Boulevard",
    "Hillcrest Road",
    "River Road",
    "Park Avenue",
)
TIMEZONES = {
    "US": ("America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles"),
    "CA": ("America/Toronto", "America/Vancouver"),
    "MX": ("America/Mexico_City",),
    "GB": ("Europe/London",),
    "AU": ("Australia/Sydney",),
    "PH": ("Asia/Manila",),
}
COUNTRY_WEIGHTS = {"US": 0.70, "CA": 0.10, "MX": 0.09, "GB": 0.05, "AU": 0.03, "PH": 0.03}
LOCALE_BY_COUNTRY = {"US": "en", "CA": "en", "MX": "es", "GB": "en", "AU": "en", "PH": "en"}

CATEGORIES = ("Nutrition", "Skin Care", "Wellness", "Home", "Beauty", "Starter Kits")

# (sku, name, category, price, pv, cv, popularity, description)
PRODUCTS = (
    (
        "NUT-001",
        "Daily Greens Powder",
        "Nutrition",
        "49.00",
        "40",
        "36.75",
        10,
        "Thirty servings of greens, fruit and fibre.",
    ),
    (
        "NUT-002",
        "Plant Protein Vanilla",
        "Nutrition",
        "54.00",
        "45",
        "40.50",
        9,
        "Twenty grams of pea and rice protein per scoop.",
    ),
    (
        "NUT-003",
        "Plant Protein Chocolate",
        "Nutrition",
        "54.00",
        "45",
        "40.50",
        9,
        "Twenty grams of pea and rice protein per scoop.",
    ),
    (
        "NUT-004",
        "Omega-3 Softgels",
        "Nutrition",
        "32.00",
        "25",
        "24.00",
        7,
        "Fish oil with 1,000 mg EPA and DHA per serving.",
    ),
    (
        "NUT-005",
        "Multivitamin Daily Pack",
        "Nutrition",
        "59.00",
        "50",
        "44.25",
        8,
        "A month of morning and evening packs.",
    ),
    (
        "NUT-006",
        "Electrolyte Sticks",
        "Nutrition",
        "24.00",
        "18",
        "18.00",
        6,
        "Twenty sugar-free hydration sticks.",
    ),
    (
        "NUT-007",
        "Meal Shake Berry",
        "Nutrition",
        "64.00",
        "52",
        "48.00",
        5,
        "Fourteen balanced meal replacement shakes.",
    ),
    (
        "SKN-001",
        "Gentle Cleanser",
        "Skin Care",
        "28.00",
        "20",
        "21.00",
        6,
        "A soap-free cleanser for every skin type.",
    ),
    (
        "SKN-002",
        "Vitamin C Serum",
        "Skin Care",
        "46.00",
        "35",
        "34.50",
        7,
        "Fifteen percent vitamin C with ferulic acid.",
    ),
    (
        "SKN-003",
        "Night Repair Cream",
        "Skin Care",
        "58.00",
        "44",
        "43.50",
        5,
        "A rich night cream with peptides.",
    ),
    (
        "SKN-004",
        "Daily Moisturiser SPF 30",
        "Skin Care",
        "38.00",
        "28",
        "28.50",
        6,
        "Light moisturiser with broad-spectrum SPF 30.",
    ),
    (
        "SKN-005",
        "Eye Renewal Gel",
        "Skin Care",
        "42.00",
        "30",
        "31.50",
        3,
        "Cooling gel for tired eyes.",
    ),
    (
        "SKN-006",
        "Skin Care Regimen Set",
        "Skin Care",
        "149.00",
        "120",
        "111.75",
        3,
        "Cleanser, serum, moisturiser and night cream.",
    ),
    (
        "WEL-001",
        "Sleep Support Capsules",
        "Wellness",
        "36.00",
        "28",
        "27.00",
        6,
        "Magnesium, L-theanine and melatonin.",
    ),
    (
        "WEL-002",
        "Probiotic 30 Billion",
        "Wellness",
        "44.00",
        "35",
        "33.00",
        6,
        "Ten strains, shelf stable.",
    ),
    (
        "WEL-003",
        "Collagen Peptides",
        "Wellness",
        "48.00",
        "38",
        "36.00",
        7,
        "Unflavoured type I and III collagen.",
    ),
    (
        "WEL-004",
        "Energy Focus Drink Mix",
        "Wellness",
        "39.00",
        "30",
        "29.25",
        5,
        "Natural caffeine from green tea.",
    ),
    (
        "WEL-005",
        "Joint Comfort Formula",
        "Wellness",
        "52.00",
        "40",
        "39.00",
        3,
        "Glucosamine, chondroitin and turmeric.",
    ),
    (
        "HOM-001",
        "All-Purpose Cleaner Concentrate",
        "Home",
        "22.00",
        "15",
        "16.50",
        5,
        "Makes eight bottles of plant-based cleaner.",
    ),
    (
        "HOM-002",
        "Laundry Pods",
        "Home",
        "26.00",
        "18",
        "19.50",
        4,
        "Sixty fragrance-free laundry pods.",
    ),
    ("HOM-003", "Dish Soap Refill", "Home", "14.00", "9", "10.50", 3, "A one-litre refill pouch."),
    (
        "HOM-004",
        "Essential Oil Diffuser",
        "Home",
        "69.00",
        "45",
        "51.75",
        2,
        "Ultrasonic diffuser with night light.",
    ),
    (
        "HOM-005",
        "Lavender Essential Oil",
        "Home",
        "19.00",
        "14",
        "14.25",
        4,
        "Fifteen millilitres of steam-distilled lavender.",
    ),
    (
        "BEA-001",
        "Hydrating Shampoo",
        "Beauty",
        "26.00",
        "19",
        "19.50",
        4,
        "Sulfate-free shampoo with argan oil.",
    ),
    (
        "BEA-002",
        "Repair Conditioner",
        "Beauty",
        "26.00",
        "19",
        "19.50",
        4,
        "Conditioner for dry and damaged hair.",
    ),
    (
        "BEA-003",
        "Tinted Lip Balm",
        "Beauty",
        "12.00",
        "8",
        "9.00",
        3,
        "Shea butter balm in four shades.",
    ),
    (
        "BEA-004",
        "Mineral Foundation",
        "Beauty",
        "38.00",
        "27",
        "28.50",
        2,
        "Buildable coverage in twelve shades.",
    ),
    (
        "BEA-005",
        "Hand and Body Lotion",
        "Beauty",
        "18.00",
        "12",
        "13.50",
        3,
        "Fast-absorbing lotion with aloe.",
    ),
    (
        "KIT-001",
        "Business Starter Kit",
        "Starter Kits",
        "99.00",
        "0",
        "0",
        1,
        "Samples, catalogues and a year of the back office.",
    ),
    (
        "KIT-002",
        "Wellness Starter Pack",
        "Starter Kits",
        "199.00",
        "150",
        "140.00",
        1,
        "Starter kit with a month of the best sellers.",
    ),
    (
        "NUT-900",
        "Fibre Blend (discontinued)",
        "Nutrition",
        "29.00",
        "20",
        "21.75",
        0,
        "Replaced by Daily Greens Powder.",
    ),
)
STARTER_KIT_SKUS = ("KIT-001", "KIT-002")
RETIRED_SKUS = ("NUT-900",)

RANKS = (
    {
        "code": "associate",
        "name": "Associate",
        "level": 1,
        "min_pv": 0,
        "min_gv": 0,
        "requirements": {},
        "benefits": {"unilevel_levels": 2},
    },
    {
        "code": "director",
        "name": "Director",
        "level": 2,
        "min_pv": 100,
        "min_gv": 1000,
        "requirements": {"min_pv": 100, "min_gv": 1000, "max_leg_pct": 50},
        "benefits": {"unilevel_levels": 4, "rank_bonus": 100},
    },
    {
        "code": "diamond",
        "name": "Diamond",
        "level": 3,
        "min_pv": 100,
        "min_gv": 10000,
        "requirements": {
            "min_pv": 100,
            "min_gv": 10000,
            "max_leg_pct": 40,
            "legs": [{"count": 2, "rank": "director"}],
        },
        "benefits": {"unilevel_levels": 5, "rank_bonus": 1000, "pool_shares": 1},
    },
)

PLAN_NAME = "Example hybrid plan"
PLAN_YAML = EXAMPLE_PLAN

CONTACT_SOURCES = ("referral", "instagram", "facebook", "event", "website", "whatsapp", "tiktok")
LEAD_STAGES = ("new", "contacted", "interested", "not_interested")
LEAD_STAGE_WEIGHTS = (0.40, 0.30, 0.20, 0.10)
TAG_SETS = (
    (),
    ("warm",),
    ("hot",),
    ("follow-up",),
    ("skin care",),
    ("nutrition",),
    ("warm", "nutrition"),
    ("hot", "business"),
    ("event", "follow-up"),
    ("business",),
)
TASK_DESCRIPTIONS = (
    "Call back about the starter kit",
    "Send the product catalogue",
    "Follow up on the sample pack",
    "Invite to the Thursday webinar",
    "Check in after the first order",
    "Answer questions about autoship",
    "Book a coffee meeting",
    "Share the skin care routine guide",
)
TASK_TYPES = ("call", "message", "meeting", "follow_up")

COMPANY_SETTINGS = {
    "company.profile": {
        "name": "Evergreen Wellness Co.",
        "legal_name": "Evergreen Wellness Company LLC",
        "postal_address": "100 Congress Avenue, Suite 400, Austin, TX 78701, USA",
        "support_email": "support@example.com",
        "currency": "USD",
        "timezone": "America/Chicago",
    },
    # The company as the payer on its 1099-NEC forms (a made-up EIN with a valid prefix).
    "tax.payer": {
        "name": "Evergreen Wellness Company LLC",
        "address_lines": ["100 Congress Avenue, Suite 400", "Austin, TX 78701"],
        "phone": "+1 512 555 0100",
        "tin": "742345678",
    },
}


def address_json(index: int) -> bytes:
    """A believable address (as JSON bytes) for an index into the city and street lists."""
    city, region, country, postcode = CITIES[index % len(CITIES)]
    street = STREETS[(index // len(CITIES)) % len(STREETS)]
    house = 100 + (index * 37) % 8900
    return json.dumps(
        {
            "line1": f"{house} {street}",
            "city": city,
            "region": region,
            "postal_code": postcode,
            "country": country,
        },
        separators=(",", ":"),
    ).encode()
