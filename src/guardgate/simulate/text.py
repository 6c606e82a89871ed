"""Ordinary users' prompts and the assistant's replies, from small built-in vocabularies.

Templates are filled slot by slot (`{city}`, `{lang}`, ...) and wrapped in varied openers and
closers, so that two legitimate users practically never send the same text by accident.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

VOCAB: dict[str, tuple[str, ...]] = {
    "city": (
        "Lisbon",
        "Osaka",
        "Denver",
        "Krakow",
        "Nairobi",
        "Toronto",
        "Hanoi",
        "Seville",
        "Melbourne",
        "Austin",
        "Bergen",
        "Cusco",
        "Tbilisi",
        "Porto",
        "Montreal",
        "Bruges",
        "Kyoto",
        "Valencia",
        "Edinburgh",
        "Chiang Mai",
        "Oaxaca",
        "Ljubljana",
        "Sapporo",
    ),
    "food": (
        "lentil soup",
        "sourdough",
        "chicken curry",
        "ramen",
        "banana bread",
        "paella",
        "tofu stir fry",
        "lasagna",
        "shakshuka",
        "falafel",
        "risotto",
        "pho",
        "pancakes",
        "beef stew",
        "dal",
        "gnocchi",
        "tacos al pastor",
        "miso salmon",
        "focaccia",
    ),
    "lang": ("Python", "TypeScript", "Go", "Rust", "Java", "C#", "Kotlin", "Ruby", "C++", "SQL"),
    "lib": (
        "pandas",
        "FastAPI",
        "React",
        "Django",
        "SQLAlchemy",
        "numpy",
        "Express",
        "Spring Boot",
        "tokio",
        "pytest",
        "Next.js",
        "Flask",
        "polars",
        "asyncio",
        "Tailwind",
        "Prisma",
        "gRPC",
        "Kafka",
        "Terraform",
        "Docker Compose",
        "GitHub Actions",
        "Redis",
        "Celery",
    ),
    "task": (
        "parse a CSV with quoted commas",
        "retry an HTTP call with backoff",
        "deduplicate records by email",
        "stream a large file line by line",
        "cache results for five minutes",
        "paginate an API",
        "validate a JSON payload",
        "merge two sorted lists",
        "rate limit a worker",
        "debounce a search box",
        "convert timezones correctly",
        "hash passwords",
        "upload a file to S3",
        "schedule a nightly job",
        "read environment variables safely",
        "write a CLI with flags",
        "find the slowest query",
        "mock a database in tests",
        "group rows by month",
        "handle a websocket reconnect",
        "resize images in bulk",
        "diff two JSON documents",
    ),
    "error": (
        "KeyError",
        "a segfault",
        "TypeError: 'NoneType' object is not subscriptable",
        "a deadlock",
        "CORS errors",
        "a 502 from nginx",
        "an off-by-one",
        "a memory leak",
        "ModuleNotFoundError",
        "a race condition",
        "connection reset by peer",
        "an infinite re-render",
        "a flaky test",
        "UnicodeDecodeError",
        "a timeout",
    ),
    "subject": (
        "photosynthesis",
        "the French Revolution",
        "compound interest",
        "black holes",
        "supply and demand",
        "the immune system",
        "plate tectonics",
        "Bayes' theorem",
        "the Cold War",
        "CRISPR",
        "inflation",
        "the stock market",
        "vaccines",
        "entropy",
        "the Roman Republic",
        "neural networks",
        "climate feedback loops",
        "the Silk Road",
    ),
    "doc": (
        "cover letter",
        "resignation letter",
        "wedding toast",
        "LinkedIn summary",
        "product description",
        "birthday message",
        "apology email",
        "grant abstract",
        "team update",
        "landlord complaint",
        "thank-you note",
        "conference bio",
    ),
    "role": (
        "data analyst",
        "nurse",
        "product manager",
        "teacher",
        "barista",
        "UX designer",
        "backend engineer",
        "accountant",
        "paralegal",
        "marketing lead",
        "electrician",
    ),
    "tone": ("friendly", "formal", "concise", "warm", "confident", "playful", "neutral"),
    "thing": (
        "my bike",
        "a sourdough starter",
        "a fiddle leaf fig",
        "my laptop battery",
        "a leaking tap",
        "my cat's diet",
        "a Raspberry Pi",
        "an old sofa",
        "my running shoes",
        "a 3D printer",
        "a home router",
        "a cast iron pan",
        "my sleep schedule",
    ),
    "hobby": (
        "chess",
        "bouldering",
        "watercolour",
        "guitar",
        "marathon training",
        "birdwatching",
        "film photography",
        "home brewing",
        "knitting",
        "Spanish",
        "piano",
        "gardening",
    ),
    "person": (
        "my manager",
        "my sister",
        "a client",
        "my landlord",
        "a colleague",
        "my teenager",
        "my neighbour",
        "a recruiter",
        "my professor",
        "my partner",
    ),
    "num": tuple(str(n) for n in (3, 5, 7, 10, 12, 15, 20, 25, 30, 40, 50, 100, 250, 1000)),
    "month": ("January", "March", "May", "June", "August", "September", "October", "December"),
}

_TEMPLATES: dict[str, tuple[str, ...]] = {
    "general": (
        "What can I cook with {food} leftovers for {num} people?",
        "Plan a {num}-day trip to {city} on a budget.",
        "How do I fix {thing}?",
        "Is it worth visiting {city} in {month}?",
        "Give me a beginner plan to get better at {hobby}.",
        "How do I tell {person} that I need more time on something?",
        "Explain {subject} like I'm twelve.",
        "What are the pros and cons of moving to {city}?",
        "Suggest a recipe that combines {food} and something seasonal from {month}.",
        "Why does {thing} keep failing after a few weeks?",
        "Recommend some books to learn about {subject}.",
        "How long should I practise {hobby} each week to see progress in {month}?",
        "Help me write a packing list for {city}.",
        "What's a good gift for {person} who likes {hobby}?",
    ),
    "writing": (
        "Write a {tone} {doc} for a {role}.",
        "Rewrite this to sound more {tone}: I wanted to follow up on {subject}.",
        "Draft a {doc} that mentions {hobby} and {city}.",
        "Make this {doc} shorter and more {tone}.",
        "Proofread my {doc}: I have been a {role} for {num} years and I love {hobby}.",
        "Write a short poem about {food} in {city}.",
        "Give me {num} title ideas for a blog post about {subject}.",
    ),
    "coding": (
        "How do I {task} in {lang}?",
        "In {lang} with {lib}, what's the idiomatic way to {task}?",
        "I'm getting {error} when I {task} with {lib}. Any idea why?",
        "Write a {lang} function to {task}.",
        "Review this approach: I use {lib} to {task} but it's slow for {num}k rows.",
        "What's the difference between {lib} and plain {lang} for how to {task}?",
        "Explain {error} in {lang} and how to debug it.",
        "Convert this {lang} snippet that does '{task}' to {lang2}.",
        "Write unit tests in {lang} for code that needs to {task}.",
    ),
    "work": (
        "Summarise the key risks when we {task}, for a {role}.",
        "Draft an agenda for a {num}-minute meeting about {subject}.",
        "How should a {role} prioritise {num} tasks this week?",
        "Explain {subject} to a {role} in three bullet points.",
        "Make a checklist for onboarding a new {role}.",
        "What metrics should a {role} track when we {task}?",
        "We need to {task}. Compare two options: build it in {lang} or buy a tool.",
    ),
    "study": (
        "Explain {subject}.",
        "What are the main causes and effects of {subject}?",
        "Quiz me on {subject} with {num} questions.",
        "Summarise {subject} in {num} sentences.",
        "How is {subject} related to {subject2}?",
        "What would a {role} need to know about {subject}?",
    ),
}

_OPENERS = (
    "", "", "", "", "hey, ", "Quick question: ", "ok so ", "Hi! ", "Can you help? ",
    "I have a question. ", "Please help: ", "hmm, ", "So, ", "Not sure if this makes sense but ",
)  # fmt: skip
_CLOSERS = (
    "", "", "", "", " Thanks!", " Keep it short.", " Use bullet points.", " thx",
    " Explain briefly.", " Please be specific.", " (no fluff please)", " Give an example.",
    " I'm a beginner.", " Answer in under 200 words.",
)  # fmt: skip
_CONTEXT = (
    "",
    "",
    "",
    "For context, I'm a {role} in {city}. ",
    "I've been trying for {num} minutes. ",
    "This is for {person}. ",
    "Background: I use {lang} at work. ",
    "I asked {person} and they didn't know. ",
)

_FOLLOWUPS = (
    "Can you make it shorter?",
    "Why?",
    "What about {city}?",
    "ok and what if I only have {num} minutes?",
    "Can you give an example?",
    "That didn't work, I still get {error}.",
    "Thanks. Now do the same for {lang}.",
    "Can you explain the second point more?",
    "make it more {tone}",
    "What would you do instead?",
    "Is there a simpler way?",
    "Great, can you turn that into a table?",
    "hmm are you sure?",
    "and for {person}?",
)

_STEP_BY_STEP = (
    " Explain step by step.",
    " Walk me through it step by step.",
    " Please show your reasoning.",
    " Can you explain your reasoning step by step?",
    " Think it through step by step.",
)

_REPLY_PARTS = (
    "Here's a practical way to approach it.",
    "Short answer: it depends on {subject}, but usually yes.",
    "There are a few common causes.",
    "Good question.",
    "Sure — here is a draft.",
    "The key idea is simple.",
    "Let's break it down.",
    "Here are some options.",
)
_REPLY_BODY = (
    "First, check {thing}.",
    "Start with {num} minutes a day.",
    "In {lang}, the usual tool for this is {lib}.",
    "Most people in {city} would suggest the same.",
    "Keep it {tone} and specific.",
    "If you see {error}, it usually means the input is not what you expect.",
    "A {role} would typically focus on the first two items.",
    "Try {food} as a base.",
)


class _Slots(dict[str, str]):
    """Fills each template slot on first use; `{x2}` draws a second, different `x`."""

    def __init__(self, rng: random.Random) -> None:
        super().__init__()
        self._rng = rng

    def __missing__(self, key: str) -> str:
        base = key.rstrip("0123456789")
        value = self._rng.choice(VOCAB[base])
        if base != key:
            first = self.get(base)
            while value == first and len(VOCAB[base]) > 1:
                value = self._rng.choice(VOCAB[base])
        self[key] = value
        return value


def fill(rng: random.Random, template: str) -> str:
    """`template` with every `{slot}` filled from the vocabularies."""
    return template.format_map(_Slots(rng))


FLAVOURS = tuple(_TEMPLATES)


def question(
    rng: random.Random,
    flavours: Sequence[str] = FLAVOURS,
    *,
    step_by_step: float = 0.0,
) -> str:
    """An ordinary user's message; `step_by_step` is the chance it asks for the reasoning."""
    flavour = rng.choice(flavours)
    slots = _Slots(rng)
    parts = [
        rng.choice(_OPENERS),
        rng.choice(_CONTEXT).format_map(slots),
        rng.choice(_TEMPLATES[flavour]).format_map(slots),
        rng.choice(_CLOSERS),
    ]
    if rng.random() < step_by_step:
        parts.append(rng.choice(_STEP_BY_STEP))
    text = "".join(parts).strip()
    if rng.random() < 0.15:
        text = text.lower()
    return text[0].upper() + text[1:] if rng.random() < 0.8 else text


def followup(rng: random.Random) -> str:
    """A follow-up turn in a chat."""
    return fill(rng, rng.choice(_FOLLOWUPS))


def step_by_step_phrase(rng: random.Random) -> str:
    """One of the ordinary ways people ask for a worked explanation."""
    return rng.choice(_STEP_BY_STEP).strip()


def reply(rng: random.Random, sentences: int = 3) -> str:
    """A short synthetic assistant answer, for the history of multi-turn requests."""
    slots = _Slots(rng)
    body = [rng.choice(_REPLY_PARTS).format_map(slots)]
    body += [rng.choice(_REPLY_BODY).format_map(slots) for _ in range(max(1, sentences - 1))]
    return " ".join(body)
