import random
import unicodedata
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from bot.catalog import Catalog, Resolution
from bot.catalog.settings import CatalogSettings
from bot.config import load_settings
from bot.metrics.base import Endpoint

REPO = Path(__file__).resolve().parents[2]

# A food-delivery platform as its metrics would list it, in no particular order.
FOOD = [
    Endpoint(service=service, route=route, method=method)
    for service, method, route in [
        ("orders", "GET", "/api/orders/history"),
        ("web", "GET", "/"),
        ("payments", "POST", "/api/checkout"),
        ("web", "GET", "/healthz"),
        ("search", "GET", "/api/search"),
        ("search", "GET", "/api/search/suggest"),
        ("menu", "GET", "/api/menu/{restaurant_id}"),
        ("orders", "POST", "/api/orders"),
        ("orders", "GET", "/api/orders/{order_id}"),
        ("orders", "DELETE", "/api/orders/{order_id}"),
        ("payments", "POST", "/api/payments/refund"),
        ("users", "POST", "/api/users/login"),
        ("users", "GET", "/api/users/me"),
        ("delivery", "GET", "/api/delivery/{order_id}/track"),
    ]
]

CHECKOUT = "POST /api/checkout"
HISTORY = "GET /api/orders/history"
ORDER_BY_ID = ["DELETE /api/orders/{order_id}", "GET /api/orders/{order_id}"]
STATUSES = {"exact", "alias", "fuzzy", "service", "ambiguous", "unknown"}


def settings(text: str = "") -> CatalogSettings:
    """Catalog settings as they arrive from the YAML file."""
    return CatalogSettings.model_validate(yaml.safe_load(text) or {})


@pytest.fixture(scope="module")
def food() -> Catalog:
    return Catalog.build(FOOD, settings())


def keys(resolution: Resolution) -> list[str]:
    return [entry.key for entry in resolution.matches]


# --- building ---------------------------------------------------------------------------------


def test_default_exclude_drops_healthz_and_order_is_service_route_method(food: Catalog) -> None:
    assert "GET /healthz" not in [e.key for e in food.entries]
    assert len(food.entries) == len(FOOD) - 1
    order = [(e.service, e.endpoint.route, e.endpoint.method) for e in food.entries]
    assert order == sorted(order)
    shuffled = FOOD[::-1] + FOOD[:3]  # another order, with duplicates
    again = Catalog.build(shuffled, settings())
    assert [e.endpoint for e in again.entries] == [e.endpoint for e in food.entries]


def test_services_and_lookups(food: Catalog) -> None:
    assert food.services == ("delivery", "menu", "orders", "payments", "search", "users", "web")
    assert [e.key for e in food.for_service("Payments")] == [CHECKOUT, "POST /api/payments/refund"]
    assert food.for_service("shipping") == ()
    found = food.get("post  /API/checkout/")
    assert found is not None and found.key == CHECKOUT and found.service == "payments"
    assert food.get("/api/checkout") is None  # a route is not a key when it has a method
    assert food.get("GET /nope") is None


def test_excludes_take_keys_routes_and_globs() -> None:
    catalog = Catalog.build(
        FOOD,
        settings(
            """
            exclude: ["GET /api/orders/{order_id}", "/api/users/*", "/", "*/suggest"]
            """
        ),
    )
    kept = [e.key for e in catalog.entries]
    assert "DELETE /api/orders/{order_id}" in kept
    assert "GET /api/orders/{order_id}" not in kept
    assert not any("/api/users" in key or "suggest" in key for key in kept)
    assert "GET /" not in kept
    assert "GET /healthz" in kept  # the settings replace the default list
    assert "users" not in catalog.services


def test_route_glob_covers_the_route_itself() -> None:
    catalog = Catalog.build(FOOD, settings("endpoints: [{match: /api/orders/*, owner: o}]"))
    owned = [e.key for e in catalog.entries if e.owner == "o"]
    assert owned == ["POST /api/orders", HISTORY, *ORDER_BY_ID]


