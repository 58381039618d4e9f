"""MDM_FIELD_ENCRYPTION_KEY at start-up: required, checked against the stored data keys."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from mdm_hub.encryption import EncryptionError, new_kek_text
from mdm_hub.settings import Settings
from tests.conftest import app_client


async def test_the_app_refuses_to_start_without_a_key(database_url: str) -> None:
    settings = Settings(database_url=database_url).model_copy(update={"field_encryption_key": None})
    with pytest.raises(RuntimeError, match="No MDM_FIELD_ENCRYPTION_KEY"):
        async with app_client(settings):
            pass


async def test_another_key_cannot_open_the_stored_data_keys(database_url: str, app: object) -> None:
    # ``app`` started with the suite's key, which made and wrapped the first data key.
    settings = Settings(database_url=database_url, field_encryption_key=SecretStr(new_kek_text()))
    with pytest.raises(EncryptionError, match="is not the key it was wrapped with"):
        async with app_client(settings):
            pass


async def test_a_malformed_key_is_refused(database_url: str) -> None:
    settings = Settings(database_url=database_url, field_encryption_key=SecretStr("short"))
    with pytest.raises(EncryptionError, match="the field encryption key"):
        async with app_client(settings):
            pass
