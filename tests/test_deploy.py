"""docker-compose.yml and the Dockerfile: validated by parsing (there is no Docker engine here)."""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from bridgebot.settings import load_settings

ROOT = Path(__file__).resolve().parent.parent
DB_PATH = "/data/bridgebot.sqlite3"
# A Telegram bot token, a Discord bot token, or a long opaque string in a *TOKEN*/*SECRET* key.
TOKEN_SHAPES = (
    re.compile(r"\d{5,}:[A-Za-z0-9_-]{30,}"),
    re.compile(r"[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{25,}"),
)


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    text = re.sub(r"\\\n", " ", text)
    pairs = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            pairs.append((word.upper(), rest.strip()))
    return pairs


def env_of(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


def strings(value: object) -> list[str]:
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in [str(k), *strings(v)]]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return [str(value)]


def test_the_compose_service_is_built_here_and_keeps_its_database_on_a_named_volume():
    spec = compose()
    service = spec["services"]["bridgebot"]
    build = service["build"]
    assert build["context"] == "." and build.get("dockerfile", "Dockerfile") == "Dockerfile"
    assert env_of(service)["BRIDGEBOT_DATABASE"] == DB_PATH
    mounts = [v if isinstance(v, str) else f"{v['source']}:{v['target']}" for v in service["volumes"]]
    data = [m.split(":")[0] for m in mounts if m.split(":")[1] == str(Path(DB_PATH).parent)]
    assert data, f"nothing is mounted at {Path(DB_PATH).parent}: {mounts}"
    assert data[0] in spec["volumes"], "the database volume must be a named volume"
    assert service["restart"] in ("always", "unless-stopped", "on-failure")


def test_settings_come_from_env_file_and_the_health_check_asks_healthz(monkeypatch, tmp_path):
    service = compose()["services"]["bridgebot"]
    env_files = service["env_file"]
    env_files = [env_files] if isinstance(env_files, str) else env_files
    assert ".env" in [f if isinstance(f, str) else f["path"] for f in env_files]
    check = service["healthcheck"]
    command = " ".join(check["test"]) if isinstance(check["test"], list) else check["test"]
    env = env_of(service)
    assert f"127.0.0.1:{env['BRIDGEBOT_HEALTH__PORT']}/healthz" in command
    assert check["interval"] and check["retries"] >= 1 and check.get("start_period")
    # The environment the file sets is understood by bridgebot's settings.
    monkeypatch.chdir(tmp_path)
    for key, value in env.items():
        if key.endswith("_FILE"):  # a Docker secret: a file under /run/secrets in the container
            (tmp_path / Path(value).name).write_text("a-token-from-a-secret-file", encoding="utf-8")
            value = str(tmp_path / Path(value).name)
        monkeypatch.setenv(key, value)
    settings = load_settings()
    assert str(settings.database) == DB_PATH
    assert settings.health is not None and settings.health.port == int(env["BRIDGEBOT_HEALTH__PORT"])
    command_args = service.get("command") or []
    assert command_args[-1] == "run" and "json" in command_args