def test_key_beats_route_beats_glob_field_by_field() -> None:
    catalog = Catalog.build(
        FOOD,
        settings(
            """
            endpoints:
              - match: GET /api/orders/history
                owner: history-team
              - match: /api/orders/*
                owner: orders-team
                channel: "#orders"
              - match: /api/orders/{order_id}
                channel: "#order-details"
            """
        ),
    )
    history = catalog.get(HISTORY)
    assert history is not None
    assert (history.owner, history.channel) == ("history-team", "#orders")
    for key in ORDER_BY_ID:
        by_id = catalog.get(key)
        assert by_id is not None
        assert (by_id.owner, by_id.channel) == ("orders-team", "#order-details")
    create = catalog.get("POST /api/orders")
    assert create is not None and (create.owner, create.channel) == ("orders-team", "#orders")
    checkout = catalog.get(CHECKOUT)
    assert checkout is not None and (checkout.owner, checkout.channel) == (None, None)


def test_a_key_beats_a_route_listed_after_it() -> None:
    catalog = Catalog.build(
        FOOD,
        settings(
            """
            endpoints:
              - {match: POST /api/checkout, owner: by-key}
              - {match: /api/checkout, owner: by-route, channel: "#route"}
            """
        ),
    )
    checkout = catalog.get(CHECKOUT)
    assert checkout is not None and (checkout.owner, checkout.channel) == ("by-key", "#route")


@pytest.mark.parametrize(("first", "second", "winner"), [("a", "b", "b"), ("b", "a", "a")])
def test_among_globs_the_later_one_wins(first: str, second: str, winner: str) -> None:
    patterns = {"a": "/api/orders/*", "b": "/api/*"}
    catalog = Catalog.build(
        FOOD,
        settings(
            f"""
            endpoints:
              - {{match: "{patterns[first]}", owner: {first}}}
              - {{match: "{patterns[second]}", owner: {second}}}
            """
        ),
    )
    create = catalog.get("POST /api/orders")
    checkout = catalog.get(CHECKOUT)
    assert create is not None and create.owner == winner
    assert checkout is not None and checkout.owner == "b"  # only /api/* covers it


SLO_SETTINGS = """
default_slo:
  latency: {quantile: 0.95, threshold: 500ms}
  error_ratio: 0.01
services:
  payments:
    owner: payments-team
    channel: "#payments"
    slo:
      latency: {quantile: 0.99, threshold: 300ms}
      error_ratio: 0.001
  orders:
    slo:
      error_ratio: 0.005
endpoints:
  - match: POST /api/checkout
    slo:
      latency: {quantile: 0.95, threshold: 250ms}
  - match: /api/orders/history
    slo:
      error_ratio: null
"""


def test_slo_inherits_per_field_endpoint_then_service_then_default() -> None:
    catalog = Catalog.build(FOOD, settings(SLO_SETTINGS))

    def slo(key: str) -> tuple[float | None, timedelta | None, float | None]:
        entry = catalog.get(key)
        assert entry is not None
        latency = entry.slo.latency
        return (
            latency.quantile if latency else None,
            latency.threshold if latency else None,
            entry.slo.error_ratio,
        )

    ms = timedelta(milliseconds=1)
    assert slo(CHECKOUT) == (0.95, 250 * ms, 0.001)  # latency: endpoint; errors: service
    assert slo("POST /api/payments/refund") == (0.99, 300 * ms, 0.001)  # the service's
    assert slo("POST /api/orders") == (0.95, 500 * ms, 0.005)  # default latency, service errors
    assert slo(HISTORY) == (0.95, 500 * ms, None)  # an explicit null removes the error target
    assert slo("GET /api/search") == (0.95, 500 * ms, 0.01)  # all default
    refund = catalog.get("POST /api/payments/refund")
    assert refund is not None and (refund.owner, refund.channel) == ("payments-team", "#payments")


def test_overrides_that_match_nothing_are_reported() -> None:
    catalog = Catalog.build(
        FOOD,
        settings(
            """
            endpoints:
              - {match: /api/chekout, owner: x}
              - {match: POST /api/checkout, owner: y}
              - {match: "GET /internal/*", owner: x}
              - {match: /healthz, owner: x}
              - {match: "PUT /api/orders/*", owner: x}
            services:
              payments: {owner: y}
              shipping: {owner: x}
            """
        ),
    )
    assert catalog.unmatched == [
        "/api/chekout",
        "GET /internal/*",
        "/healthz",  # it only matches an excluded endpoint
        "PUT /api/orders/*",
        "services.shipping",
    ]


