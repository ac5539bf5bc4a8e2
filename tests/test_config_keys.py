"""This wave's newsletter.yaml keys and the built-in `trending` topic, as typed `Config`."""

from __future__ import annotations

from pathlib import Path

import pytest

from newsletter.config import ConfigError, load_config
from newsletter.config.schema import DeliveryModel, SubscribeModel
from newsletter.records import Topic
from tests.conftest import MAIN_YAML, SUBSCRIBERS_YAML, Project

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config").mkdir()
    proj = Project(tmp_path)
    proj.write()
    return proj


def test_new_keys_left_out_take_their_documented_defaults(project: Project) -> None:
    config = load_config(project.config)
    assert config.fetch_private_addresses is False
    assert config.footer is None
    assert config.archive_days == 90
    assert config.public_site is True
    assert config.trusted_proxies == 0
    assert config.subscribe == SubscribeModel(
        enabled=False, allowed_domains=(), max_subscribers=0, confirm_hours=48
    )
    assert config.bounce_address is None
    assert config.delivery == DeliveryModel(max_consecutive_errors=20)


def test_new_keys_are_read_normalised_and_accepted_at_their_limits(project: Project) -> None:
    extra = """\
fetch_private_addresses: true
footer: |
  Paper Digest{trailing}
  PO Box 1, 12345 Example City
archive_days: 3650
public_site: false
trusted_proxies: 10
subscribe:
  enabled: true
  allowed_domains: [Example.ORG, bücher.example, example.org]
  max_subscribers: 0
  confirm_hours: 720
bounce_address: Bounces-47-characters-long-local-part-xxxxxxxxx@Example.org
delivery:
  max_consecutive_errors: 10000
"""
    project.write(MAIN_YAML + extra.format(trailing="   "))
    config = load_config(project.config)
    assert config.fetch_private_addresses is True
    assert config.footer == "Paper Digest\nPO Box 1, 12345 Example City"
    assert (config.archive_days, config.public_site, config.trusted_proxies) == (3650, False, 10)
    assert config.subscribe.enabled is True
    assert config.subscribe.allowed_domains == ("example.org", "xn--bcher-kva.example")
    assert config.subscribe.confirm_hours == 720
    local = "Bounces-47-characters-long-local-part-xxxxxxxxx"
    assert len(local) == 47
    assert config.bounce_address == f"{local}@example.org"
    assert config.delivery.max_consecutive_errors == 10000


def test_an_empty_footer_is_no_footer(project: Project) -> None:
    project.write(MAIN_YAML + 'footer: "   "\n')
    assert load_config(project.config).footer is None


def test_addresses_are_stored_in_the_form_mail_is_sent_to(project: Project) -> None:
    main = MAIN_YAML.replace("<digest@example.org>", "<digest@Bücher.Example>")
    subs = SUBSCRIBERS_YAML.replace("bob@example.org", "Bob@Bücher.example")
    project.write(main, subs)
    config = load_config(project.config)
    assert config.sender == "Test Digest <digest@xn--bcher-kva.example>"
    bob = config.subscriber("bob@bücher.example")
    assert bob is not None
    assert bob.email == "Bob@xn--bcher-kva.example"


def test_the_same_address_in_two_spellings_is_listed_twice(project: Project) -> None:
    subs = SUBSCRIBERS_YAML.replace("bob@example.org", "Alice@EXAMPLE.org")
    project.write(subscribers=subs)
    with pytest.raises(ConfigError, match="listed twice"):
        load_config(project.config)


def test_trending_is_built_in_and_may_be_narrowed(project: Project) -> None:
    subs = SUBSCRIBERS_YAML.replace("topics: [speech]", "topics: [trending, speech]").replace(
        "      - title: Nothing at all\n        query: zyzzyva\n",
        "      - trending: 5\n        query: speech\n"
        "      - title: Hot in vision\n        trending: 100\n",
    )
    subs = subs.replace(
        "subscribers:\n",
        "  hot-ssl:\n    trending: 3\n    query: self-supervised\n"
        "subscribers:\n  - email: dave@example.org\n    topics: [hot-ssl]\n",
    )
    project.write(subscribers=subs)
    config = load_config(project.config)

    bob = config.subscriber("bob@example.org")
    assert bob is not None
    assert bob.topics[0] == Topic(id="trending", title="Trending", trending=10)
    assert bob.topics[1].id == "speech" and bob.topics[1].trending is None

    nobody = config.subscriber("nobody@example.org")
    assert nobody is not None
    own, titled = nobody.topics
    assert (own.title, own.trending, own.query) == ("Trending", 5, "speech")
    assert (titled.title, titled.trending) == ("Hot in vision", 100)
    assert own.id != titled.id

    assert config.topics["hot-ssl"] == Topic(
        id="hot-ssl", title="Trending", query="self-supervised", trending=3
    )
    assert "trending" not in config.topics


def test_a_topic_without_trending_still_needs_a_title_and_a_query(project: Project) -> None:
    subs = SUBSCRIBERS_YAML.replace("    title: Speech synthesis\n", "")
    project.write(subscribers=subs)
    with pytest.raises(ConfigError, match="missing required key 'title'") as caught:
        load_config(project.config)
    assert str(caught.value).startswith("config/subscribers.yaml:5: topics.speech:")


def test_the_sample_config_turns_sign_up_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    config = load_config(ROOT / "config" / "newsletter.yaml")
    assert config.subscribe.enabled is True
    assert config.footer