def test_the_image_runs_as_a_non_root_user_from_a_slim_base_with_a_health_check():
    steps = dockerfile()
    bases = [args for word, args in steps if word == "FROM"]
    assert bases and re.fullmatch(r"python:3\.11(\.\d+)?-slim(-\w+)?@sha256:[0-9a-f]{64}", bases[-1]), (
        f"the base image is python 3.11 slim pinned by digest: {bases[-1]}")
    users = [args for word, args in steps if word == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert any(word == "HEALTHCHECK" and "/healthz" in args for word, args in steps)
    envs = " ".join(args for word, args in steps if word == "ENV")
    assert f"BRIDGEBOT_DATABASE={DB_PATH}" in envs
    assert any(word == "VOLUME" and "/data" in args for word, args in steps)
    # The data folder belongs to the user the bot runs as.
    runs = " ".join(args for word, args in steps if word == "RUN")
    assert f"chown {users[-1].split(':')[0]}" in runs and "/data" in runs
    entry = [shlex.split(args.strip("[]").replace(",", " ")) for word, args in steps
             if word == "ENTRYPOINT"]
    assert entry and entry[-1][0].strip('"') == "bridgebot"


def test_no_secret_is_baked_into_the_image_or_the_compose_file():
    texts = strings(compose()) + [args for _, args in dockerfile()]
    for text in texts:
        for shape in TOKEN_SHAPES:
            assert not shape.search(text), f"token-looking value: {text!r}"
    for word, args in dockerfile():
        if word in ("ENV", "ARG"):
            assert not re.search(r"(TOKEN|SECRET|PASSWORD)", args, re.I), args
    for key, value in env_of(compose()["services"]["bridgebot"]).items():
        if key.endswith("_FILE"):  # a pointer to a Docker secret, not a secret
            assert value.startswith("/run/secrets/"), (key, value)
        else:
            assert not re.search(r"(TOKEN|SECRET)", key, re.I), key
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    for private in (".env", ".venv", "data", ".git", "secrets"):
        assert private in ignored, f"{private} would be sent to the Docker build"
    assert "/secrets/" in (ROOT / ".gitignore").read_text(encoding="utf-8").split()


def locked() -> dict[str, tuple[str, list[str]]]:
    """requirements.lock as {name: (version, hashes)}."""
    text = (ROOT / "requirements.lock").read_text(encoding="utf-8")
    pins: dict[str, tuple[str, list[str]]] = {}
    for entry in re.split(r"\n(?=[A-Za-z0-9])", re.sub(r"(?m)^\s*#.*$", "", text)):
        head = re.match(r"([A-Za-z0-9_.-]+)==([^\s\\;]+)", entry.strip())
        if head:
            pins[canonicalize_name(head[1])] = (head[2], re.findall(r"--hash=sha256:([0-9a-f]{64})", entry))
    return pins


def test_the_image_installs_exactly_the_locked_versions_with_their_hashes():
    runs = [args for word, args in dockerfile() if word == "RUN"]
    copies = [args for word, args in dockerfile() if word == "COPY"]
    lock_install = next(i for i, r in enumerate(runs) if "-r requirements.lock" in r)
    assert "--require-hashes" in runs[lock_install]
    assert any(c.split()[0] == "requirements.lock" for c in copies)
    package = next(i for i, r in enumerate(runs) if re.search(r"pip install .*\s\.(\s|$)", r))
    assert package > lock_install and "--no-deps" in runs[package], "bridgebot adds no unlocked package"
    assert "--no-build-isolation" in runs[package], "the build backend comes from the lock too"

    pins = locked()
    assert pins and all(hashes for _, hashes in pins.values()), "every pin has its hashes"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    wanted = [Requirement(r) for r in project["project"]["dependencies"]]
    wanted += [Requirement(r) for r in project["build-system"]["requires"]]
    for req in wanted:
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is not in requirements.lock: run pip-compile (README)"
        assert req.specifier.contains(pins[name][0], prereleases=True), (
            f"requirements.lock pins {req.name}=={pins[name][0]}, outside {req.specifier}: run pip-compile")
    assert "babel" not in pins, "Babel is a development tool; the image reads compiled .mo files"


def test_compose_rotates_logs_and_reads_tokens_from_docker_secrets(monkeypatch, tmp_path):
    spec = compose()
    for name, service in spec["services"].items():
        logging_ = service.get("logging") or {}
        options = logging_.get("options") or {}
        assert logging_.get("driver", "json-file") in ("json-file", "local"), name
        assert options.get("max-size") and int(options.get("max-file", 0)) >= 1, f"{name} logs grow forever"
    service = spec["services"]["bridgebot"]
    env = env_of(service)
    for secret in service["secrets"]:
        name = secret if isinstance(secret, str) else secret["source"]
        assert spec["secrets"][name]["file"].startswith("./secrets/")
        assert f"/run/secrets/{name}" in env.values(), f"no BRIDGEBOT_…_FILE reads secret {name}"
    # What compose mounts is what bridgebot reads.
    monkeypatch.chdir(tmp_path)
    for key, value in env.items():
        if key.endswith("_FILE"):
            secret = tmp_path / Path(value).name
            secret.write_text(f"{key}-value-123456\n", encoding="utf-8")
            value = str(secret)
        monkeypatch.setenv(key, value)
    settings = load_settings()
    assert settings.telegram.token.get_secret_value() == "BRIDGEBOT_TELEGRAM__TOKEN_FILE-value-123456"
    assert settings.discord.token.get_secret_value() == "BRIDGEBOT_DISCORD__TOKEN_FILE-value-123456"


def test_the_archive_pages_are_an_optional_compose_service_on_the_same_volume():
    spec = compose()
    serve = spec["services"]["serve"]
    assert serve["profiles"] == ["serve"], "off unless `docker compose --profile serve up`"
    assert "serve" in serve["command"] and serve["image"] == spec["services"]["bridgebot"]["image"]
    assert any(v.split(":")[:2] == ["bridgebot-data", "/data"] for v in serve["volumes"])
    assert env_of(serve)["BRIDGEBOT_DATABASE"] == DB_PATH
    port = serve["command"][serve["command"].index("--port") + 1]
    assert serve["ports"] == [f"127.0.0.1:{port}:{port}"], "published on this machine only"
    assert not serve.get("secrets"), "the archive needs no token"


def test_a_postgres_profile_runs_the_database_and_two_workers_sharing_it(monkeypatch, tmp_path):
    spec = compose()
    services = spec["services"]
    postgres = services["postgres"]
    workers = {name: s for name, s in services.items() if name.startswith("worker-")}
    assert len(workers) == 2, "two workers"
    for service in [postgres, *workers.values()]:
        assert service["profiles"] == ["postgres"], "off unless `--profile postgres`"
    # The database: kept on a named volume, checked healthy, its password a Docker secret.
    data = [v.split(":") for v in postgres["volumes"]]
    assert ["postgres-data", "/var/lib/postgresql/data"] in data and "postgres-data" in spec["volumes"]
    pg_env = env_of(postgres)
    assert "POSTGRES_PASSWORD" not in pg_env
    assert pg_env["POSTGRES_PASSWORD_FILE"] == "/run/secrets/postgres_password"
    assert spec["secrets"]["postgres_password"]["file"].startswith("./secrets/")
    assert "pg_isready" in postgres["healthcheck"]["test"]
    for name, worker in workers.items():
        assert worker["image"] == services["bridgebot"]["image"] and "run" in worker["command"]
        assert worker["depends_on"]["postgres"]["condition"] == "service_healthy", name
        assert "/healthz" in " ".join(worker["healthcheck"]["test"])
        env = env_of(worker)
        assert "BRIDGEBOT_DATABASE" not in env, "the address holds the password: a secret"
        for secret in worker["secrets"]:
            assert spec["secrets"][secret]["file"].startswith("./secrets/")
            assert f"/run/secrets/{secret}" in env.values(), f"{name} does not read {secret}"
    # Posts' files: one named volume in both workers and the archive server, files_dir in it.
    readers = [*workers.values(), services["serve-postgres"]]
    folders = {env_of(s)["BRIDGEBOT_FILES_DIR"] for s in readers}
    assert len(folders) == 1, "every worker and serve-postgres keep files in one folder"
    [folder] = folders
    mounted = [[v.split(":")[0] for v in s.get("volumes", [])
                if folder.startswith(v.split(":")[1].rstrip("/") + "/")] for s in readers]
    assert mounted[0] and all(m == mounted[0] for m in mounted), f"one volume in each: {mounted}"
    assert mounted[0][0] in spec["volumes"], "a named volume (it outlives the containers)"
    assert services["serve-postgres"]["profiles"] == ["postgres"]
    assert "serve" in services["serve-postgres"]["command"]
    # What compose mounts is what bridgebot reads: the address, from its secret file.
    monkeypatch.chdir(tmp_path)
    url = "postgresql://bridgebot:example-password@postgres:5432/bridgebot"
    for key, value in env_of(workers["worker-1"]).items():
        if key.endswith("_FILE"):
            secret = tmp_path / Path(value).name
            secret.write_text(url if "DATABASE" in key else "token-value-123456", encoding="utf-8")
            value = str(secret)
        monkeypatch.setenv(key, value)
    assert load_settings().database == url