def test_example_settings_fit_the_food_platform() -> None:
    example = load_settings(REPO / "perfbot.example.yaml").catalog
    catalog = Catalog.build(FOOD, example)
    assert catalog.unmatched == []
    checkout = catalog.get(CHECKOUT)
    assert checkout is not None and checkout.aliases == ("checkout", "pay")
    assert catalog.resolve("pay").status == "alias"


# --- resolving: every way people name an endpoint ----------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "POST /api/checkout",
        "post   /API/Checkout",
        "/api/checkout",
        "/api/checkout/",
        "api/checkout",
        "checkout",
        "  CHECKOUT ",
        "`POST /api/checkout`",
        '"checkout"',
        "'/api/checkout'",
        "“checkout”",
        "checkout?",
        "the checkout endpoint",
        "https://food.example.com/api/checkout?coupon=X",
    ],
)
def test_names_of_checkout(food: Catalog, text: str) -> None:
    resolution = food.resolve(text)
    assert (resolution.status, keys(resolution)) == ("exact", [CHECKOUT])
    assert resolution.single is not None and resolution.single.key == CHECKOUT


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("order history", HISTORY),
        ("orders-history", HISTORY),
        ("History", HISTORY),
        ("/orders/history", HISTORY),
        ("refund", "POST /api/payments/refund"),
        ("payments refund", "POST /api/payments/refund"),
        ("users me", "GET /api/users/me"),
        ("login", "POST /api/users/login"),
        ("search suggest", "GET /api/search/suggest"),
        ("track delivery", "GET /api/delivery/{order_id}/track"),
        ("restaurant menu", "GET /api/menu/{restaurant_id}"),
        ("delete order", "DELETE /api/orders/{order_id}"),
        ("DELETE orders", "DELETE /api/orders/{order_id}"),  # a method narrows a service
        ("GET /api/orders/{order_id}", "GET /api/orders/{order_id}"),
        ("get orders/{order_id}", "GET /api/orders/{order_id}"),
        ("DELETE /api/orders/8812", "DELETE /api/orders/{order_id}"),
        ("/api/menu/pizza-palace", "GET /api/menu/{restaurant_id}"),
        ("/", "GET /"),
        ("GET /", "GET /"),
    ],
)
def test_words_segments_and_concrete_paths(food: Catalog, text: str, key: str) -> None:
    resolution = food.resolve(text)
    assert (resolution.status, keys(resolution)) == ("exact", [key])


def test_a_segment_word_names_the_only_route_that_has_it() -> None:
    # The menu route served by a service with another name: "menu" is only a route word.
    moved = [
        Endpoint(service="restaurants", route=e.route, method=e.method)
        if e.service == "menu"
        else e
        for e in FOOD
    ]
    catalog = Catalog.build(moved, settings())
    resolution = catalog.resolve("menu")
    assert (resolution.status, keys(resolution)) == ("exact", ["GET /api/menu/{restaurant_id}"])


@pytest.mark.parametrize("text", ["payments", "Payments", "the payments service", "payment"])
def test_a_service_name_means_all_its_endpoints(food: Catalog, text: str) -> None:
    resolution = food.resolve(text)
    assert resolution.status == "service" and resolution.service == "payments"
    assert keys(resolution) == [CHECKOUT, "POST /api/payments/refund"]
    assert resolution.message == (
        f"'{text}' is the payments service: 2 endpoints: POST /api/checkout, "
        "POST /api/payments/refund."
    )


@pytest.mark.parametrize("text", ["payments-042", "the payments-042 service",
                                  "payments 042 service", "Payments-042 svc"])
def test_a_numbered_service_is_that_service_not_the_first_of_its_name(text: str) -> None:
    # Services copied under numbered names (payments-000 … payments-059): the words of a
    # name keep its number, or every "the payments-NNN service" read as payments-000.
    numbered = [Endpoint(service=f"{name}-{copy:03d}", route=f"/api/{name}", method="POST")
                for copy in range(60) for name in ("payments", "search")]
    resolution = Catalog.build(numbered, settings()).resolve(text)
    assert (resolution.status, resolution.service) == ("service", "payments-042")


