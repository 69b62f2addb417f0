"""Settings: each option has a default, a help text and a converter.

Values come, in rising order of precedence, from the defaults below, the node's
``hameau.toml`` (in its data dir), ``HAMEAU_<OPTION>`` environment variables and
the command line. An invalid value names its source and the option.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from hameau import config_values as values

CONFIG_FILE = "hameau.toml"


class ConfigError(Exception):
    """A setting has a value that cannot be used; the message says where and why."""


def default_data_dir() -> Path:
    """The platform default data dir, used when neither --data-dir nor HAMEAU_DATA is given."""
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "hameau"
    if os.name == "nt":
        return Path(os.environ.get("LOCALAPPDATA", Path.home())) / "hameau"
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "hameau"


@dataclass(frozen=True)
class Option:
    default: Any
    help: str
    convert: Callable[[Any], Any]


OPTIONS: dict[str, Option] = {
    "host": Option("127.0.0.1", "Address the web server listens on.", str),
    "port": Option(8080, "Port the web server listens on.", values.port),
    "default_locale": Option(
        "fr", "Interface language when nothing else says: fr or en.", values.locale
    ),
    "session_days": Option(30, "Days a personal-device session lasts.", values.positive_int),
    "personal_idle_days": Option(
        14, "Days of inactivity after which a personal-device session ends.", values.positive_int
    ),
    "shared_idle_minutes": Option(
        10,
        "Minutes of inactivity after which a shared device logs out (decimals allowed:"
        " 0.5 is 30 seconds); it warns a minute ahead.",
        values.positive_number,
    ),
    "login_max_failures": Option(
        5, "Failed logins for one account before it is paused.", values.positive_int
    ),
    "login_max_failures_per_address": Option(
        20, "Failed logins from one address before it is paused.", values.positive_int
    ),
    "login_window_minutes": Option(
        15, "Window over which failed logins are counted.", values.positive_int
    ),
    "max_form_bytes": Option(
        65536,
        "Largest request body accepted, in bytes, other than file content and the two below.",
        values.positive_int,
    ),
    "max_dav_body_bytes": Option(
        1 << 20,
        "Largest WebDAV or CalDAV request body that is not file content (an XML request, one"
        " event or contact), in bytes.",
        values.positive_int,
    ),
    "header_timeout_seconds": Option(
        15,
        "Seconds a client has to send a request's headers, from connecting or from the previous"
        " answer; slower connections are closed.",
        values.positive_int,
    ),
    "body_timeout_seconds": Option(
        60,
        "Seconds a large upload may go without a byte of its body before it is refused (408)"
        " and nothing of it kept.",
        values.positive_int,
    ),
    "max_connections": Option(
        400,
        "Connections open at once, at most (never more than half the open files the process is"
        " allowed); past it, the one waiting longest for its headers makes room.",
        values.positive_int,
    ),
    "database_url": Option(
        "",
        "The database: empty for the SQLite file in the data dir (hameau.db), or a PostgreSQL"
        " database, postgresql+psycopg://user:password@host:5432/name (pip install"
        " 'hameau[postgres]'; see docs/scale.md).",
        values.database_url,
    ),
    "blob_store": Option(
        "local",
        "Where file content is kept: local (the data dir's blobs/ folder), or s3://bucket/prefix"
        " (an S3-compatible object store, with the s3_* settings; pip install 'hameau[s3]').",
        values.blob_store,
    ),
    "s3_endpoint": Option(
        "", "The S3 store's URL (e.g. http://10.0.0.5:8333); empty: AWS itself.", str
    ),
    "s3_region": Option("us-east-1", "The S3 store's region (most others ignore it).", str),
    "s3_access_key": Option("", "The S3 access key id.", str),
    "s3_secret_key": Option(
        "", "The S3 secret key (better in HAMEAU_S3_SECRET_KEY than in the file).", str
    ),
    "default_quota_mb": Option(
        10240, "Storage quota given to a new member, in MB.", values.positive_int
    ),
    "travel_retry_seconds": Option(
        60,
        "Satellite: seconds before trying an unreachable home again (doubling up to the pull period).",
        values.positive_int,
    ),
    "travel_pull_minutes": Option(
        15, "Satellite: minutes between syncs when nothing changes here.", values.positive_int
    ),
    "ai_model": Option(
        "gemma-3-270m", "The AI's default model: a name from `hameau ai models`.", str
    ),
    "ai_backend_url": Option(
        "",
        "An OpenAI-compatible server of the household's network (Ollama, llama-server) to send"
        " AI requests to instead of running models here, e.g. http://10.0.0.5:11434/v1.",
        str,
    ),
    "ai_backend_key": Option("", "The bearer token that server wants, if any.", str),
    "ai_runtime": Option(
        "auto",
        "What runs the models: llama-server (llama.cpp's own server as a child process, several"
        " requests at once), llama-cpp-python (in the node's process, one at a time; optional:"
        " pip install 'hameau[llama-cpp]'), or auto (llama-server when one is found, see"
        " `hameau ai install-server`; else llama-cpp-python if installed).",
        values.one_of("auto", "llama-server", "llama-cpp-python"),
    ),
    "ai_server": Option(
        "",
        "Path of the llama-server binary; empty: one on PATH, else the one"
        " `hameau ai install-server` built.",
        str,
    ),
    "ai_parallel": Option(
        4, "Requests llama-server answers at once (its slots).", values.positive_int
    ),
    "ai_idle_seconds": Option(
        300, "Seconds after which an unused model is unloaded.", values.positive_int
    ),
    "ai_queue": Option(
        4, "AI requests that may wait for the model; more get 503.", values.positive_int
    ),
    "ai_threads": Option(0, "CPU threads for the model; 0: as many as the machine has.", int),
    "ai_context": Option(2048, "The model's context, in tokens.", values.positive_int),
    "ai_max_tokens": Option(256, "Most tokens an answer may have.", values.positive_int),
    "hamlet_clock_skew_seconds": Option(
        60,
        "Seconds a paired node's clock may be ahead of or behind this one's before its signed"
        " requests are refused as from the future or expired.",
        values.positive_int,
    ),
    "hamlet_peer_timeout_seconds": Option(
        10,
        "Seconds to wait for a paired node's answer before going on without it (slow links: more).",
        values.positive_number,
    ),
    "hamlet_announce": Option(
        "auto",
        "Announce this node on the local network (mDNS, `_hameau._tcp`) so that nearby homes'"
        " admins see it: on, off, or auto (on unless the node listens on loopback only).",
        values.one_of("auto", "on", "off"),
    ),
    "move_rollback_days": Option(
        30,
        "Days the node a member moved away from keeps their read-only copy (the rollback"
        " window); then it deletes it.",
        values.positive_int,
    ),
    "move_stream_mb": Option(
        256,
        "Megabytes of content a move sends per signed stream; the receiving home makes each"
        " stream durable before it answers. Smaller streams are answered more often.",
        values.positive_int,
    ),
    "move_propose_days": Option(
        30,
        "Days of a member's sessions looked at to propose moving their home to the peer most"
        " of them came through.",
        values.positive_int,
    ),
    "move_propose_share": Option(
        0.8,
        "Share of those sessions (0 to 1) that must be visits through one peer for the move"
        " there to be proposed.",
        values.share,
    ),
    "tls": Option(
        False,
        "Serve HTTPS (as `hameau serve --tls`): with the node's own certificate, or the one"
        " tls_cert and tls_key give. Peers talk to a node over HTTPS only.",
        values.boolean,
    ),
    "tls_cert": Option(
        "", "A certificate file (PEM) to serve HTTPS with instead of the node's own.", str
    ),
    "tls_key": Option("", "The key file (PEM, unencrypted) of that certificate.", str),
    "tls_names": Option(
        "",
        "Host names and addresses, comma-separated, the node's own certificate names besides"
        " the host setting, this machine's name and localhost (e.g. maison.lan,192.168.1.20).",
        str,
    ),
    "forwarded_allow_ips": Option(
        "",
        "Addresses of a reverse proxy in front of the node (e.g. 127.0.0.1) whose"
        " X-Forwarded-For and X-Forwarded-Proto headers are believed; empty: none.",
        str,
    ),
    "backup_every_hours": Option(
        24,
        "Hours between the node's automatic backups (to every backup target).",
        values.positive_int,
    ),
    "backup_targets": Option(
        "",
        "Backup targets besides those `hameau backup setup` added, comma-separated: peer:NAME"
        " (a paired home that offers space) or a folder's absolute path (e.g. a USB disk).",
        str,
    ),
    "backup_keep_daily": Option(
        7, "Daily backups kept (the last of each day).", values.positive_int
    ),
    "backup_keep_weekly": Option(4, "Weekly backups kept besides.", values.positive_int),
    "backup_keep_monthly": Option(6, "Monthly backups kept besides.", values.positive_int),
    "backup_warn_days": Option(
        2, "Days after the last good backup when the admin pages warn.", values.positive_number
    ),
    "ledger_escrow": Option(
        "embedded",
        "Where escrow contracts are kept: embedded (the hamlet's own signed ledger) or evm (a"
        " contract on an EVM chain, paid in a euro stablecoin).",
        values.one_of("embedded", "evm"),
    ),
    "moving_accept_from": Option(
        "",
        "Paired homes, comma-separated by their names (or * for every one), whose members"
        " moving here are accepted without asking an admin; empty: an admin accepts each.",
        str,
    ),
    "compute_check_seconds": Option(
        60,
        "Seconds between two looks of the served node for compute jobs (every 5 seconds, or"
        " this if shorter, while jobs are in flight); a job submitted from the page or the"
        " command line starts at once.",
        values.positive_number,
    ),
    "compute_lost_seconds": Option(
        120,
        "Seconds a provider may stay unreachable before its job is matched elsewhere, and a"
        " provider runs a job its asking home no longer asks about before stopping it.",
        values.positive_number,
    ),
    "compute_match_minutes": Option(
        10,
        "Minutes a job may wait for providers before it fails, refunded.",
        values.positive_number,
    ),
    "compute_settle_minutes": Option(
        10,
        "Minutes a verified job may ask the ledger's notary to pay before it fails (refunded).",
        values.positive_number,
    ),
    "compute_escrow_margin_minutes": Option(
        10,
        "Minutes from a job's deadline to its contracts', when unpaid credit is refunded.",
        values.positive_number,
    ),
    "compute_tamper_outputs": Option(
        False,
        "For tests only: this node alters the outputs of jobs it runs (a dishonest provider).",
        values.boolean,
    ),
    "footprint_powercap": Option(
        "/sys/class/powercap", "Where the kernel shows the RAPL energy counters.", str
    ),
    "footprint_sample_minutes": Option(
        10,
        "Minutes between two readings of the RAPL energy counters while serving (at least 1;"
        " no timer when the counters cannot be read).",
        values.positive_int,
    ),
    "compute_idle_load": Option(
        0.3,
        "Lending compute: the load average (1 minute, and over the idle window) under which the"
        " machine counts as idle, not counting the jobs it runs for others.",
        values.positive_number,
    ),
    "compute_idle_minutes": Option(
        15,
        "Lending compute: minutes with no member using the node and the load under"
        " compute_idle_load before a job may start (decimals allowed).",
        values.positive_number,
    ),
    "compute_vacate_minutes": Option(
        10,
        "Lending compute: minutes a job may stay suspended (a member is using the node) before"
        " it is stopped and sent elsewhere (decimals allowed).",
        values.positive_number,
    ),
}


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    host: str = OPTIONS["host"].default
    port: int = OPTIONS["port"].default
    default_locale: str = OPTIONS["default_locale"].default
    session_days: int = OPTIONS["session_days"].default
    personal_idle_days: int = OPTIONS["personal_idle_days"].default
    shared_idle_minutes: float = OPTIONS["shared_idle_minutes"].default
    login_max_failures: int = OPTIONS["login_max_failures"].default
    login_max_failures_per_address: int = OPTIONS["login_max_failures_per_address"].default
    login_window_minutes: int = OPTIONS["login_window_minutes"].default
    max_form_bytes: int = OPTIONS["max_form_bytes"].default
    max_dav_body_bytes: int = OPTIONS["max_dav_body_bytes"].default
    header_timeout_seconds: int = OPTIONS["header_timeout_seconds"].default
    body_timeout_seconds: int = OPTIONS["body_timeout_seconds"].default
    max_connections: int = OPTIONS["max_connections"].default
    database_url: str = OPTIONS["database_url"].default
    blob_store: str = OPTIONS["blob_store"].default
    s3_endpoint: str = OPTIONS["s3_endpoint"].default
    s3_region: str = OPTIONS["s3_region"].default
    s3_access_key: str = OPTIONS["s3_access_key"].default
    s3_secret_key: str = field(default=OPTIONS["s3_secret_key"].default, repr=False)
    default_quota_mb: int = OPTIONS["default_quota_mb"].default
    travel_retry_seconds: int = OPTIONS["travel_retry_seconds"].default
    travel_pull_minutes: int = OPTIONS["travel_pull_minutes"].default
    ai_model: str = OPTIONS["ai_model"].default
    ai_backend_url: str = OPTIONS["ai_backend_url"].default
    ai_backend_key: str = OPTIONS["ai_backend_key"].default
    ai_runtime: str = OPTIONS["ai_runtime"].default
    ai_server: str = OPTIONS["ai_server"].default
    ai_parallel: int = OPTIONS["ai_parallel"].default
    ai_idle_seconds: int = OPTIONS["ai_idle_seconds"].default
    ai_queue: int = OPTIONS["ai_queue"].default
    ai_threads: int = OPTIONS["ai_threads"].default
    ai_context: int = OPTIONS["ai_context"].default
    ai_max_tokens: int = OPTIONS["ai_max_tokens"].default
    hamlet_clock_skew_seconds: int = OPTIONS["hamlet_clock_skew_seconds"].default
    hamlet_peer_timeout_seconds: float = OPTIONS["hamlet_peer_timeout_seconds"].default
    hamlet_announce: str = OPTIONS["hamlet_announce"].default
    move_rollback_days: int = OPTIONS["move_rollback_days"].default
    move_stream_mb: int = OPTIONS["move_stream_mb"].default
    move_propose_days: int = OPTIONS["move_propose_days"].default
    move_propose_share: float = OPTIONS["move_propose_share"].default
    tls: bool = OPTIONS["tls"].default
    tls_cert: str = OPTIONS["tls_cert"].default
    tls_key: str = OPTIONS["tls_key"].default
    tls_names: str = OPTIONS["tls_names"].default
    forwarded_allow_ips: str = OPTIONS["forwarded_allow_ips"].default
    backup_every_hours: int = OPTIONS["backup_every_hours"].default
    backup_targets: str = OPTIONS["backup_targets"].default
    backup_keep_daily: int = OPTIONS["backup_keep_daily"].default
    backup_keep_weekly: int = OPTIONS["backup_keep_weekly"].default
    backup_keep_monthly: int = OPTIONS["backup_keep_monthly"].default
    backup_warn_days: float = OPTIONS["backup_warn_days"].default
    moving_accept_from: str = OPTIONS["moving_accept_from"].default
    footprint_powercap: str = OPTIONS["footprint_powercap"].default
    footprint_sample_minutes: int = OPTIONS["footprint_sample_minutes"].default
    ledger_escrow: str = OPTIONS["ledger_escrow"].default
    compute_check_seconds: float = OPTIONS["compute_check_seconds"].default
    compute_lost_seconds: float = OPTIONS["compute_lost_seconds"].default
    compute_match_minutes: float = OPTIONS["compute_match_minutes"].default
    compute_settle_minutes: float = OPTIONS["compute_settle_minutes"].default
    compute_escrow_margin_minutes: float = OPTIONS["compute_escrow_margin_minutes"].default
    compute_tamper_outputs: bool = OPTIONS["compute_tamper_outputs"].default
    compute_idle_load: float = OPTIONS["compute_idle_load"].default
    compute_idle_minutes: float = OPTIONS["compute_idle_minutes"].default
    compute_vacate_minutes: float = OPTIONS["compute_vacate_minutes"].default
    extra: Mapping[str, Any] = field(default_factory=dict)

    def with_overrides(self, **values: Any) -> Settings:
        """Settings with the given options replaced (None means: leave as is)."""
        given = {key: value for key, value in values.items() if value is not None}
        return replace(self, **_convert(given, "the command line"))


def _convert(values: Mapping[str, Any], source: str) -> dict[str, Any]:
    converted = {}
    for key, raw in values.items():
        option = OPTIONS.get(key)
        if option is None:
            raise ConfigError(f"{source}: unknown option '{key}'.")
        try:
            converted[key] = option.convert(raw)
        except (TypeError, ValueError) as error:
            raise ConfigError(f"{source}: option '{key}' {error}.") from None
    return converted


def resolve_data_dir(data_dir: Path | str | None) -> Path:
    """--data-dir, else HAMEAU_DATA, else the platform default."""
    if data_dir:
        return Path(data_dir).expanduser().resolve()
    if os.environ.get("HAMEAU_DATA"):
        return Path(os.environ["HAMEAU_DATA"]).expanduser().resolve()
    return default_data_dir()


def load_settings(
    data_dir: Path | str | None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Read the settings of the node in ``data_dir`` from its file and the environment."""
    root = resolve_data_dir(data_dir)
    values: dict[str, Any] = {}
    config_path = root / CONFIG_FILE
    if config_path.is_file():
        import tomllib  # only with a file to read (`travel sync` on a served satellite: none)

        try:
            with config_path.open("rb") as handle:
                document = tomllib.load(handle)
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(f"{config_path}: not valid TOML ({error}).") from None
        section = document.get("node", {})
        values.update(_convert(section, f"{config_path} [node]"))
    environ = os.environ if environ is None else environ
    prefix = "HAMEAU_"
    from_env = {
        key[len(prefix) :].lower(): value
        for key, value in environ.items()
        if key.startswith(prefix) and key[len(prefix) :].lower() in OPTIONS
    }
    values.update(_convert(from_env, "environment"))
    return Settings(data_dir=root, **values)


def describe_options() -> list[tuple[str, Any, str]]:
    """(name, default, help) for each option, for docs and `--help` texts."""
    names = [f.name for f in fields(Settings) if f.name in OPTIONS]
    return [(name, OPTIONS[name].default, OPTIONS[name].help) for name in names]
