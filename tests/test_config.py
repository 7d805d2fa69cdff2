"""Config loading: ${ENV}, optional channels, unknown keys, durations, references, secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import REPO
from watcher.config import SlackChannel, find_config, load_config
from watcher.errors import ConfigError

BASE = """
[[feeds]]
url = "https://example.org/feed"
name = "Example"
tags = ["defense"]

[[profiles]]
name = "S-400"
query = "S-400"
"""


def load(tmp_path: Path, text: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    path = tmp_path / "watcher.toml"
    path.write_text(text, encoding="utf-8")
    return load_config(path, env or {})


def problems(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as err:
        load(tmp_path, text, env)
    return err.value.problems


def test_default_config_loads_with_no_environment_and_switches_optional_channels_off() -> None:
    config = load_config(REPO / "config" / "watcher.toml", {})
    assert list(config.channels) == ["console"]
    assert {p.name for p in config.profiles} == {"S-400", "TF-X engine", "Turkey submarines"}
    assert len(config.feeds) >= 10
    assert any("SLACK_BOT_TOKEN" in w for w in config.warnings)


@pytest.mark.parametrize("name", ["ops", "desk's", 'say "hi"'])
def test_a_channel_switched_off_may_still_be_named_by_profiles_and_health(tmp_path: Path,
                                                                          name: str) -> None:
    """The channels switched off travel as names, not as warning text read back: a name
    with quotes in it is still known (and one never defined is still an error)."""
    key = name.replace("\\", "\\\\").replace('"', '\\"')
    config = load(tmp_path, f'''
[watcher]
health = ["{key}"]

[[feeds]]
url = "https://example.org/feed"

[[profiles]]
name = "S-400"
query = "S-400"
channels = ["{key}"]

[channels."{key}"]
type = "slack"
optional = true
channel = "#ops"
token = "${{OPS_TOKEN}}"
''')
    assert config.channels == {}
    assert config.warnings == (f"channel {name!r} is off: environment variable OPS_TOKEN not set",)
    lines = problems(tmp_path, f'[watcher]\nhealth = ["{key}", "ghost"]\n' + BASE)
    assert lines == [f"{tmp_path / 'watcher.toml'}: watcher.health: unknown channel {name!r}",
                     f"{tmp_path / 'watcher.toml'}: watcher.health: unknown channel 'ghost'"]


def test_default_config_switches_slack_and_email_on_from_the_environment() -> None:
    env = {"SLACK_BOT_TOKEN": "xoxb-1", "SMTP_HOST": "smtp.example.org",
           "WATCHER_EMAIL_TO": "desk@example.org", "SMTP_PORT": "2525"}
    config = load_config(REPO / "config" / "watcher.toml", env)
    assert set(config.channels) == {"console", "slack", "email"}
    email = config.channels["email"]
    assert email.smtp_port == 2525 and email.to == ("desk@example.org",)  # type: ignore[union-attr]


def test_env_substitution_with_fallback(tmp_path: Path) -> None:
    config = load(tmp_path, BASE + """
