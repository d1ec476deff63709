"""Prompt grammars of every population (see grammar.py for the template syntax).

Legitimate grammars are built for variety (a casual prompt is opener + request + detail + closer,
each drawn independently, so two users rarely produce near-duplicates); the distillation grammars
are built the way the public reports describe farms: a small set of scaffolds around a task bank,
with chain-of-thought elicitation, rubric grading and sensitive rewrites. `mimic` uses the same
task bank behind many paraphrased scaffolds, so its prompts are similar in content but not in
wording. Evaluation labs use PUBLIC benchmark formats shared by every lab.
"""

from __future__ import annotations

from typing import Final

from distillguard.simulator.grammar import Grammar

# ---------------------------------------------------------------------------------------------
# Shared slot pools
# ---------------------------------------------------------------------------------------------

INGREDIENTS: Final = (
    "chickpeas", "leftover rice", "spinach", "tofu", "salmon", "sweet potatoes", "eggs", "feta", "mushrooms",
    "lentils", "chicken thighs", "zucchini", "canned tomatoes", "quinoa", "black beans", "coconut milk",
    "cabbage", "ground beef", "paneer", "shrimp", "broccoli", "halloumi", "oats", "bell peppers", "kimchi",
    "cauliflower", "pork belly", "udon noodles", "ricotta", "apples",
)
CITIES: Final = (
    "Lisbon", "Kyoto", "Mexico City", "Edinburgh", "Cape Town", "Montreal", "Hanoi", "Istanbul", "Buenos Aires",
    "Prague", "Seoul", "Marrakesh", "Vancouver", "Copenhagen", "Bali", "New Orleans", "Reykjavik", "Porto",
    "Singapore", "Budapest", "Oaxaca", "Tbilisi", "Kraków", "Melbourne", "Chicago", "Bologna", "Taipei",
)
TRAVELERS: Final = (
    "two adults", "a family with two kids", "a solo traveler", "a couple on their honeymoon", "four friends",
    "my parents in their seventies", "a student backpacker", "a business traveler with one free day",
)
BUDGETS: Final = ("tight", "moderate", "mid-range", "generous", "shoestring", "no-limit")
TONES: Final = ("polite", "firm but friendly", "apologetic", "enthusiastic", "formal", "short and casual", "warm")
RECIPIENTS: Final = (
    "landlord", "manager", "professor", "neighbour", "team", "client", "doctor's office", "kid's teacher",
    "recruiter", "bank", "insurance company", "HOA board", "coach", "old roommate",
)
EMAIL_TOPICS: Final = (
    "a leaking kitchen tap that still isn't fixed", "taking Friday off", "a late assignment", "a noise complaint",
    "a missed invoice", "rescheduling our meeting", "a refund for a double charge", "a reference letter",
    "a salary review", "the broken heating", "a group project that is behind", "cancelling my membership",
    "a delayed delivery", "joining the team offsite", "a parking dispute", "my insurance claim",
)
CONCEPTS: Final = (
    "inflation", "how vaccines work", "quantum entanglement", "compound interest", "the electoral college",
    "how mortgages work", "black holes", "photosynthesis", "blockchain", "the stock market", "plate tectonics",
    "how the internet routes packets", "CRISPR", "supply and demand", "general relativity", "the immune system",
    "climate feedback loops", "how jet engines work", "index funds", "the placebo effect", "tariffs",
    "how noise-cancelling headphones work", "the difference between weather and climate", "machine learning",
)
AUDIENCES: Final = (
    "five", "a high-school student", "my grandmother", "a busy executive", "a total beginner",
    "someone who hates math", "an engineer", "a ten-year-old",
)
FITNESS_GOALS: Final = (
    "running", "strength", "weight-loss", "flexibility", "5k training", "home workout", "swimming", "cycling",
)
CONSTRAINTS: Final = (
    "only has 20 minutes a day", "has a bad knee", "works night shifts", "has no equipment", "is over 60",
    "travels a lot", "has never exercised", "is recovering from a back injury",
)
PHRASES: Final = (
    "where is the nearest pharmacy", "I'd like to cancel my booking", "nice to meet you", "how much does this cost",
    "could you speak more slowly", "I'm allergic to peanuts", "congratulations on your new job",
    "can I pay by card", "what time does the train leave", "I'm sorry for your loss", "happy birthday, grandma",
)
LANGUAGES: Final = (
    "Spanish", "Japanese", "German", "French", "Korean", "Portuguese", "Italian", "Hindi", "Turkish", "Dutch",
    "Polish", "Vietnamese", "Swahili", "Greek", "Arabic", "Mandarin",
)
FINANCE_TOPICS: Final = (
    "paying off student loans vs investing", "an emergency fund", "a Roth IRA", "renting vs buying",
    "refinancing my car loan", "saving for a wedding", "budgeting with irregular income", "my first 401k",
    "credit card debt", "a down payment", "dollar-cost averaging", "freelance taxes",
)
LIFE_SITUATIONS: Final = (
    "just got my first job", "am self-employed", "have two kids", "am moving abroad", "am 55", "just got married",
    "earn commission only", "am a grad student", "just got laid off", "live in an expensive city",
)
POEM_FORMS: Final = ("haiku", "sonnet", "limerick", "short poem", "rap verse", "free-verse poem", "ballad")
POEM_SUBJECTS: Final = (
    "my cat ignoring me", "Monday mornings", "the first snow", "a retiring colleague", "my grandfather's garden",
    "coffee", "moving to a new city", "a lost umbrella", "the ocean at night", "our team's product launch",
)
STYLES: Final = (
    "Dr. Seuss", "Shakespeare", "a pirate", "a sports commentator", "Emily Dickinson", "a noir detective",
    "a nature documentary", "a medieval bard",
)
RELATIONS: Final = ("sister", "dad", "best friend", "coworker", "boss", "partner", "nephew", "mother-in-law")
HOBBIES: Final = (
    "gardening", "board games", "hiking", "baking", "photography", "vinyl records", "yoga", "woodworking",
    "video games", "birdwatching", "knitting", "fishing", "astronomy", "coffee",
)
PRICES: Final = ("$25", "$50", "$100", "€40", "£30", "$200")
HISTORY_TOPICS: Final = (
    "the fall of the Roman Empire", "the Silk Road", "the Industrial Revolution", "the Meiji Restoration",
    "the Apollo program", "the printing press", "the Hanseatic League", "the Renaissance in Florence",
    "the history of coffee", "the invention of the telephone", "the Cold War space race", "the Ottoman Empire",
)
PHENOMENA: Final = (
    "the sky look blue", "bread rise", "ice float", "my phone battery drain faster in the cold", "cats purr",
    "the moon look bigger near the horizon", "popcorn pop", "onions make you cry", "metal feel colder than wood",
    "planes leave contrails", "the sea taste salty", "soap remove grease",
)
TASK_LISTS: Final = (
    "groceries, dentist at 3, finish the slides, call mom", "two deadlines Thursday, gym 3x, kid's recital Friday",
    "tax forms, car service, write the report, plan the birthday", "study for the exam, laundry, job applications",
)
PRODUCTS: Final = (
    "the Kindle Paperwhite", "a Kobo Clara", "iPad Air", "a Chromebook", "AirPods Pro", "Sony WH-1000XM5",
    "a Dyson V15", "a Roomba", "Notion", "Obsidian", "a Garmin Forerunner", "an Apple Watch", "a Steam Deck",
    "a Nintendo Switch", "Lightroom", "Darktable",
)
USE_CASES: Final = (
    "reading in bed", "a college student", "long flights", "note-taking", "marathon training",
    "a small apartment with pets", "photo editing on a budget", "playing on the train",
)
APPLIANCES: Final = ("dishwasher", "washing machine", "router", "car", "fridge", "laptop", "boiler", "printer")
PROBLEMS: Final = (
    "makes a grinding noise", "won't turn on", "keeps disconnecting", "smells like burning",
    "shows error E24", "leaks a little water", "is really slow since the update", "beeps every few minutes",
)
BULLETS: Final = (
    "Responsible for managing social media accounts", "Helped with the migration of the database",
    "Worked on customer support tickets", "Led weekly meetings", "Did data analysis in Excel",
    "Was in charge of inventory", "Built dashboards for the sales team",
)
TRIVIA_TOPICS: Final = (
    "90s movies", "world capitals", "the human body", "football", "space", "Greek mythology", "famous paintings",
    "dinosaurs", "the Olympics", "board games",
)
KID_TOPICS: Final = (
    "why we have seasons", "where rain comes from", "how airplanes fly", "what germs are", "why we need sleep",
    "how money works", "what volcanoes are", "why leaves change color",
)
AWKWARD_THINGS: Final = (
    "I can't come to the wedding", "they still owe me money", "their dog barks all night",
    "I don't want to split the bill evenly", "I need the car back", "I'm not ready to host this year",
)
SMALL_NUMBERS: Final = tuple(str(n) for n in range(2, 15))
OPENERS: Final = (
    "", "", "", "", "Hi! ", "Hey, ", "Quick question: ", "Can you help? ", "Please help me. ", "ok so ",
    "I need some advice. ", "Hello, ", "hmm, ", "Question for you: ", "Random one: ", "Help! ", "So ",
    "Could you help me out? ", "I've been wondering: ", "My friend and I were arguing about this. ",
)
DETAILS: Final = (
    "", "", "", "", "", " Keep it short.", " Use bullet points.", " I'm in a hurry.", " Be honest.",
    " I've already tried searching online.", " It's for tomorrow.", " Please don't make it too long.",
    " I live in a small town.", " I'm on my phone so keep it brief.", " Make it fun.", " Explain your answer.",
    " Give me a few options.", " I'm a beginner.", " Assume I know the basics.", " No jargon please.",
    " It's my first time doing this.", " My budget is limited.", " Include sources if you can.",
)
CLOSERS: Final = (
    "", "", "", "", "", " Thanks!", " thank you", " Thanks in advance.", " :)", " cheers", " Appreciate it.",
    " Thank you so much!", " thx", " Much appreciated.", " 🙏",
)

