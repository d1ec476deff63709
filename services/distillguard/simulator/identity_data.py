"""Reference data for identities, networks, devices and payment instruments.

Values are plausible, not real: IP prefixes are shaped like the address space of residential ISPs,
clouds, campuses and VPN providers of a country; BINs are shaped like issuer ranges; names and
streets are common ones per region. Nothing here identifies a real person or card.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True, slots=True)
class City:
    name: str
    region: str
    postal_prefix: str
    postal_digits: int


@dataclass(frozen=True, slots=True)
class Country:
    code: str
    utc_offsets: tuple[float, ...]
    phone_prefix: str
    phone_digits: int
    names: str
    currency: str
    residential_octets: tuple[int, ...]
    cities: tuple[City, ...]
    street_style: str
    weight: float


COUNTRIES: Final = (
    Country("US", (-5, -6, -7, -8), "+1", 10, "en", "USD", (24, 50, 67, 68, 71, 73, 76, 98, 99, 174),
            (City("Austin", "TX", "787", 2), City("Columbus", "OH", "432", 2), City("Seattle", "WA", "981", 2),
             City("Brooklyn", "NY", "112", 2), City("Denver", "CO", "802", 2), City("Atlanta", "GA", "303", 2)),
            "us", 26.0),
    Country("GB", (0,), "+44", 10, "en", "GBP", (81, 86, 92, 109, 151),
            (City("London", "England", "E", 1), City("Manchester", "England", "M", 2),
             City("Leeds", "England", "LS", 1), City("Glasgow", "Scotland", "G", 2)), "gb", 6.0),
    Country("DE", (1,), "+49", 11, "de", "EUR", (79, 84, 91, 93, 217),
            (City("Berlin", "BE", "10", 3), City("München", "BY", "80", 3), City("Hamburg", "HH", "20", 3),
             City("Köln", "NW", "50", 3)), "de", 5.0),
    Country("FR", (1,), "+33", 9, "fr", "EUR", (78, 82, 86, 90),
            (City("Paris", "IDF", "75", 3), City("Lyon", "ARA", "69", 3), City("Nantes", "PDL", "44", 3)), "fr", 4.0),
    Country("IN", (5.5,), "+91", 10, "in", "INR", (49, 103, 106, 117, 122),
            (City("Bengaluru", "KA", "560", 3), City("Pune", "MH", "411", 3), City("Hyderabad", "TG", "500", 3)),
            "in", 9.0),
    Country("BR", (-3,), "+55", 11, "pt", "BRL", (177, 179, 187, 189, 201),
            (City("São Paulo", "SP", "01", 6), City("Curitiba", "PR", "80", 6), City("Recife", "PE", "50", 6)),
            "br", 4.0),
    Country("JP", (9,), "+81", 10, "ja", "JPY", (60, 114, 118, 126, 133),
            (City("Tokyo", "Tokyo", "1", 6), City("Osaka", "Osaka", "5", 6), City("Fukuoka", "Fukuoka", "8", 6)),
            "jp", 4.0),
    Country("KR", (9,), "+82", 10, "ko", "KRW", (59, 112, 121, 175, 211),
            (City("Seoul", "Seoul", "0", 4), City("Busan", "Busan", "4", 4)), "kr", 3.0),
    Country("CA", (-5, -8), "+1", 10, "en", "CAD", (24, 70, 99, 142, 184),
            (City("Toronto", "ON", "M5", 1), City("Vancouver", "BC", "V6", 1), City("Montréal", "QC", "H2", 1)),
            "us", 3.0),
    Country("AU", (10,), "+61", 9, "en", "AUD", (49, 58, 101, 110, 121),
            (City("Sydney", "NSW", "20", 2), City("Melbourne", "VIC", "30", 2), City("Brisbane", "QLD", "40", 2)),
            "us", 2.5),
    Country("SG", (8,), "+65", 8, "zh", "SGD", (116, 118, 119, 175),
            (City("Singapore", "", "", 6),), "sg", 1.5),
    Country("NL", (1,), "+31", 9, "de", "EUR", (77, 83, 84, 145),
            (City("Amsterdam", "NH", "10", 2), City("Utrecht", "UT", "35", 2)), "de", 2.0),
    Country("ES", (1,), "+34", 9, "es", "EUR", (79, 83, 88, 95),
            (City("Madrid", "MD", "280", 2), City("Barcelona", "CT", "080", 2), City("Valencia", "VC", "460", 2)),
            "fr", 2.5),
    Country("MX", (-6,), "+52", 10, "es", "MXN", (177, 187, 189, 200),
            (City("Ciudad de México", "CDMX", "06", 3), City("Guadalajara", "JAL", "44", 3)), "fr", 2.5),
    Country("PL", (1,), "+48", 9, "pl", "PLN", (31, 37, 46, 83, 89),
            (City("Warszawa", "MZ", "00-", 3), City("Kraków", "MA", "30-", 3)), "de", 1.5),
    Country("NG", (1,), "+234", 10, "ng", "NGN", (102, 105, 129, 154, 197),
            (City("Lagos", "LA", "10", 4), City("Abuja", "FC", "90", 4)), "us", 1.5),
    Country("VN", (7,), "+84", 9, "vi", "VND", (14, 27, 113, 115, 171),
            (City("Hà Nội", "HN", "10", 4), City("Hồ Chí Minh", "SG", "70", 4)), "fr", 1.5),
    Country("TR", (3,), "+90", 10, "tr", "TRY", (78, 85, 88, 176, 212),
            (City("İstanbul", "IST", "34", 3), City("Ankara", "ANK", "06", 3)), "de", 1.5),
)

FIRST_NAMES: Final[dict[str, tuple[str, ...]]] = {
    "en": ("James", "Olivia", "Liam", "Emma", "Noah", "Ava", "Ethan", "Sophia", "Mason", "Isabella", "Lucas", "Mia",
           "Jackson", "Charlotte", "Aiden", "Amelia", "Logan", "Harper", "Caleb", "Evelyn", "Jonathan", "Katherine",
           "Michael", "Elizabeth", "Daniel", "Rebecca", "Matthew", "Samantha", "Christopher", "Jennifer"),
    "de": ("Lukas", "Anna", "Leon", "Lena", "Finn", "Marie", "Jonas", "Sophie", "Paul", "Laura", "Felix", "Hannah",
           "Maximilian", "Julia", "Tim", "Lea", "Jan", "Katharina", "Niklas", "Sarah"),
    "fr": ("Louis", "Camille", "Gabriel", "Léa", "Arthur", "Chloé", "Hugo", "Manon", "Jules", "Inès", "Raphaël",
           "Juliette", "Nathan", "Zoé", "Théo", "Alice", "Lucía", "Mateo", "Sofía", "Diego"),
    "in": ("Aarav", "Ananya", "Vihaan", "Diya", "Arjun", "Priya", "Rohan", "Kavya", "Aditya", "Isha", "Rahul",
           "Sneha", "Karthik", "Meera", "Siddharth", "Pooja", "Vikram", "Neha", "Amit", "Lakshmi"),
    "pt": ("Miguel", "Alice", "Arthur", "Helena", "Heitor", "Laura", "Davi", "Valentina", "Gabriel", "Manuela",
           "Pedro", "Beatriz", "Rafael", "Júlia", "Lucas", "Mariana"),
    "ja": ("Haruto", "Yui", "Sota", "Hina", "Yuto", "Aoi", "Riku", "Sakura", "Ren", "Mei", "Takumi", "Yuna", "Kenji",
           "Akiko", "Hiroshi", "Emi"),
    "ko": ("Min-jun", "Seo-yeon", "Ji-ho", "Ha-eun", "Do-yun", "Ji-woo", "Seo-jun", "Soo-ah", "Hyun-woo", "Ye-jin",
           "Jae-won", "Eun-ji"),
    "zh": ("Wei", "Jia Hui", "Jun Jie", "Xin Yi", "Ming", "Li Ting", "Zhi Hao", "Hui Min", "Kai", "Shu Fen",
           "Jian", "Mei Ling"),
    "es": ("Santiago", "Sofía", "Mateo", "Valentina", "Sebastián", "Camila", "Leonardo", "Regina", "Emiliano",
           "Ximena", "Diego", "Lucía", "Alejandro", "María José"),
    "pl": ("Jakub", "Zuzanna", "Antoni", "Julia", "Szymon", "Maja", "Jan", "Hanna", "Filip", "Lena", "Kacper", "Alicja"),
    "ng": ("Chinedu", "Ngozi", "Emeka", "Adaeze", "Tunde", "Funmilayo", "Ifeanyi", "Aisha", "Segun", "Chiamaka",
           "Musa", "Zainab"),
    "vi": ("Minh", "Linh", "Huy", "Trang", "Duc", "Ngoc", "Quang", "Thao", "Tuan", "Mai", "Long", "Hoa"),
    "tr": ("Yusuf", "Zeynep", "Eymen", "Elif", "Mustafa", "Defne", "Emir", "Ecrin", "Ömer", "Azra", "Kerem", "Nisa"),
}
LAST_NAMES: Final[dict[str, tuple[str, ...]]] = {
    "en": ("Smith", "Johnson", "Williams", "Brown", "Jones", "Miller", "Davis", "Wilson", "Anderson", "Taylor",
           "Thomas", "Moore", "Martin", "Jackson", "Thompson", "White", "Harris", "Clark", "Lewis", "Robinson",
           "Walker", "Young", "Allen", "King", "Wright", "Scott", "Green", "Baker", "Adams", "Nelson"),
    "de": ("Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schulz", "Hoffmann",
           "Koch", "Richter", "Klein", "Wolf", "Neumann", "Schwarz", "de Vries", "van Dijk", "Bakker", "Jansen"),
    "fr": ("Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy", "Moreau",
           "García", "Fernández", "López", "Martínez", "Sánchez", "Pérez", "Nguyen", "Fontaine", "Rousseau", "Blanc"),
    "in": ("Sharma", "Patel", "Reddy", "Iyer", "Nair", "Gupta", "Singh", "Kumar", "Rao", "Das", "Mehta", "Joshi",
           "Menon", "Pillai", "Chatterjee", "Verma", "Agarwal", "Bose", "Kapoor", "Desai"),
    "pt": ("Silva", "Santos", "Oliveira", "Souza", "Rodrigues", "Ferreira", "Alves", "Pereira", "Lima", "Gomes",
           "Costa", "Ribeiro", "Martins", "Carvalho", "Almeida", "Lopes"),
    "ja": ("Sato", "Suzuki", "Takahashi", "Tanaka", "Watanabe", "Ito", "Yamamoto", "Nakamura", "Kobayashi", "Kato",
           "Yoshida", "Yamada", "Sasaki", "Yamaguchi", "Matsumoto", "Inoue"),
    "ko": ("Kim", "Lee", "Park", "Choi", "Jung", "Kang", "Cho", "Yoon", "Jang", "Lim", "Han", "Oh"),
    "zh": ("Tan", "Lim", "Lee", "Ng", "Ong", "Wong", "Goh", "Chua", "Chan", "Koh", "Teo", "Ang"),
    "es": ("Hernández", "García", "Martínez", "López", "González", "Rodríguez", "Pérez", "Sánchez", "Ramírez",
           "Cruz", "Flores", "Gómez", "Morales", "Vázquez"),
    "pl": ("Nowak", "Kowalski", "Wiśniewski", "Wójcik", "Kowalczyk", "Kamiński", "Lewandowski", "Zieliński",
           "Szymański", "Woźniak", "Dąbrowski", "Kozłowski"),
    "ng": ("Okafor", "Adeyemi", "Okonkwo", "Balogun", "Eze", "Ibrahim", "Nwosu", "Bello", "Adebayo", "Obi",
           "Yusuf", "Olawale"),
    "vi": ("Nguyen", "Tran", "Le", "Pham", "Hoang", "Phan", "Vu", "Vo", "Dang", "Bui", "Do", "Ho"),
    "tr": ("Yılmaz", "Kaya", "Demir", "Şahin", "Çelik", "Yıldız", "Yıldırım", "Öztürk", "Aydın", "Özdemir",
           "Arslan", "Doğan"),
}
NICKNAMES: Final[dict[str, tuple[str, ...]]] = {
    "Jonathan": ("Jon", "John", "Johnathan", "Jonny"), "Katherine": ("Kate", "Katie", "Catherine", "Kathryn"),
    "Michael": ("Mike", "Micheal", "Mikey"), "Elizabeth": ("Liz", "Beth", "Elisabeth", "Eliza"),
    "Daniel": ("Dan", "Danny", "Danial"), "Rebecca": ("Becky", "Rebeca", "Becca"), "Matthew": ("Matt", "Mathew"),
    "Samantha": ("Sam", "Samanta", "Sammy"), "Christopher": ("Chris", "Kristopher", "Christoper"),
    "Jennifer": ("Jen", "Jenny", "Jenifer"), "James": ("Jim", "Jamie", "Jimmy"), "Olivia": ("Liv", "Olive"),
}
STREETS: Final[dict[str, tuple[str, ...]]] = {
    "us": ("Main St", "Oak Ave", "Maple Dr", "Cedar Ln", "Pine St", "Elm St", "Washington Ave", "Lakeview Rd",
           "Park Pl", "Sunset Blvd", "Hillcrest Dr", "Riverside Dr"),
    "gb": ("High Street", "Station Road", "Church Lane", "Victoria Road", "Mill Lane", "Park Avenue", "Queens Road"),
    "de": ("Hauptstraße", "Bahnhofstraße", "Gartenweg", "Schulstraße", "Lindenallee", "Bergstraße", "Dorfstraße"),
    "fr": ("rue de la République", "avenue Victor Hugo", "rue Pasteur", "boulevard Voltaire", "rue des Lilas",
           "calle Mayor", "avenida de la Paz"),
    "in": ("MG Road", "Residency Road", "Nehru Nagar", "Indiranagar 2nd Stage", "Koramangala 5th Block"),
    "br": ("Rua das Flores", "Avenida Paulista", "Rua Augusta", "Rua XV de Novembro", "Avenida Brasil"),
    "jp": ("Shibuya", "Minato", "Setagaya", "Chuo", "Kita", "Naka"),
    "kr": ("Gangnam-daero", "Teheran-ro", "Sejong-daero", "Haeundae-ro"),
    "sg": ("Orchard Road", "Tampines Ave", "Jurong West St", "Ang Mo Kio Ave", "Bukit Timah Road"),
}
FREE_EMAIL_DOMAINS: Final = (
    "gmail.com", "gmail.com", "gmail.com", "gmail.com", "outlook.com", "outlook.com", "yahoo.com", "hotmail.com",
    "icloud.com", "proton.me", "gmx.de", "web.de", "mail.com", "yandex.com", "naver.com", "qq.com",
)
BROWSER_USER_AGENTS: Final = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (iPad; CPU OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1",
)
SDK_USER_AGENTS: Final = (
    "ModelSDK-Python/1.42.0 (Linux; CPython 3.11.9)", "ModelSDK-Python/1.40.2 (Darwin; CPython 3.12.4)",
    "ModelSDK-Python/1.42.0 (Linux; CPython 3.10.12)", "ModelSDK-TS/0.31.2 (node 20.18.0)",
    "ModelSDK-TS/0.30.1 (node 22.11.0)", "python-httpx/0.27.2", "python-requests/2.32.3", "axios/1.7.7",
    "Go-http-client/2.0", "okhttp/4.12.0", "curl/8.5.0", "langchain-python/0.3.7", "aiohttp/3.10.10",
)
MOBILE_CARRIER_OCTETS: Final = (100, 172, 174, 176, 223)
CLOUD_OCTETS: Final = (3, 13, 18, 20, 34, 35, 40, 44, 52, 54, 104, 138, 143, 157)
VPN_PROVIDER_OCTETS: Final = ((185, 213), (193, 37), (45, 83), (89, 187), (146, 70), (198, 54))
CAMPUS_OCTETS: Final = (128, 129, 130, 131, 132, 137, 141, 155, 160, 169)

UNIVERSITIES: Final = (
    ("Northfield State University", "nfsu.edu", "US"), ("University of Westmere", "westmere.ac.uk", "GB"),
    ("Technische Universität Altstadt", "tu-altstadt.de", "DE"), ("Lakeshore Institute of Technology", "lit.edu", "US"),
    ("Universidad de Costa Azul", "ucazul.es", "ES"), ("Instituto Federal do Cerrado", "ifcerrado.edu.br", "BR"),
    ("Sakura University", "sakura-u.ac.jp", "JP"), ("Riverside College of Engineering", "rce.ac.in", "IN"),
    ("Hanbit University", "hanbit.ac.kr", "KR"), ("Université de Bellerive", "u-bellerive.fr", "FR"),
    ("Prairie Plains University", "ppu.edu", "US"), ("Maplewood University", "maplewood.ca", "CA"),
    ("Southern Cross University of Technology", "scut.edu.au", "AU"), ("Vistula Polytechnic", "vpoly.edu.pl", "PL"),
    ("Lagoon City University", "lcu.edu.ng", "NG"), ("Eastbay State University", "ebsu.edu", "US"),
)
COMPANY_FIRST: Final = (
    "Northwind", "Bluefin", "Cobalt", "Granite", "Harbor", "Ironclad", "Juniper", "Keystone", "Lumen", "Meridian",
    "Nimbus", "Orchard", "Pioneer", "Quarry", "Redwood", "Summit", "Tidal", "Upland", "Vertex", "Willow",
    "Atlas", "Beacon", "Cascade", "Driftwood", "Evergreen", "Foundry", "Gridline", "Helix", "Inlet", "Kestrel",
)
COMPANY_SECOND: Final = (
    "Analytics", "Labs", "Logistics", "Health", "Robotics", "Software", "Systems", "Bank", "Insurance", "Media",
    "Retail", "Energy", "Foods", "Travel", "Learning", "Security", "Data", "Payments", "Legal", "Studios",
)
LEGAL_FORMS: Final[dict[str, tuple[str, ...]]] = {
    "US": ("Inc.", "LLC", "Corp."), "GB": ("Ltd", "PLC"), "DE": ("GmbH", "AG"), "FR": ("SAS", "SA"),
    "IN": ("Pvt Ltd",), "BR": ("Ltda.",), "JP": ("K.K.",), "KR": ("Co., Ltd.",), "CA": ("Inc.",),
    "AU": ("Pty Ltd",), "SG": ("Pte. Ltd.",), "NL": ("B.V.",), "ES": ("S.L.",), "MX": ("S.A. de C.V.",),
    "PL": ("sp. z o.o.",), "NG": ("Ltd",), "VN": ("JSC",), "TR": ("A.Ş.",),
}
LAB_NAMES: Final = (
    "Center for Model Evaluation", "Open Benchmarks Collective", "Institute for AI Reliability",
    "Frontier Safety Lab", "Applied Reasoning Group", "Language Technologies Evaluation Unit",
    "Independent AI Audit Lab", "Capabilities Measurement Initiative", "Responsible Scaling Research Lab",
    "Public Interest AI Observatory", "Model Assessment Consortium", "Trustworthy Systems Lab",
)

CREDIT_BINS: Final = ("414720", "426684", "438857", "453978", "476173", "518791", "522881", "540168", "552433", "379741")
DEBIT_BINS: Final = ("400022", "411756", "424631", "434256", "459500", "516732", "535522", "601100")
PREPAID_BINS: Final = ("404038", "423223", "511563", "531258", "446291")
# Virtual/prepaid ranges favoured by card farms; 446291 and 531258 are also sold to ordinary people.
FARM_PREPAID_BINS: Final = ("446291", "531258", "485246", "559666")
DECLINE_CODES: Final = ("insufficient_funds", "card_declined", "expired_card", "do_not_honor", "card_velocity_exceeded")
CORPORATE_OCTETS: Final = (12, 38, 63, 64, 65, 66, 80, 195, 206, 212)