def test_a_service_with_one_route_still_names_the_service(food: Catalog) -> None:
    resolution = food.resolve("menu")
    assert (resolution.status, resolution.service) == ("service", "menu")
    assert keys(resolution) == ["GET /api/menu/{restaurant_id}"]


def test_a_route_with_several_methods_needs_the_method(food: Catalog) -> None:
    for text in ["/api/orders/{order_id}", "orders/{order_id}", "/api/orders/8812"]:
        resolution = food.resolve(text)
        assert resolution.status == "ambiguous", text
        assert keys(resolution) == ORDER_BY_ID
        assert resolution.suggestions == ORDER_BY_ID
        assert resolution.single is None
    assert food.resolve("/api/orders/{order_id}").message == (
        "'/api/orders/{order_id}' matches 2 endpoints: "
        "DELETE /api/orders/{order_id}, GET /api/orders/{order_id}"
    )


def test_a_method_the_route_does_not_have_is_unknown_with_the_right_one(food: Catalog) -> None:
    resolution = food.resolve("PUT /api/checkout")
    assert (resolution.status, resolution.matches, resolution.suggestions) == (
        "unknown",
        [],
        [CHECKOUT],
    )
    assert resolution.message == (
        "No endpoint called 'PUT /api/checkout' — did you mean POST /api/checkout?"
    )


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("chekout", CHECKOUT),
        ("checkuot", CHECKOUT),
        ("check out", CHECKOUT),
        ("ordr history", HISTORY),
        ("order histroy", HISTORY),
        ("orderhistory", HISTORY),
        ("serch sugest", "GET /api/search/suggest"),
    ],
)
def test_near_misses_are_corrected(food: Catalog, text: str, key: str) -> None:
    resolution = food.resolve(text)
    assert (resolution.status, keys(resolution)) == ("fuzzy", [key])
    assert resolution.message == f"No endpoint called '{text}' — did you mean {key}?"


@pytest.mark.parametrize(("text", "key"),
                         [("/api/orders/histry", HISTORY), ("POST /api/chekout", CHECKOUT)])
def test_a_typed_path_with_a_typo_is_a_suggestion_not_an_answer(
    food: Catalog, text: str, key: str
) -> None:
    resolution = food.resolve(text)
    assert (resolution.status, resolution.matches) == ("unknown", [])
    assert resolution.suggestions[0] == key
    assert resolution.message.startswith(f"No endpoint called '{text}' — did you mean {key}")


# A site with a catch-all page route, as Flask and Starlette write it.
PAGES = Catalog.build([*FOOD, Endpoint(service="web", method="GET", route="/<page>")],
                      settings())


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("/robots", "GET /<page>"),  # a concrete page: the placeholder's value is a word
        ("GET /<page>", "GET /<page>"),
        ("/{page}", "GET /<page>"),
        ("GET /api/orders/123", "GET /api/orders/{order_id}"),
        ("get /api/orders/9f3c-77_a", "GET /api/orders/{order_id}"),
        ("/api/orders/history", HISTORY),
    ],
)
def test_a_typed_path_matches_a_route_as_written(text: str, key: str) -> None:
    resolution = PAGES.resolve(text)
    assert resolution.status == "exact"
    assert key in keys(resolution)


@pytest.mark.parametrize(
    ("text", "suggestion"),
    [
        ("/robots.txt", "GET /<page>"),  # a file, not a value of <page>
        ("/sitemap.xml", "GET /<page>"),
        ("GET /api/orders/123.json", "GET /api/orders/{order_id}"),
        ("/api/orders/history%x", "DELETE /api/orders/{order_id}"),  # "/api/orders/history|x"
        ("/api/orders/%history", HISTORY),  # ... and of "/api/orders/(history)"
        ("/api/search.php", "GET /api/search"),
    ],
)
def test_a_path_that_only_matches_once_altered_is_a_did_you_mean(
    text: str, suggestion: str
) -> None:
    resolution = PAGES.resolve(text)
    assert (resolution.status, resolution.matches) == ("unknown", [])
    assert resolution.suggestions[0] == suggestion
    assert resolution.message.startswith(
        f"No endpoint called '{text}' — did you mean {suggestion}")