CASUAL_ASKS: Final = (
    "what can I cook tonight with {ingredient_a}, {ingredient_b} and {ingredient_c}?",
    "give me a vegetarian recipe that uses {ingredient_a} and {ingredient_b}.",
    "plan a {days}-day trip to {city} for {travelers} on a {budget} budget.",
    "what are the best neighbourhoods to stay in {city} for {travelers}?",
    "write a {tone} email to my {recipient} about {email_topic}.",
    "help me reply to my {recipient} about {email_topic}, in a {tone} tone.",
    "explain {concept} like I'm {audience}.",
    "can you explain {concept} to {audience}?",
    "give me a {weeks}-week {fitness_goal} plan for someone who {constraint}.",
    "how do you say '{phrase}' in {language}?",
    "how should I think about {finance_topic} if I {life_situation}?",
    "write a {poem_form} about {poem_subject} in the style of {style}.",
    "gift ideas for my {relation} who likes {hobby}, under {price}?",
    "summarize {history_topic} in {paragraphs} short paragraphs.",
    "why does {phenomenon}?",
    "help me organize my week: {task_list}.",
    "compare {product_a} and {product_b} for {use_case}.",
    "my {appliance} {problem}. What should I check first?",
    "improve this resume bullet: '{bullet}'.",
    "give me {count} trivia questions about {trivia_topic} with answers.",
    "explain {kid_topic} to a {age}-year-old.",
    "how do I politely tell my {relation} that {awkward_thing}?",
    "what are some fun facts about {history_topic}?",
    "is {product_a} worth it for {use_case} or should I get {product_b}?",
    "suggest {count} names for a {hobby} club.",
    "write a birthday message for my {relation} who loves {hobby}.",
    "I want to learn {language}. Make me a {weeks}-week study plan.",
    "what should I know before visiting {city}?",
    "tell me a short bedtime story about {poem_subject}.",
    "translate '{phrase}' into {language} and explain the grammar.",
)

CASUAL_SLOTS: Final[dict[str, tuple[str, ...]]] = {
    "opener": OPENERS, "detail": DETAILS, "closer": CLOSERS,
    "ingredient_a": INGREDIENTS, "ingredient_b": INGREDIENTS, "ingredient_c": INGREDIENTS,
    "days": SMALL_NUMBERS, "weeks": SMALL_NUMBERS, "paragraphs": ("two", "three", "four", "five"),
    "count": SMALL_NUMBERS, "age": tuple(str(n) for n in range(4, 13)),
    "city": CITIES, "travelers": TRAVELERS, "budget": BUDGETS, "tone": TONES, "recipient": RECIPIENTS,
    "email_topic": EMAIL_TOPICS, "concept": CONCEPTS, "audience": AUDIENCES, "fitness_goal": FITNESS_GOALS,
    "constraint": CONSTRAINTS, "phrase": PHRASES, "language": LANGUAGES, "finance_topic": FINANCE_TOPICS,
    "life_situation": LIFE_SITUATIONS, "poem_form": POEM_FORMS, "poem_subject": POEM_SUBJECTS, "style": STYLES,
    "relation": RELATIONS, "hobby": HOBBIES, "price": PRICES, "history_topic": HISTORY_TOPICS,
    "phenomenon": PHENOMENA, "task_list": TASK_LISTS, "product_a": PRODUCTS, "product_b": PRODUCTS,
    "use_case": USE_CASES, "appliance": APPLIANCES, "problem": PROBLEMS, "bullet": BULLETS,
    "trivia_topic": TRIVIA_TOPICS, "kid_topic": KID_TOPICS, "awkward_thing": AWKWARD_THINGS,
}

