"""Where the client's base URL, API key and account come from.

Each setting is resolved on its own, first match wins:

1. the command-line flag (``--base-url``, ``--api-key``, ``--account``);
2. ``MODELYARD_BASE_URL`` / ``MODELYARD_API_KEY`` / ``MODELYARD_ACCOUNT``;
3. ``FIREWORKS_BASE_URL`` / ``FIREWORKS_API_KEY`` / ``FIREWORKS_ACCOUNT_ID`` (what the Fireworks SDK reads);
4. the selected profile of the profile file (``--profile``, else ``$MODELYARD_PROFILE``, else ``default``);
5. for the base URL only: ``http://127.0.0.1:8765``.

The profile file is ``$MODELYARD_CONFIG`` or ``<user config dir>/modelyard/profiles.toml``: one TOML table
per profile with ``base_url``, ``api_key`` and ``account``. ``modelyard login`` writes it with mode 0600.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import platformdirs
import tomli_w

DEFAULT_BASE_URL = "http://127.0.0.1:8765"
DEFAULT_PROFILE = "default"
CONFIG_ENV = "MODELYARD_CONFIG"
PROFILE_ENV = "MODELYARD_PROFILE"

#: setting -> (flag, environment variables in order, profile keys)
SETTINGS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "base_url": ("--base-url", ("MODELYARD_BASE_URL", "FIREWORKS_BASE_URL"), ("base_url",)),
    "api_key": ("--api-key", ("MODELYARD_API_KEY", "FIREWORKS_API_KEY"), ("api_key",)),
    "account": ("--account", ("MODELYARD_ACCOUNT", "FIREWORKS_ACCOUNT_ID"), ("account", "account_id")),
}


class ConfigError(Exception):
    """A setting is missing or invalid (a usage problem: the CLI exits with status 2)."""


@dataclass(frozen=True)
class Setting:
    value: str | None
    source: str  # "--api-key", "$MODELYARD_API_KEY", "profile 'default' (path)", "built-in default", "unset"


@dataclass(frozen=True)
class Settings:
    base_url: Setting
    api_key: Setting
    account: Setting
    profile: str
    config_path: Path

    def require_api_key(self) -> str:
        if not self.api_key.value:
            raise ConfigError(
                "no API key: pass --api-key, set MODELYARD_API_KEY (or FIREWORKS_API_KEY), "
                f"or run 'modelyard login'{self._profile_hint()}"
            )
        return self.api_key.value

    def require_account(self) -> str:
        if not self.account.value:
            raise ConfigError(
                "no account: pass --account/-a, set MODELYARD_ACCOUNT (or FIREWORKS_ACCOUNT_ID), "
                f"or run 'modelyard login'{self._profile_hint()}"
            )
        return self.account.value

    @property
    def base_url_value(self) -> str:
        return self.base_url.value or DEFAULT_BASE_URL

    def _profile_hint(self) -> str:
        if self.profile == DEFAULT_PROFILE:
            return ""
        return f" (profile {self.profile!r} in {self.config_path} does not set it)"


def config_path(env: Mapping[str, str] | None = None) -> Path:
    """The profile file: ``$MODELYARD_CONFIG`` or ``<user config dir>/profiles.toml``."""
    env = os.environ if env is None else env
    override = env.get(CONFIG_ENV)
    if override:
        return Path(override).expanduser()
    return Path(platformdirs.user_config_dir("modelyard")) / "profiles.toml"


def read_profiles(path: Path) -> dict[str, dict[str, Any]]:
    """The profiles in ``path`` (no file: none)."""
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"the profile file {path} is not valid TOML: {e}") from None
    except OSError as e:
        raise ConfigError(f"cannot read the profile file {path}: {e.strerror or e}") from None
    return {name: table for name, table in data.items() if isinstance(table, dict)}


def check_base_url(url: str, source: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(
            f"invalid base URL {url!r} (from {source}): expected http(s)://HOST[:PORT][/PREFIX]"
        )
    return url.rstrip("/")


def resolve(
    *,
    base_url: str | None = None,
    api_key: str | None = None,
    account: str | None = None,
    profile: str | None = None,
    env: Mapping[str, str] | None = None,
    profile_must_exist: bool = True,
) -> Settings:
    """Resolve the three settings (see the module docstring). Nothing is required here; ask with
    :meth:`Settings.require_api_key` / :meth:`Settings.require_account`. A profile named explicitly
    (``profile`` or ``$MODELYARD_PROFILE``) must exist unless ``profile_must_exist`` is false."""
    env = os.environ if env is None else env
    path = config_path(env)
    flags = {"base_url": base_url, "api_key": api_key, "account": account}
    if profile:
        profile_name, explicit = profile, True
    elif env.get(PROFILE_ENV):
        profile_name, explicit = env[PROFILE_ENV], True
    else:
        profile_name, explicit = DEFAULT_PROFILE, False

    resolved: dict[str, Setting] = {}
    for key, (flag, env_names, _) in SETTINGS.items():
        value = flags[key]
        if value:
            resolved[key] = Setting(value, flag)
            continue
        for name in env_names:
            if env.get(name):
                resolved[key] = Setting(env[name], f"${name}")
                break

    if explicit or len(resolved) < len(SETTINGS):
        profiles = read_profiles(path)
        table = profiles.get(profile_name)
        if table is None and explicit and profile_must_exist:
            known = ", ".join(sorted(profiles)) or "none"
            raise ConfigError(
                f"no profile {profile_name!r} in {path} (profiles: {known}); "
                f"create it with 'modelyard login --profile {profile_name} ...'"
            )
        for key, (_, _, profile_keys) in SETTINGS.items():
            if key in resolved or table is None:
                continue
            for pk in profile_keys:
                value = table.get(pk)
                if isinstance(value, str) and value:
                    resolved[key] = Setting(value, f"profile {profile_name!r} ({path})")
                    break

    base = resolved.get("base_url") or Setting(DEFAULT_BASE_URL, "built-in default")
    base = Setting(check_base_url(base.value or DEFAULT_BASE_URL, base.source), base.source)
    return Settings(
        base_url=base,
        api_key=resolved.get("api_key") or Setting(None, "unset"),
        account=resolved.get("account") or Setting(None, "unset"),
        profile=profile_name,
        config_path=path,
    )


# -- writing (tomli-w; tomllib reads it back) --------------------------------------------------------

_HEADER = "# modelyard client profiles, written by 'modelyard login'. It holds API keys: keep it private.\n\n"


def dump_profiles(profiles: Mapping[str, Mapping[str, Any]]) -> str:
    """The profile file's text: one table per profile, holding its scalar settings (nested values are not
    something profiles hold, and are dropped)."""
    tables = {
        name: {key: value for key, value in table.items() if isinstance(value, str | int | float | bool)}
        for name, table in profiles.items()
    }
    return _HEADER + tomli_w.dumps(tables)


def write_profile(path: Path, name: str, values: Mapping[str, str]) -> None:
    """Set profile ``name`` in ``path`` (other profiles are kept). The file is written with mode 0600
    (through a temporary file in the same directory, then renamed over the old one)."""
    if not name:
        raise ConfigError("the profile name must not be empty")
    profiles = read_profiles(path)
    profiles[name] = {**profiles.get(name, {}), **values}
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            if hasattr(os, "fchmod"):  # POSIX: 0600 whatever the umask, even over a leftover file
                os.fchmod(f.fileno(), 0o600)
            f.write(dump_profiles(profiles))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


__all__ = [
    "DEFAULT_BASE_URL",
    "ConfigError",
    "Setting",
    "Settings",
    "config_path",
    "read_profiles",
    "resolve",
    "write_profile",
]