def test_a_route_with_a_dot_is_matched_as_written() -> None:
    catalog = Catalog.build([*FOOD, Endpoint(service="web", method="GET", route="/robots.txt"),
                             Endpoint(service="web", method="GET", route="/<page>")], settings())
    assert keys(catalog.resolve("/robots.txt")) == ["GET /robots.txt"]
    assert keys(catalog.resolve("/robots")) == ["GET /<page>"]


@pytest.mark.parametrize(("text", "service"), [("serch", "search"), ("delivry", "delivery")])
def test_near_miss_of_a_service(food: Catalog, text: str, service: str) -> None:
    resolution = food.resolve(text)
    assert (resolution.status, resolution.service) == ("fuzzy", service)
    assert keys(resolution) == [e.key for e in food.for_service(service)]
    assert resolution.message == (
        f"No endpoint called '{text}' — did you mean the {service} service?"
    )


@pytest.mark.parametrize("text", ["kubernetes", "banana", "latency", "help", "pay", "trace"])
def test_unrelated_words_are_unknown_not_guessed(food: Catalog, text: str) -> None:
    resolution = food.resolve(text)
    assert (resolution.status, resolution.matches) == ("unknown", [])
    assert resolution.message == f"No endpoint or service called '{text}'."


@pytest.mark.parametrize(
    ("text", "suggestion"),
    [
        ("p95 checkout", CHECKOUT),  # an unknown word next to a known one
        ("latency of checkout", CHECKOUT),
        ("ordar", "orders"),  # too far to guess, close enough to offer
        ('rate(http_requests_total{route="/api/checkout"}[5m])', CHECKOUT),
    ],
)
def test_unknown_text_gets_suggestions(food: Catalog, text: str, suggestion: str) -> None:
    resolution = food.resolve(text)
    assert (resolution.status, resolution.matches) == ("unknown", [])
    assert resolution.suggestions[0] == suggestion
    assert "did you mean" in resolution.message


def test_aliases_from_every_matching_override() -> None:
    catalog = Catalog.build(
        FOOD,
        settings(
            """
            endpoints:
              - {match: POST /api/checkout, aliases: [pay, "Place Order"]}
              - {match: "/api/orders/*", aliases: [orders stuff]}
              - {match: GET /api/orders/history, aliases: [past orders, pay]}
            """
        ),
    )
    checkout = catalog.resolve("place order")
    assert (checkout.status, keys(checkout)) == ("alias", [CHECKOUT])
    assert checkout.message == "'place order' is an alias of POST /api/checkout."
    history = catalog.get(HISTORY)
    assert history is not None and history.aliases == ("past orders", "pay", "orders stuff")
    assert keys(catalog.resolve("Past Orders")) == [HISTORY]
    shared = catalog.resolve("pay")  # two endpoints share the alias: ask which
    assert shared.status == "ambiguous" and sorted(keys(shared)) == sorted([CHECKOUT, HISTORY])
    glob = catalog.resolve("orders stuff")
    assert glob.status == "ambiguous" and len(glob.matches) == 4


def test_a_key_two_services_share_is_labelled_with_the_service() -> None:
    both = [*FOOD, Endpoint(service="web", route="/api/search", method="GET")]
    resolution = Catalog.build(both, settings()).resolve("/api/search")
    assert resolution.status == "ambiguous"
    assert resolution.message == (
        "'/api/search' matches 2 endpoints: GET /api/search (search), GET /api/search (web)"
    )


def test_empty_catalog_knows_nothing() -> None:
    catalog = Catalog.build([], settings("endpoints: [{match: /api/x}]"))
    assert (catalog.entries, catalog.services, catalog.unmatched) == ((), (), ["/api/x"])
    assert catalog.resolve("checkout").status == "unknown"


# --- hostile input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "``",
        "x" * 10_000,
        "checkout " * 2_000,
        "\x00\x1b[31mred\x07",
        "🍕" * 50,
        "'; DROP TABLE endpoints; --",
        'sum by (le) (rate(http_server_request_duration_seconds_bucket{route=~".*"}[5m]))',
        "{{", "[", "*", "(?", "\\", "%s%n", "<!channel>", "\u202eevil", "\ud800",
    ],
)
def test_hostile_input_is_unknown_and_the_message_is_short_and_clean(
    food: Catalog, text: str
) -> None:
    resolution = food.resolve(text)
    assert resolution.status == "unknown" and resolution.matches == []
    assert len(resolution.message) < 200
    assert not any(unicodedata.category(ch) == "Cc" for ch in resolution.message)