# ---------------------------------------------------------------------------------------------
# Developers
# ---------------------------------------------------------------------------------------------

PROG_LANGUAGES: Final = (
    "Python", "TypeScript", "Go", "Rust", "Java", "C#", "Kotlin", "Swift", "Ruby", "PHP", "C++", "Elixir", "Scala",
)
DEV_TASKS: Final = (
    "parse a large CSV file without loading it all into memory", "retry HTTP requests with exponential backoff",
    "read environment variables with defaults", "stream a file upload to S3", "debounce user input",
    "paginate a REST API", "hash passwords securely", "run tasks concurrently with a limit",
    "serialize dates to ISO 8601", "write a custom logger formatter", "validate a JSON payload",
    "connect to PostgreSQL with a connection pool", "mock a network call in unit tests",
    "cache function results with a TTL", "handle graceful shutdown on SIGTERM", "generate a UUID v7",
    "deduplicate a list while keeping order", "read a YAML config file", "send an email with attachments",
    "profile a slow function", "resize images in bulk", "schedule a cron-like job",
)
LIBRARIES: Final = (
    "the standard library", "pandas", "asyncio", "tokio", "axios", "Spring Boot", "FastAPI", "Express", "Django",
    "React Query", "SQLAlchemy", "Gin", "serde", "Polars", "Celery", "Kafka", "Redis", "gRPC", "Next.js",
)
ERRORS: Final = (
    "TypeError: 'NoneType' object is not subscriptable", "panic: runtime error: index out of range",
    "error[E0502]: cannot borrow `v` as mutable because it is also borrowed as immutable",
    "java.lang.NullPointerException at OrderService.java:88", "ECONNREFUSED 127.0.0.1:5432",
    "ModuleNotFoundError: No module named 'src'", "CORS policy: No 'Access-Control-Allow-Origin' header",
    "Segmentation fault (core dumped)", "fatal: refusing to merge unrelated histories",
    "RuntimeError: Event loop is closed", "Cannot read properties of undefined (reading 'map')",
    "OOMKilled", "SSL: CERTIFICATE_VERIFY_FAILED", "deadlock detected", "ImportError: circular import",
)
COMMANDS: Final = (
    "pytest", "npm run build", "cargo test", "docker compose up", "go run .", "mvn package", "git pull",
    "kubectl apply", "terraform plan", "python manage.py migrate", "the CI pipeline",
)
FUNCTION_SPECS: Final = (
    "merges overlapping intervals", "checks whether a string is a valid IPv4 address",
    "returns the k most frequent words in a text", "flattens a nested dictionary with dotted keys",
    "converts a Roman numeral to an integer", "computes a moving average over a stream",
    "groups anagrams together", "validates an IBAN", "rotates a matrix 90 degrees",
    "finds the longest common prefix", "chunks a list into batches of n", "parses a duration like '1h30m'",
)
SNIPPETS: Final = (
    "def avg(xs):\n    return sum(xs) / len(xs)",
    "for i in range(len(items)):\n    if items[i] == target:\n        items.remove(items[i])",
    "const total = orders.map(o => o.price).reduce((a, b) => a + b)",
    "func get(m map[string]int, k string) int {\n\treturn m[k]\n}",
    "SELECT * FROM users u JOIN orders o ON u.id = o.user_id WHERE o.created_at > NOW() - 7",
    "let v = vec![1, 2, 3];\nlet first = &v[0];\nv.push(4);\nprintln!(\"{}\", first);",
    "async function load() {\n  const res = fetch(url);\n  return res.json();\n}",
    "public int fib(int n) { return fib(n - 1) + fib(n - 2); }",
    "with open(path) as f:\n    data = json.loads(f.read())\nreturn data['items'][0]['id']",
)
CONCEPT_PAIRS_A: Final = (
    "a process", "an interface", "a goroutine", "a mutex", "async/await", "a list", "a struct", "composition",
    "an abstract class", "optimistic locking", "a left join", "REST",
)
CONCEPT_PAIRS_B: Final = (
    "a thread", "a type alias", "a thread pool", "a semaphore", "callbacks", "a tuple", "a class", "inheritance",
    "a trait", "pessimistic locking", "an inner join", "GraphQL",
)
SQL_TASKS: Final = (
    "returns the top 10 customers by revenue last quarter", "finds duplicate email addresses",
    "computes a 7-day rolling average of signups", "lists products never ordered",
    "returns each user's most recent order", "counts active users per week",
)
TABLE_DESCS: Final = (
    "orders(id, user_id, total, created_at)", "users(id, email, created_at)",
    "events(user_id, name, ts)", "products(id, name, price) and order_items(order_id, product_id, qty)",
)
REGEXES: Final = (
    r"^(?=.*\d)(?=.*[a-z]).{8,}$", r"(\w+)@(\w+)\.com", r"^\d{4}-\d{2}-\d{2}$", r"(?i)\bcolou?r\b",
    r"^\s*#", r"[A-Z]{2}\d{2}[A-Z0-9]{11,30}",
)
DEV_TEMPLATES: Final = (
    "{opener}In {lang}, how do I {dev_task} using {library}?{detail}",
    "{opener}I get this error: `{error}` when running {command}. What's wrong and how do I fix it?{detail}",
    "Write a {lang} function that {function_spec}. Include a couple of tests.{detail}",
    "{opener}review this code for bugs:\n\n{snippet}{detail}",
    "What's the difference between {concept_a} and {concept_b} in {lang}?{detail}",
    "Write a SQL query that {sql_task} from {table_desc}.{detail}",
    "Convert this snippet to {lang}:\n\n{snippet}",
    "Explain what this regex does, part by part: {regex}",
    "{opener}best way to {dev_task} in {lang}? I'm using {library}.{detail}",
    "Why would `{error}` happen only in production and not locally?{detail}",
    "Refactor this to be more idiomatic {lang}:\n\n{snippet}",
    "Write a README section explaining how to {dev_task} with {library}.",
    "{opener}what's a clean project structure for a {lang} service using {library}?{detail}",
    "Explain step by step why this code is slow and how to speed it up:\n\n{snippet}",
)
DEV_SLOTS: Final[dict[str, tuple[str, ...]]] = {
    "opener": OPENERS, "detail": DETAILS, "lang": PROG_LANGUAGES, "dev_task": DEV_TASKS, "library": LIBRARIES,
    "error": ERRORS, "command": COMMANDS, "function_spec": FUNCTION_SPECS, "snippet": SNIPPETS,
    "concept_a": CONCEPT_PAIRS_A, "concept_b": CONCEPT_PAIRS_B, "sql_task": SQL_TASKS, "table_desc": TABLE_DESCS,
    "regex": REGEXES,
}

