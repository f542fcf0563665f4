"""Master key rotation re-encrypts notification channels' secrets (a webhook's signing secret,
a Slack URL) with the organizations' keys: after the old key is retired they still decrypt."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, select, update
from sqlmodel import col

from app.db import read_session, write_session
from app.finops.budget_tables import Channel
from app.finops.channels import add_channel, generate_secret
from app.keystore import KeyStore, load_master_key_file
from app.services.access import OPERATOR
from app.services.rotation import rotate_master_key
from app.settings import Settings
from tests.test_rotation import file_settings  # noqa: F401  (the fixture)

SLACK = "https://hooks.slack.com/services/T000/B000/" + "x" * 24


def stored(engine: Engine) -> dict[str, str]:
    with read_session(engine) as session:
        rows = session.execute(select(col(Channel.name), col(Channel.secret_ciphertext)))
        return {name: str(token) for name, token in rows}


def test_channel_secrets_survive_a_rotation(engine: Engine, file_settings: Settings) -> None:  # noqa: F811
    store = KeyStore.from_settings(file_settings)
    secret = generate_secret()
    add_channel(
        engine,
        store,
        actor=OPERATOR,
        name="ops-hook",
        type="webhook",
        url="http://127.0.0.1:9/hook",
        secret=secret,
    )
    add_channel(engine, store, actor=OPERATOR, name="team-slack", type="slack", url=SLACK)
    before = stored(engine)
    report = rotate_master_key(engine=engine, settings=file_settings)
    assert (report.channels, report.failed_channels) == (2, [])
    after = stored(engine)
    assert all(after[name] != before[name] for name in before)
    # Only the new key is left in the file, and it alone reads both secrets.
    path = file_settings.resolved_master_key_file
    assert isinstance(path, Path)
    only_new = KeyStore(load_master_key_file(path))
    assert len(load_master_key_file(path)) == 1
    assert only_new.decrypt(after["ops-hook"]) == secret
    assert only_new.decrypt(after["team-slack"]) == SLACK


def test_an_undecryptable_channel_secret_keeps_the_old_keys(
    engine: Engine,
    file_settings: Settings,  # noqa: F811
) -> None:
    store = KeyStore.from_settings(file_settings)
    add_channel(engine, store, actor=OPERATOR, name="team-slack", type="slack", url=SLACK)
    with write_session(engine) as session:
        session.execute(update(Channel).values(secret_ciphertext="gAAAAAtampered"))
    report = rotate_master_key(engine=engine, settings=file_settings)
    assert report.failed_channels == ["team-slack"]
    path = file_settings.resolved_master_key_file
    assert len(load_master_key_file(path)) == 2, "old keys retired although a secret needs them"