def test_empty_text_asks_which_endpoint(food: Catalog) -> None:
    assert food.resolve("  ").message.startswith("Which endpoint?")


def test_random_text_never_raises(food: Catalog) -> None:
    rng = random.Random(20261124)
    alphabet = "abcdehiklmnoprstuy /{}_-.*?[]()'\"`\t\n\x00éß漢🍕0123456789"
    for _ in range(400):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        resolution = food.resolve(text)
        assert resolution.status in STATUSES
        assert resolution.message
        assert len(resolution.suggestions) <= 5
        if resolution.status in {"exact", "alias", "fuzzy"} and not resolution.service:
            assert len(resolution.matches) == 1


# --- a catalog of 200 routes ----------------------------------------------------------------

RESOURCES = [
    "accounts", "invoices", "orders", "carts", "coupons", "couriers", "restaurants", "reviews",
    "ratings", "menus", "payments", "refunds", "shipments", "addresses", "sessions", "tokens",
    "notifications", "reports", "exports", "tickets",
]


def generated() -> list[Endpoint]:
    """10 routes per resource, each resource its own service: 200 endpoints."""
    endpoints = []
    for resource in RESOURCES:
        service, base = f"{resource}-svc", f"/api/v1/{resource}"
        item = f"{base}/{{{resource.removesuffix('s')}_id}}"
        routes = [("GET", base), ("POST", base), ("GET", item), ("DELETE", item)]
        routes += [("GET", f"{item}/{sub}") for sub in ("items", "history", "status", "events")]
        routes += [("GET", f"{base}/search"), ("PUT", f"{base}/bulk")]
        endpoints += [Endpoint(service=service, route=r, method=m) for m, r in routes]
    return endpoints


@pytest.fixture(scope="module")
def big() -> Catalog:
    return Catalog.build(generated(), settings())


def test_every_key_and_route_of_a_big_catalog_resolves(big: Catalog) -> None:
    assert len(big.entries) == 200 and len(big.services) == 20
    methods: dict[str, list[str]] = {}
    for entry in big.entries:
        methods.setdefault(entry.endpoint.route, []).append(entry.key)
        resolution = big.resolve(entry.key)
        assert (resolution.status, keys(resolution)) == ("exact", [entry.key])
    for route, route_keys in methods.items():
        tail = route.removeprefix("/api/v1/")
        # The bare tail of a base route ("accounts") names its service instead.
        forms = [route, route.removeprefix("/"), "v1/" + tail, *([tail] if "/" in tail else [])]
        for text in forms:
            resolution = big.resolve(text)
            expected = "exact" if len(route_keys) == 1 else "ambiguous"
            assert resolution.status == expected, text
            assert sorted(keys(resolution)) == sorted(route_keys)


def test_big_catalog_words_services_and_typos(big: Catalog) -> None:
    for resource in RESOURCES:
        service = big.resolve(f"{resource} service")
        assert (service.status, service.service) == ("service", f"{resource}-svc")
        assert len(service.matches) == 10
        search = f"GET /api/v1/{resource}/search"
        assert keys(big.resolve(f"{resource} search")) == [search]
        typo = resource[:2] + resource[3:]  # one letter dropped: "acounts", "ivoices", ...
        resolution = big.resolve(f"{typo} search")
        assert (resolution.status, keys(resolution)) == ("fuzzy", [search]), typo
    history = big.resolve("refund history")
    assert keys(history) == ["GET /api/v1/refunds/{refund_id}/history"]
    assert big.resolve("invoice 77 history").status == "exact"
    status = big.resolve("status")  # in 20 routes: ambiguous, at most 5 suggestions
    assert status.status == "ambiguous" and len(status.matches) == 20
    assert len(status.suggestions) == 5 and status.message.endswith("and 15 more")
    assert big.resolve("kubernetes pods").status == "unknown"