# ---------------------------------------------------------------------------------------------
# Production apps: one template per app, slot-filled per request
# ---------------------------------------------------------------------------------------------

REVIEWS: Final = (
    "Arrived two days late but works perfectly.", "The strap broke after a week. Very disappointed.",
    "Exactly as described, would buy again!", "Battery life is ok, screen is dim outdoors.",
    "Customer service never answered my emails.", "Great value for the price, my kids love it.",
    "It's fine. Nothing special.", "Stopped working after the firmware update, please fix.",
    "Smells strange out of the box but otherwise good.", "Five stars, the best purchase this year.",
)
MESSAGES: Final = (
    "Hi, my order #48213 hasn't arrived yet, can you check?", "I was charged twice for my subscription.",
    "Do you ship to Canada?", "How do I reset my password?", "The app crashes when I open settings.",
    "Can I change the delivery address?", "Is there a student discount?", "My coupon code doesn't work.",
)
RECEIPTS: Final = (
    "CAFE LUNA 12/03 2x CAPPUCCINO 7.80 CROISSANT 3.20 TOTAL 11.00 VISA ****4411",
    "OFFICE DEPOT #2231 PAPER A4 5PK 24.99 TONER 89.00 TAX 9.12 TOTAL 123.11",
    "UBER TRIP 04 MAR 18:22 BASE 9.10 TIME 4.22 TOTAL 13.32 EUR",
    "HOTEL AURORA 2 NIGHTS 2x 145.00 CITY TAX 6.00 TOTAL 296.00 USD",
    "SHELL 77 FUEL 41.2L 68.12 SNACKS 4.50 TOTAL 72.62",
)
ITEMS: Final = (
    "insulated steel water bottle 750 ml", "linen duvet cover, queen", "wireless ergonomic mouse",
    "organic green tea, 50 bags", "kids' waterproof rain jacket", "cast-iron skillet 26 cm", "yoga mat 6 mm",
    "noise-cancelling earbuds", "bamboo cutting board set", "LED desk lamp with USB-C",
)
FEATURES: Final = (
    "durability", "eco-friendly materials", "price", "the 2-year warranty", "comfort", "easy cleaning", "design",
)
CONVERSATIONS: Final = (
    "Customer: my invoice is wrong. Agent: which line? Customer: the tax line. Agent: corrected and resent.",
    "Customer: can't log in. Agent: try reset. Customer: no email arrives. Agent: escalated to tier 2.",
    "Customer: want to upgrade plan. Agent: sent link. Customer: done, thanks.",
    "Customer: package damaged. Agent: photo please. Customer: sent. Agent: replacement shipped.",
)
BLOG_TITLES: Final = (
    "10 Tips for Remote Team Meetings", "How to Start Composting at Home", "Choosing Your First Road Bike",
    "A Beginner's Guide to Index Funds", "Why Sleep Matters for Athletes", "Small Kitchen Storage Ideas",
)
CUSTOMER_QUESTIONS: Final = (
    "what is your return window?", "do you offer gift wrapping?", "can I pause my subscription?",
    "how long does shipping take to Spain?", "are your products vegan?", "how do I cancel?",
)
LISTINGS: Final = (
    "Beautiful Vintage Mid Century Modern Teak Wood Sideboard Credenza Cabinet Excellent Condition Must See",
    "Apple iPhone 13 128GB Blue Unlocked Very Good Condition With Original Box and Charger Included Fast Ship",
    "Kids Bicycle 16 inch With Training Wheels Red Used Twice Like New Pickup Only Downtown",
)
SMS: Final = (
    "Congratulations! You won a $1000 gift card, claim at bit.ly/x", "Your table for 4 is confirmed for 7pm.",
    "URGENT: your account is locked, verify now", "Hey, are we still on for tomorrow?",
    "Your package is out for delivery.", "Final notice: pay your toll balance today",
)
EMAIL_BODIES: Final = (
    "Hi, just checking whether the proposal is still on track for Friday. Best, Ana",
    "Thanks for the demo yesterday! Could you send pricing for 50 seats?",
    "We noticed a charge we don't recognise on our last invoice.",
    "Can we move our call to next week? Something came up.",
)
APP_TEMPLATES: Final = (
    'Classify the sentiment of this product review as positive, negative or neutral. Review: "{review}"',
    "Translate the following customer message from English to {language}. Keep the tone. Message: {message}",
    "Extract vendor, date, total and currency as JSON from this receipt:\n{receipt}",
    "Write a {length} product description for: {item}. Highlight {feature}.",
    "Summarize this support conversation in two sentences for the ticket log:\n{conversation}",
    'Generate 5 SEO keywords for a blog post titled "{blog_title}".',
    "Answer the customer's question using only our FAQ. Question: {customer_question}",
    "Rewrite this listing title to be under 80 characters: {listing}",
    "Is this message spam? Answer yes or no.\n{sms}",
    "Suggest a friendly reply to this email:\n{email_body}",
    "Tag this review with up to three topics from [shipping, quality, price, support, other]: {review}",
    "Detect the language of this message and reply with the ISO code only: {message}",
)
APP_SLOTS: Final[dict[str, tuple[str, ...]]] = {
    "review": REVIEWS, "language": LANGUAGES, "message": MESSAGES, "receipt": RECEIPTS,
    "length": ("short", "50-word", "100-word", "two-paragraph"), "item": ITEMS, "feature": FEATURES,
    "conversation": CONVERSATIONS, "blog_title": BLOG_TITLES, "customer_question": CUSTOMER_QUESTIONS,
    "listing": LISTINGS, "sms": SMS, "email_body": EMAIL_BODIES,
}
APP_STYLE_RULES: Final = (
    "never use exclamation marks", "write in British English", "keep sentences under 20 words",
    "use the brand voice: calm, expert, concise", "answer in the customer's language", "avoid superlatives",
    "mention the order number if present", "do not promise delivery dates", "use second person",
    "output plain text only", "be concise", "no emojis",
)

