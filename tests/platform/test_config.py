"""Settings helpers that several layers share."""

from __future__ import annotations

from pathlib import Path

from relance.api.dashboard.login import generated_key_file
from relance.dev import with_dev_api_key
from relance.platform.config import Config


def test_the_dev_api_key_file_is_under_the_state_folder(tmp_path: Path) -> None:
    assert Config(_env_file=None, state_dir=tmp_path).dev_api_key_file == tmp_path / "api-key"


class KeyElsewhere(Config):
    @property
    def dev_api_key_file(self) -> Path:
        return self.state_dir / "elsewhere-key"


def test_relance_dev_writes_the_key_where_the_login_page_looks(tmp_path: Path) -> None:
    # One name, in one place: move it, and both the writer and the reader follow.
    config = with_dev_api_key(KeyElsewhere(_env_file=None, state_dir=tmp_path, api_key=None))
    assert config.api_key is not None
    assert (tmp_path / "elsewhere-key").read_text().strip() == config.api_key.get_secret_value()
    assert not (tmp_path / "api-key").exists()
    assert generated_key_file(config) == (tmp_path / "elsewhere-key").resolve()