[channels.s]
type = "slack"
channel = "${CHAN:-#fallback}"
token = "${TOKEN}"
""", {"TOKEN": "xoxb-secret"})
    slack = config.channels["s"]
    assert isinstance(slack, SlackChannel)
    assert slack.channel == "#fallback"
    assert slack.token is not None and slack.token.get_secret_value() == "xoxb-secret"


def test_missing_variable_names_it_and_the_channel(tmp_path: Path) -> None:
    lines = problems(tmp_path, BASE + '[channels.s]\ntype = "slack"\nchannel = "#a"\n'
                     'token = "${NOPE_TOKEN}"\n')
    assert len(lines) == 1
    assert "channels.s" in lines[0] and "NOPE_TOKEN" in lines[0] and "watcher.toml" in lines[0]


@pytest.mark.parametrize(("snippet", "expected"), [
    ('[watcher]\ninterval = "10 minutes"\n', "watcher.interval"),
    ('[watcher]\nintervall = "10m"\n', "watcher.intervall: unknown key"),
    ('[watcher]\ntimezone = "Mars/Olympus"\n', "unknown time zone"),
    ('[watcher]\nflood_threshold = 0\n', "watcher.flood_threshold"),
    ('[[feeds]]\nurl = "file:///etc/passwd"\n', "feeds[1].url"),
    ('[[profiles]]\nname = "x"\nquery = "a"\nchannels = ["ghost"]\n', "unknown channel 'ghost'"),
    ('[[profiles]]\nname = "x"\nquery = "a"\nfeeds = ["naval"]\n', "'naval' is no feed name"),
    ('[[profiles]]\nname = "S-400"\nquery = "a"\n', "duplicate profile name"),
    ('[watcher]\narticle = "sometimes"\n', "watcher.article: Input should be 'auto', 'always'"),
    ('[watcher]\narticle = true\n', "watcher.article"),
    ('[[feeds]]\nurl = "https://x.org/rss"\narticle = "Always"\n', "feeds[1].article"),
    ('[channels.c]\ntype = "pigeon"\n', "channels.c"),
    ('[channels.c]\ntype = "console"\nmode = "digest"\n', "needs digest"),
    ('[channels.c]\ntype = "console"\nquiet = "22-07"\n', "channels.c.quiet"),
    ('[channels.s]\ntype = "slack"\n', "needs token or webhook_url"),
    ('[channels.e]\ntype = "email"\nto = ["x"]\nfrom = "a@b"\nsmtp_host = "h"\n',
     "not an email address"),
])
def test_each_problem_names_the_key(tmp_path: Path, snippet: str, expected: str) -> None:
    lines = problems(tmp_path, BASE + snippet)
    assert any(expected in line for line in lines), lines
    assert all(line.startswith(str(tmp_path / "watcher.toml")) for line in lines)


def test_all_problems_are_reported_at_once(tmp_path: Path) -> None:
    lines = problems(tmp_path, BASE + '[watcher]\ninterval = "x"\nbackfill = "y"\nfoo = 1\n')
    assert len(lines) == 3


def test_invalid_toml_is_one_line(tmp_path: Path) -> None:
    [line] = problems(tmp_path, "[watcher\n")
    assert "not valid TOML" in line


def test_secrets_never_appear_in_errors(tmp_path: Path) -> None:
    lines = problems(tmp_path, BASE + '[channels.s]\ntype = "slack"\ntoken = "xoxb-very-secret"\n'
                     'colour = "blue"\n')
    assert not any("xoxb-very-secret" in line for line in lines)
    assert any("token" not in line or "secret" not in line for line in lines)


def test_state_path_is_relative_to_the_config(tmp_path: Path) -> None:
    config = load(tmp_path, BASE)
    assert config.state == str(tmp_path / "watcher.db")


def test_short_intervals_are_accepted(tmp_path: Path) -> None:
    config = load(tmp_path, BASE + '[watcher]\ninterval = "1s"\n')
    assert config.settings.interval_seconds == 1.0


def test_config_path_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("WATCHER_CONFIG", raising=False)
    assert find_config("x.toml") == Path("x.toml")
    monkeypatch.setenv("WATCHER_CONFIG", "/srv/w.toml")
    assert find_config(None) == Path("/srv/w.toml")
    monkeypatch.delenv("WATCHER_CONFIG")
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "watcher.toml").write_text("")
    assert find_config(None) == Path("config/watcher.toml")


@pytest.mark.parametrize(("default", "feed", "mode"), [
    (None, None, "auto"),
    (None, "never", "never"),
    ('"never"', None, "never"),
    ('"never"', "always", "always"),
    ('"always"', "auto", "auto"),
])
def test_article_mode_per_feed_and_default(tmp_path: Path, default: str | None,
                                           feed: str | None, mode: str) -> None:
    text = (f"[watcher]\narticle = {default}\n" if default else "") + BASE.replace(
        'tags = ["defense"]', 'tags = ["defense"]' + (f'\narticle = "{feed}"' if feed else ""))
    config = load(tmp_path, text)
    assert config.article_mode(config.feeds[0]) == mode