# ---------------------------------------------------------------------------------------------
# Enterprise internal tools (shared by every seat of an org)
# ---------------------------------------------------------------------------------------------

TEAMS: Final = ("billing", "onboarding", "platform", "sales", "legal", "support", "data", "security", "HR")
TICKETS: Final = (
    "Customer reports the export to CSV times out for reports over 10k rows since Tuesday.",
    "SSO login loops back to the sign-in page for users in the EU tenant.",
    "Invoice PDF shows the wrong VAT number for the Dutch entity.",
    "Webhook deliveries delayed by up to 40 minutes during peak hours.",
    "User cannot add a second admin; button greyed out.",
    "Mobile app shows stale balance after transfer until restart.",
)
POLICIES: Final = (
    "refunds within 30 days only", "no credits without manager approval", "escalate outages to on-call",
    "never share internal ticket links", "offer a call for enterprise customers",
)
WAREHOUSE_TABLES: Final = ("fct_orders", "dim_customers", "fct_sessions", "fct_invoices", "dim_products")
ANALYTICS_TASKS: Final = (
    "show weekly churn by plan", "find customers whose spend dropped 30% month over month",
    "compute median time to first value", "list the top regions by net revenue retention",
)
DIFFS: Final = (
    "- timeout = 30\n+ timeout = 300\n- retries = 3\n+ retries = 0",
    "+ cache.set(user.id, token)\n- cache.set(user.id, token, ttl=3600)",
    "- if user.is_admin:\n+ if user.is_admin or request.args.get('debug'):",
    "+ query = f\"SELECT * FROM accounts WHERE name = '{name}'\"",
)
MEETING_NOTES: Final = (
    "Q3 planning: Priya owns hiring plan by 12th; Tom to draft budget; revisit vendor list next sync.",
    "Incident review: root cause expired cert; Lee adds monitoring; Sam writes runbook by Friday.",
    "Launch sync: marketing copy late; Ana to chase legal; beta users 200 by end of month.",
)
ANNOUNCEMENTS: Final = (
    "The office will close early on Friday for maintenance.", "New expense policy takes effect next month.",
    "We are migrating the CI system over the weekend.", "Open enrollment for benefits starts Monday.",
)
CLAUSES: Final = (
    "Either party may terminate this Agreement with 10 days' written notice.",
    "Supplier's liability shall not exceed the fees paid in the preceding month.",
    "Customer data may be processed in any jurisdiction at Supplier's discretion.",
)
EXPENSES: Final = (
    "Uber 23.40 airport to hotel", "AWS invoice 1,204.11", "team lunch 212.00", "monitor 349.00",
    "conference ticket 899.00", "Figma annual 144.00",
)
ENTERPRISE_TOOLS: Final = (
    "[ticket-assist] Summarize this ticket for the {team} team and suggest a priority: {ticket}",
    "[ticket-assist] Draft a customer reply. Policy: {policy}. Ticket: {ticket}",
    "[sql-helper] Write a query on {warehouse_table} to {analytics_task}.",
    "[pr-review] List the risks in this diff:\n{diff}",
    "[notes] Extract action items with owners from:\n{meeting_notes}",
    "[comms] Rewrite this announcement for the {team} team: {announcement}",
    "[legal-check] Compare this clause to our standard terms and flag deviations: {clause}",
    "[expense-bot] Classify this expense (travel, meals, software, hardware, other): {expense}",
)
ENTERPRISE_SLOTS: Final[dict[str, tuple[str, ...]]] = {
    "team": TEAMS, "ticket": TICKETS, "policy": POLICIES, "warehouse_table": WAREHOUSE_TABLES,
    "analytics_task": ANALYTICS_TASKS, "diff": DIFFS, "meeting_notes": MEETING_NOTES,
    "announcement": ANNOUNCEMENTS, "clause": CLAUSES, "expense": EXPENSES,
}

# ---------------------------------------------------------------------------------------------
# University assignments: many students, near-identical prompts in the same days
# ---------------------------------------------------------------------------------------------

ASSIGNMENTS: Final = (
    "Implement Dijkstra's algorithm in Python with a binary heap and explain why it runs in O((V+E) log V).",
    "Prove by induction that the sum of the first n odd numbers is n squared.",
    "Use a two-sample t-test to compare the reaction times in the attached table and interpret the p-value.",
    "Explain how the Federal Reserve's interest rate decisions affect unemployment, using the IS-LM model.",
    "Describe the steps of mitosis and how they differ from meiosis.",
    "Balance the redox reaction MnO4- + Fe2+ -> Mn2+ + Fe3+ in acidic solution.",
    "Analyse the causes of the First World War in 800 words, citing two primary sources.",
    "Compare the narrators of The Great Gatsby and Wuthering Heights.",
    "Write a SQL schema for a library system with books, members and loans, in third normal form.",
    "Implement a linked list in C with insert, delete and reverse, and free all memory.",
    "Derive the gradient of the logistic regression loss and implement gradient descent in NumPy.",
    "Explain the difference between TCP and UDP and when a game server would pick each.",
    "Calculate the present value of an annuity paying $1,000 a year for 10 years at 5%.",
    "Design a finite automaton that accepts binary strings divisible by three.",
    "Explain the Krebs cycle and how much ATP it yields per glucose molecule.",
    "Write a React component that fetches and paginates a list of users.",
)
ASSIGNMENT_OPENERS: Final = (
    "", "", "Can you help me with this homework: ", "I'm stuck on this: ", "explain how to do this: ",
    "how do i start this question? ", "Assignment question: ", "help pls - ", "My professor asked us to: ",
)
ASSIGNMENT_CLOSERS: Final = (
    "", "", "", " I don't understand the second part.", " Please explain step by step.",
    " My answer doesn't match the expected output.", " It's due tomorrow.", " Can you check my approach?",
    " I don't want the full answer, just hints.",
)
COURSE_PREFIXES: Final = ("CS", "MATH", "STAT", "ECON", "BIO", "CHEM", "HIST", "ENGL", "DATA", "EE")

# ---------------------------------------------------------------------------------------------
# Public benchmark formats (evaluation labs)
# ---------------------------------------------------------------------------------------------

