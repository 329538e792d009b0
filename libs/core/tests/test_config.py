import io
import json
import logging

import pytest

from taxifare.core.config import ConfigError, load_settings, mask_secrets_in, mask_url
from taxifare.core.logs import setup_logging


def test_defaults_put_everything_under_the_state_dir(tmp_path):
    settings = load_settings({"TAXIFARE_STATE_DIR": str(tmp_path)})
    assert settings.database_url == f"sqlite:///{tmp_path / 'taxifare.db'}"
    assert settings.data_uri == str(tmp_path / "data")
    assert settings.model_store_uri == str(tmp_path / "models")
    assert settings.log_level == "INFO"


def test_password_comes_from_a_file_and_joins_a_url_given_without_one(tmp_path):
    secret = tmp_path / "pw"
    secret.write_text("p@ss:word\n")
    settings = load_settings(
        {
            "DATABASE_URL": "postgresql://app@db:5432/taxifare",
            "DATABASE_PASSWORD_FILE": str(secret),
        }
    )
    assert settings.database_url == "postgresql://app:p%40ss%3Aword@db:5432/taxifare"
    assert "p%40ss" not in repr(settings)


def test_a_password_already_in_the_url_wins():
    settings = load_settings({"DATABASE_URL": "postgresql://app:inurl@db/x", "DATABASE_PASSWORD": "other"})
    assert settings.database_url == "postgresql://app:inurl@db/x"


def test_an_unreadable_secret_file_names_the_variable(tmp_path):
    with pytest.raises(ConfigError, match="DATABASE_PASSWORD_FILE"):
        load_settings({"DATABASE_PASSWORD_FILE": str(tmp_path / "missing")})


def test_a_malformed_database_url_is_named_without_its_password():
    with pytest.raises(ConfigError, match="DATABASE_URL") as error:
        load_settings({"DATABASE_URL": "not a url :secretpw@"})
    assert "secretpw" not in str(error.value)


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("postgresql://app:pw@db:5432/x", "postgresql://app:***@db:5432/x"),
        ("postgresql+psycopg2://u:a%40b@h/x", "postgresql+psycopg2://u:***@h/x"),
        ("postgresql://app@db/x", "postgresql://app@db/x"),
        ("sqlite:////tmp/x.db", "sqlite:////tmp/x.db"),
    ],
)
def test_mask_url(url, masked):
    assert mask_url(url) == masked


def test_logs_are_json_and_never_show_a_password(monkeypatch):
    monkeypatch.setenv("DATABASE_PASSWORD", "hunter2-secret")
    stream = io.StringIO()
    setup_logging("INFO", stream)
    logging.getLogger("t").info(
        "connecting to postgresql://app:pw123@db/x with hunter2-secret", extra={"n": 3}
    )
    entry = json.loads(stream.getvalue())
    assert entry["level"] == "INFO" and entry["n"] == 3
    assert "pw123" not in entry["message"] and "hunter2-secret" not in entry["message"]
    assert mask_secrets_in("token hunter2-secret") == "token ***"