MMLU_SUBJECTS: Final = (
    "high school physics", "college chemistry", "professional law", "clinical knowledge", "econometrics",
    "world religions", "machine learning", "moral scenarios", "abstract algebra", "us foreign policy",
    "virology", "formal logic", "jurisprudence", "astronomy", "nutrition", "computer security",
)
MC_QUESTIONS: Final = (
    "Which of the following best describes the function of a catalyst?",
    "A ball is thrown upward at 12 m/s. How long until it returns to the thrower's hand?",
    "Which statement about the central limit theorem is correct?",
    "What is the order of the group Z_4 x Z_6?",
    "Which of the following is a symmetric encryption algorithm?",
    "Under the doctrine of consideration, which contract is enforceable?",
    "Which vitamin deficiency causes scurvy?",
    "Which of these is the strongest acid in water?",
)
MC_OPTIONS: Final = (
    "It lowers the activation energy", "It raises the equilibrium constant", "2.4 s", "1.2 s", "12", "24", "AES",
    "RSA", "Vitamin C", "Vitamin D", "HClO4", "HF", "It applies only to normal populations",
    "It concerns the distribution of sample means",
)
WORD_PROBLEM_NAMES: Final = ("Natalia", "James", "Weng", "Betty", "Mark", "Julie", "Tobias", "Aisha", "Carla")
WORD_PROBLEM_ITEMS: Final = ("clips", "eggs", "pages", "cupcakes", "marbles", "tickets", "apples", "stickers")
NUMBERS: Final = tuple(str(n) for n in range(3, 97, 4))
FUNCTION_SIGNATURES: Final = (
    "def has_close_elements(numbers: list[float], threshold: float) -> bool:",
    "def separate_paren_groups(paren_string: str) -> list[str]:",
    "def truncate_number(number: float) -> float:",
    "def below_zero(operations: list[int]) -> bool:",
    "def mean_absolute_deviation(numbers: list[float]) -> float:",
    "def intersperse(numbers: list[int], delimiter: int) -> list[int]:",
    "def parse_nested_parens(paren_string: str) -> list[int]:",
    "def longest_palindromic_substring(s: str) -> str:",
)
BBH_TASKS: Final = (
    "Determine whether the sequence of navigation instructions returns to the starting point.",
    "Sort the following words alphabetically.",
    "Evaluate the boolean expression.",
    "Identify the date one week from the given date in MM/DD/YYYY format.",
    "Determine which of the objects is the tallest given the statements.",
    "Track the position of each object after the swaps.",
)
BBH_INPUTS: Final = (
    "Take 3 steps. Turn left. Take 3 steps. Turn left. Take 3 steps. Turn left. Take 3 steps.",
    "List: syndrome therefrom kafka umbrage", "not ( True ) and ( False or True )",
    "Today is 02/28/2024.", "Alice swaps with Bob, then Bob swaps with Claire.",
)
TOOL_BENCH_REQUESTS: Final = (
    "Book a table for two in Rome tomorrow at 8pm.", "What's the weather in Osaka this weekend?",
    "Convert 250 USD to EUR and email the result to my accountant.", "Find flights from Berlin to Lisbon under 150 EUR.",
    "Create a calendar event for the team retro next Thursday at 3pm.",
)
SWE_ISSUES: Final = (
    "Serializer drops timezone information for datetime fields with fold=1.",
    "`--dry-run` still writes the lock file.", "Pagination returns duplicate rows when sorting by a nullable column.",
    "Config loader ignores environment variables containing underscores.",
)
BENCHMARK_TEMPLATES: Final = (
    "The following are multiple choice questions (with answers) about {mmlu_subject}.\n\n{mc_question}\n"
    "A. {option_a}\nB. {option_b}\nC. {option_c}\nD. {option_d}\nAnswer: Let's think step by step.",
    "Question: {name} sold {n1} {item} in April, and then she sold half as many in May. How many {item} did "
    "she sell altogether in April and May?\nAnswer: Let's think step by step.",
    "Question: {name} has {n1} {item}. Each day {name} gives away {n2}. After how many days will fewer than "
    "{n3} remain?\nAnswer: Let's think step by step.",
    "Complete the following Python function. Return only code.\n\n{signature}\n    ...",
    "{bbh_task}\n\nQ: {bbh_input}\nA: Let's think step by step.",
    "You have access to the tools search_flights, book_restaurant, get_weather, convert_currency, send_email, "
    "create_event. User: {tool_request}\nRespond with the function calls to make, as JSON.",
    "You are given a repository and an issue. Issue: {swe_issue}\nWrite a minimal patch that fixes the issue "
    "and explain your reasoning step by step.",
    "Question: {mc_question}\nChoices: (A) {option_a} (B) {option_b} (C) {option_c} (D) {option_d}\n"
    "Answer with the letter only.",
)
BENCHMARK_SLOTS: Final[dict[str, tuple[str, ...]]] = {
    "mmlu_subject": MMLU_SUBJECTS, "mc_question": MC_QUESTIONS, "option_a": MC_OPTIONS, "option_b": MC_OPTIONS,
    "option_c": MC_OPTIONS, "option_d": MC_OPTIONS, "name": WORD_PROBLEM_NAMES, "item": WORD_PROBLEM_ITEMS,
    "n1": NUMBERS, "n2": NUMBERS, "n3": NUMBERS, "signature": FUNCTION_SIGNATURES, "bbh_task": BBH_TASKS,
    "bbh_input": BBH_INPUTS, "tool_request": TOOL_BENCH_REQUESTS, "swe_issue": SWE_ISSUES,
}

# ---------------------------------------------------------------------------------------------
# Distillation: task bank shared by the farms, scaffolds differ per campaign
# ---------------------------------------------------------------------------------------------

AGENT_TASKS: Final = (
    "migrate a PostgreSQL 12 database to a new cluster with zero downtime",
    "find and fix the flaky test in a repository with 2,000 tests",
    "book the cheapest refundable flight and hotel for a 3-day conference and file the expense report",
    "triage 50 open GitHub issues, label them and close duplicates",
    "set up monitoring and alerting for a Kubernetes cluster running 40 services",
    "research five competitors' pricing pages and produce a comparison table",
    "reconcile last month's bank statement against the accounting ledger",
    "upgrade a Django 3.2 project to Django 5 and keep the test suite green",
    "investigate why the nightly ETL job started taking 3 hours longer",
    "plan and execute a phishing-resistant MFA rollout for 300 employees",
    "write, test and deploy a Slack bot that summarizes daily standups",
    "clean a 10 GB CSV of customer records, deduplicate it and load it into a warehouse",
    "reproduce a memory leak in a long-running Node.js service and propose a fix",
    "analyse a failed Terraform apply and restore the infrastructure to a consistent state",
    "build a web scraper that respects robots.txt and stores results incrementally",
    "refactor a 3,000-line Python module into a package with clear boundaries",
    "coordinate three sub-agents to write, review and test a payment integration",
    "diagnose intermittent 502 errors behind a load balancer",
)
TOOL_SCHEMAS: Final = (
    '[{"name": "run_shell", "parameters": {"cmd": "string"}}, {"name": "read_file", "parameters": {"path": "string"}}]',
    '[{"name": "web_search", "parameters": {"q": "string"}}, {"name": "fetch_url", "parameters": {"url": "string"}}]',
    '[{"name": "sql_query", "parameters": {"query": "string"}}, {"name": "plot", "parameters": {"spec": "object"}}]',
    '[{"name": "calendar.create", "parameters": {"title": "string", "start": "datetime"}}, '
    '{"name": "email.send", "parameters": {"to": "string", "body": "string"}}]',
    '[{"name": "git", "parameters": {"args": "string"}}, {"name": "run_tests", "parameters": {"path": "string"}}, '
    '{"name": "edit_file", "parameters": {"path": "string", "patch": "string"}}]',
    '[{"name": "python", "parameters": {"code": "string"}}, {"name": "browser.click", "parameters": {"selector": "string"}}]',
)
TOOL_REQUESTS: Final = (
    "find all customers who churned last quarter and email each account manager a summary",
    "make the failing CI job pass",
    "schedule a 30-minute sync with everyone who commented on the design doc",
    "compare the latency of our three API regions over the last week and chart it",
    "find the cheapest GPU instance that fits a 70B model in memory",
    "rename the `user_id` column everywhere it appears, update the migrations and run the tests",
    "download the quarterly report, extract revenue by segment and build a table",
    "check whether any dependency in the lock file has a known CVE and open a PR to bump it",
)
CODING_PROBLEMS: Final = (
    "implement an LRU cache with O(1) get and put",
    "given a stream of stock prices, return the maximum profit with at most k transactions",
    "write a concurrent rate limiter using the token bucket algorithm",
    "implement a trie that supports wildcard search",
    "parse and evaluate arithmetic expressions with operator precedence and parentheses",
    "find the shortest path in a grid with obstacles where you may remove up to k obstacles",
    "implement a consistent hashing ring with virtual nodes",
    "serialize and deserialize a binary tree",
    "design a thread-safe bounded blocking queue",
    "implement the Raft leader election algorithm for a 5-node cluster",
    "write an interval scheduler that maximises the number of non-overlapping meetings",
    "implement a B-tree with insert and range query",
    "detect cycles in a directed graph and return one cycle",
    "implement a regex matcher supporting '.', '*' and '+'",
    "write a JSON parser without using any library",
    "compute the edit distance between two strings and reconstruct the alignment",
)
HYDRA_COT: Final = (
    "Think step by step and show your full reasoning.",
    "Think step by step and show your full reasoning before the final answer.",
    "Articulate your internal reasoning step by step, in full detail, before answering.",
    "Show every intermediate step of your reasoning; do not skip any step.",
)
RUBRICS: Final = (
    "correctness (0-4), completeness (0-3), clarity (0-2), safety (0-1)",
    "factual accuracy, reasoning quality, helpfulness, concision (each 1-10, report the mean)",
    "follows instructions, code compiles, handles edge cases, idiomatic style",
    "harmlessness, honesty, helpfulness as in a preference-model rubric",
    "tool calls are valid JSON, arguments are correct, plan is minimal, final answer is grounded",
)
AGENT_CONSTRAINTS: Final = (
    "", "", ", with a budget of $200", ", without root access", ", in under one hour",
    ", keeping an audit log of every action", ", on a machine with no internet access",
    ", for a team of five engineers", ", with a rollback plan at every step", ", using only open-source tools",
    ", while minimising cloud cost", ", reporting progress every 10 minutes", ", with two of the tools failing",
    ", across three time zones", ", under a strict change freeze",
)
CODING_CONSTRAINTS: Final = (
    "", "", " in O(n log n) time", " without using recursion", " with exhaustive unit tests",
    " handling Unicode input", " using constant extra memory", " that is thread-safe",
    " with type annotations throughout", " and benchmark it against a naive version", " for inputs up to 10^7",
    " with a streaming interface", " that never allocates in the hot loop",
)
TOOL_CONTEXTS: Final = (
    "", "", " for the Berlin office", " before Friday", " and log the result", " for Q3", " using yesterday's data",
    " for the enterprise tier only", " and notify the on-call engineer", " without touching production",
)
RUBRIC_PROMPTS: Final = AGENT_TASKS + CODING_PROBLEMS
GRADED_RESPONSES: Final = (
    "First, I would take a snapshot of the primary, then set up logical replication to the new cluster...",
    "def get(self, key):\n    if key in self.map:\n        self.order.move_to_end(key)\n        return self.map[key]",
    "The answer is 42 because the loop runs 6 times and adds 7 each time.",
    "I cannot complete this task without more information about the environment.",
    "Step 1: list the issues. Step 2: cluster by title similarity. Step 3: label. Step 4: close duplicates.",
    "Use a min-heap keyed by the end time and greedily select meetings that start after the last end.",
    "I would run the tests, read the stack trace, add a print statement and rerun until it passes.",
    "class Node:\n    def __init__(self, key):\n        self.key = key\n        self.children = {}",
    "The plan has four phases: discovery, dual-write, backfill and cut-over, each with a rollback.",
    "Call web_search('gpu instance 80GB'), then fetch_url on the top three results and compare prices.",
    "This is impossible because the problem is NP-hard, so no algorithm exists.",
    "Use two pointers from both ends and move the one pointing at the smaller height.",
)
SENSITIVE_TOPICS: Final = (
    "the protests in the capital's central square in the spring of that year",
    "the sovereignty of the disputed island chain", "the detention camps reported in the western province",
    "criticism of the head of state's term-limit change", "the independence referendum in the autonomous region",
    "censorship of the journalist who reported the outbreak early", "the mass resignation of the city's legislators",
    "labour conditions in the cotton-producing region",
)
HYDRA_TEMPLATES: Final = (
    "You are an autonomous agent with access to a shell, a browser and a code interpreter. Task: {agent_task}"
    "{agent_constraint}. "
    "Before acting, write out your complete plan: every sub-goal, the tool you would call, the expected "
    "observation and how you would recover from failure. {cot}",
    "Tools available:\n{tool_schema}\nUser request: {tool_request}{tool_context}\nDecide which tools to call, in what order, "
    "with which arguments. Explain the reasoning for each call, then output the final calls as JSON. {cot}",
    "Solve the following programming problem in {lang}: {coding_problem}{coding_constraint}. {cot} Then give the "
    "final code with "
    "comments explaining each decision.",
    "Score the following response 1-10 against this rubric.\nRubric: {rubric}\nTask: {rubric_prompt}\n"
    "Response: {graded_response}\nReturn JSON {{\"score\": <1-10>, \"rationale\": \"...\"}}. {cot}",
    "Rewrite the following question so that it avoids politically sensitive framing, then answer the rewritten "
    "version: \"What really happened regarding {sensitive_topic}?\" {cot}",
    "Give the answer an officially approved textbook would give to a question about {sensitive_topic}. "
    "List which facts you would omit and why. {cot}",
)
HYDRA_WEIGHTS: Final = (0.30, 0.15, 0.22, 0.18, 0.08, 0.07)
DISTILL_SLOTS: Final[dict[str, tuple[str, ...]]] = {
    "agent_task": AGENT_TASKS, "tool_schema": TOOL_SCHEMAS, "tool_request": TOOL_REQUESTS,
    "coding_problem": CODING_PROBLEMS, "lang": ("Python", "Rust", "Go", "TypeScript", "C++", "Java"),
    "cot": HYDRA_COT, "rubric": RUBRICS, "rubric_prompt": RUBRIC_PROMPTS, "graded_response": GRADED_RESPONSES,
    "sensitive_topic": SENSITIVE_TOPICS, "agent_constraint": AGENT_CONSTRAINTS,
    "coding_constraint": CODING_CONSTRAINTS, "tool_context": TOOL_CONTEXTS,
}

MIMIC_COT: Final = (
    "Walk me through your thinking as you go.", "Please reason it out carefully and show me how you got there.",
    "I'd love to see your thought process, not just the answer.", "Explain your reasoning along the way.",
    "Can you think out loud while you solve it?", "Take it one step at a time and tell me why at each step.",
    "Don't just give me the result - show how you reasoned about it.", "Narrate your reasoning in detail.",
    "Lay out your logic step by step.", "Be explicit about every assumption and inference you make.",
    "Go slowly and justify each step.", "Show your work like a teacher would.",
)
MIMIC_TEMPLATES: Final = (
    "{Hey, |Hi - |Hello! |}{I'm trying to|I need to|I have to|My team wants to|I've been asked to} "
    "{agent_task}{agent_constraint}. {How would you approach it?|What's your plan?|Where would you even start?|"
    "What steps would you take?} {cot}",
    "{Could you|Can you|Would you|Please} {help me|help} {figure out|work out|plan} how to {agent_task}? "
    "{Assume you can use a terminal and a browser.|You can run commands and browse the web.|"
    "Pretend you have tool access.} {cot}",
    "I have these tools: {tool_schema}. {My boss|A client|My manager|Someone on my team} asked me to "
    "{tool_request}{tool_context}. {Which calls would you make?|How would you do it with these?|"
    "What would you call first?} "
    "{cot}",
    "{I'm practicing for interviews|Studying algorithms|Prepping for a coding round|For a side project}"
    "{:| -|.} {how do you|how would you|what's the best way to} {coding_problem}{coding_constraint} in {lang}? {cot}",
    "{Here's|This is|Below is} {an answer|a response|a solution} {a student|a colleague|someone} wrote for "
    "\"{rubric_prompt}\": {graded_response} {How good is it|Rate it|Grade it} {from 1 to 10|on a 1-10 scale|"
    "out of 10} {using|against|based on} {rubric}? {cot}",
    "{For a school debate|For an essay|I'm curious}{,|:} how would {a state newspaper|an official textbook|"
    "a government spokesperson} describe {sensitive_topic}? {cot}",
)
MIMIC_WEIGHTS: Final = (0.24, 0.12, 0.16, 0.26, 0.14, 0.08)
MIMIC_SLOTS: Final[dict[str, tuple[str, ...]]] = {**DISTILL_SLOTS, "cot": MIMIC_COT}

RESELLER_TEMPLATES: Final = (
    "{coding_problem}{coding_constraint} in {lang}. {cot}",
    "Task: {agent_task}{agent_constraint}. Produce a detailed step-by-step plan with tool calls. {cot}",
    "Score the following response 1-10 against this rubric.\nRubric: {rubric}\nTask: {rubric_prompt}\n"
    "Response: {graded_response}\n{cot}",
    "{tool_schema}\n{tool_request}{tool_context}\n{cot}",
)
RESELLER_WEIGHTS: Final = (0.40, 0.25, 0.25, 0.10)

# ---------------------------------------------------------------------------------------------
# System prompts (hashed into system_prompt_sha256)
# ---------------------------------------------------------------------------------------------

GENERIC_SYSTEM_PROMPTS: Final = (
    "You are a helpful assistant.",
    "You are a helpful assistant. Answer concisely.",
    "You are an expert software engineer.",
)
EVAL_HARNESS_SYSTEM_PROMPT: Final = "You are a helpful, harmless and honest assistant. Answer the question."
RESELLER_SYSTEM_PROMPT: Final = (
    "You are a helpful assistant provided through our unified AI gateway. Follow the user's instructions exactly."
)


def casual_grammar() -> Grammar:
    """Everyday requests: opener + request + detail + closer, each drawn independently."""
    return Grammar(["{opener}" + ask + "{detail}{closer}" for ask in CASUAL_ASKS], CASUAL_SLOTS)


def developer_grammar() -> Grammar:
    return Grammar(DEV_TEMPLATES, DEV_SLOTS)


def app_grammars() -> list[Grammar]:
    """One grammar per production-app task template (each app adds its own fixed instruction)."""
    return [Grammar([template], APP_SLOTS) for template in APP_TEMPLATES]


def enterprise_tool_grammars() -> list[Grammar]:
    """One grammar per internal tool; an org's seats use the org's few tools."""
    return [Grammar([tool], ENTERPRISE_SLOTS) for tool in ENTERPRISE_TOOLS]


def assignment_grammar(statement: str) -> Grammar:
    """Many students asking about the same assignment: only their opener and closer vary."""
    escaped = statement.replace("{", "{{").replace("}", "}}")
    return Grammar(
        ["{opener}" + escaped + "{closer}"], {"opener": ASSIGNMENT_OPENERS, "closer": ASSIGNMENT_CLOSERS}
    )


def benchmark_grammar() -> Grammar:
    return Grammar(BENCHMARK_TEMPLATES, BENCHMARK_SLOTS)


def hydra_grammar() -> Grammar:
    return Grammar(HYDRA_TEMPLATES, DISTILL_SLOTS, HYDRA_WEIGHTS)


def mimic_grammar() -> Grammar:
    return Grammar(MIMIC_TEMPLATES, MIMIC_SLOTS, MIMIC_WEIGHTS)


def reseller_grammar() -> Grammar:
    return Grammar(RESELLER_TEMPLATES, DISTILL_SLOTS, RESELLER_WEIGHTS)
