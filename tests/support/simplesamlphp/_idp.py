"""A real SimpleSAMLphp 1.19 IdP under `php -S`, with its own configuration in a temp dir."""

from __future__ import annotations

import contextlib
import http.client
import http.cookiejar
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlencode, urlsplit

from tests.support.simplesamlphp._http_login import SamlPostForm, http_login
from tests.support.simplesamlphp._saml import (
    RSA_SHA256,
    AuthnRequestRedirect,
    KeyPair,
    ServiceProvider,
    authn_request_redirect,
    generate_key_pair,
    parse_sp_metadata,
)

SIMPLESAMLPHP_DIR = Path("/usr/share/simplesamlphp")
PHP_TEMPLATES = Path(__file__).parent / "php"

NAMEID_PERSISTENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
NAMEID_EMAIL = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
NAMEID_TRANSIENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"
NAMEID_UNSPECIFIED = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
ATTRNAME_BASIC = "urn:oasis:names:tc:SAML:2.0:attrname-format:basic"
ATTRNAME_URI = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"

_ATTRNAME_SHORTHANDS = {"basic": ATTRNAME_BASIC, "uri": ATTRNAME_URI}
_AUTH_SOURCE = "example-userpass"
_LOG_DEBUG = 7  # SimpleSAML\Logger::DEBUG


class IdpStartError(RuntimeError):
    """`php -S` did not come up, or SimpleSAMLphp rejected the configuration it was given."""


class SimpleSamlPhpIdp:
    """One SimpleSAMLphp IdP on 127.0.0.1, configured entirely from the constructor.

    Use as a context manager (or `start()` / `stop()`); it starts in about 0.1 s.

    - `sp_metadata_xml`: the SP's SAML metadata (`EntityDescriptor`, or an `EntitiesDescriptor`
      for several SPs), read by SimpleSAMLphp itself; `update_sp_metadata()` replaces it live.
    - `users`: username -> `{"password": str, "attributes": {name: [values]}}` for
      `exampleauth:UserPass` (a lone string is taken as a one-value list).
    - `sign_assertion`, `sign_response` (both default True, as SimpleSAMLphp's own defaults),
      `encrypt_assertion` (to the SP's encryption certificate): always forced per SP, so they win
      over `WantAssertionsSigned` in the SP metadata. RSA-SHA256 throughout.
    - `nameid_format` (default persistent) with the value of `nameid_attribute` (default `uid`,
      `mail` for emailAddress); transient is random.
    - `attribute_name_format`: "basic" (default), "uri" or a full NameFormat URN.
    - `authn_context_class_ref`: replaces the default `...:ac:classes:Password`.
    - `sp_remote_options` / `idp_hosted_options`: raw SimpleSAMLphp metadata options laid over
      the generated ones (e.g. `{"validate.authnrequest": False}`), for cases not covered here.
    - `workdir`: where config, keys and logs go; default a temp dir removed on `stop()`.
    """

    def __init__(
        self,
        sp_metadata_xml: str,
        users: Mapping[str, Mapping[str, Any]],
        *,
        workdir: str | os.PathLike[str] | None = None,
        sign_assertion: bool = True,
        sign_response: bool = True,
        encrypt_assertion: bool = False,
        nameid_format: str = NAMEID_PERSISTENT,
        nameid_attribute: str | None = None,
        attribute_name_format: str = "basic",
        authn_context_class_ref: str | None = None,
        assertion_lifetime: int = 300,
        sp_remote_options: Mapping[str, Any] | None = None,
        idp_hosted_options: Mapping[str, Any] | None = None,
        startup_timeout: float = 15.0,
    ) -> None:
        self.service_providers: tuple[ServiceProvider, ...] = parse_sp_metadata(sp_metadata_xml)
        self._sp_metadata_xml = sp_metadata_xml
        self._users = _normalise_users(users)
        self._given_workdir = Path(workdir) if workdir is not None else None
        self.sign_assertion = sign_assertion
        self.sign_response = sign_response
        self.encrypt_assertion = encrypt_assertion
        self.nameid_format = nameid_format
        self.nameid_attribute = nameid_attribute or ("mail" if nameid_format == NAMEID_EMAIL else "uid")
        self.attribute_name_format = _ATTRNAME_SHORTHANDS.get(attribute_name_format, attribute_name_format)
        self.authn_context_class_ref = authn_context_class_ref
        self.assertion_lifetime = assertion_lifetime
        self._sp_remote_options = dict(sp_remote_options or {})
        self._idp_hosted_options = dict(idp_hosted_options or {})
        self._startup_timeout = startup_timeout
        self.signing_key: KeyPair = generate_key_pair("SimpleSAMLphp test IdP")
        self._workdir: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._port: int | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        # pytest shows teardown output only for failing tests: the log costs nothing otherwise.
        if self._process is not None:
            print(self.diagnostics(), file=sys.stderr)
        self.stop()

    def start(self) -> Self:
        """Write the configuration, start `php -S` on a free port and wait until it serves."""
        if self._process is not None:
            raise RuntimeError("SimpleSAMLphp IdP already started")
        if shutil.which("php") is None:
            raise IdpStartError("php is not on PATH (Debian packages php-cli, php-xml, php-mbstring)")
        self._workdir = self._given_workdir or Path(tempfile.mkdtemp(prefix="simplesamlphp-"))
        try:
            self._start_server()
            for sp in self.service_providers:
                self._check_sp_known(sp.entity_id)
        except BaseException:
            self.stop()  # __exit__ won't run when __enter__ fails; the error carries the logs
            raise
        return self

    def _start_server(self) -> None:
        for attempt in range(3):  # a free port can be taken between probing and binding it
            self._port = _free_port()
            self._write_configuration()
            self._process = self._spawn()
            try:
                self._wait_until_serving()
            except IdpStartError:
                if "Address already in use" in self._tail(self.server_log_path) and attempt < 2:
                    self._terminate()
                    continue
                raise
            return

    def stop(self) -> None:
        """Stop the server; remove the work dir if this object created it."""
        self._terminate()
        if self._workdir is not None and self._given_workdir is None:
            shutil.rmtree(self._workdir, ignore_errors=True)
        self._workdir = None

    # -- what tests read -------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("SimpleSAMLphp IdP not started")
        return self._port

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:PORT` (no trailing slash)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def entity_id(self) -> str:
        return f"{self.base_url}/saml2/idp/metadata.php"

    @property
    def metadata_url(self) -> str:
        return self.entity_id

    @property
    def sso_url(self) -> str:
        """SingleSignOnService, HTTP-Redirect binding (also accepts IdP-initiated `spentityid=`)."""
        return f"{self.base_url}/saml2/idp/SSOService.php"

    @property
    def signing_cert_pem(self) -> str:
        return self.signing_key.cert_pem

    @property
    def workdir(self) -> Path:
        if self._workdir is None:
            raise RuntimeError("SimpleSAMLphp IdP not started")
        return self._workdir

    @property
    def config_dir(self) -> Path:
        """The directory `SIMPLESAMLPHP_CONFIG_DIR` points at."""
        return self.workdir / "config"

    @property
    def log_path(self) -> Path:
        """SimpleSAMLphp's own log (level DEBUG)."""
        return self.workdir / "log" / "simplesamlphp.log"

    @property
    def server_log_path(self) -> Path:
        """stdout + stderr of `php -S`: one line per request, plus PHP warnings and fatals."""
        return self.workdir / "php-server.log"

    def metadata_xml(self) -> str:
        """The IdP's SAML metadata, fetched from the running server (what an admin would upload)."""
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(self.metadata_url, timeout=10) as response:
            return response.read().decode()

    def idp_initiated_url(self, sp_entity_id: str | None = None, relay_state: str | None = None) -> str:
        """Unsolicited SSO (1.19 style): the IdP posts a response without an AuthnRequest."""
        query = {"spentityid": sp_entity_id or self._only_sp().entity_id}
        if relay_state is not None:
            query["RelayState"] = relay_state
        return f"{self.sso_url}?{urlencode(query)}"

    def sp_initiated_url(
        self,
        sp_entity_id: str | None = None,
        *,
        acs_url: str | None = None,
        request_id: str | None = None,
        relay_state: str | None = None,
        force_authn: bool = False,
        signing_key: KeyPair | None = None,
    ) -> AuthnRequestRedirect:
        """An HTTP-Redirect AuthnRequest as the SP would send it (for tests standing in for an SP);
        signed with `signing_key` if given (needed when the SP metadata says AuthnRequestsSigned)."""
        sp = self._sp(sp_entity_id)
        return authn_request_redirect(
            self.sso_url,
            sp_entity_id=sp.entity_id,
            acs_url=acs_url or sp.acs_url,
            request_id=request_id,
            relay_state=relay_state,
            force_authn=force_authn,
            signing_key=signing_key,
        )

    def login_http(
        self,
        username: str,
        password: str | None = None,
        *,
        start_url: str | None = None,
        cookie_jar: http.cookiejar.CookieJar | None = None,
    ) -> SamlPostForm:
        """Sign in without a browser and return the SAMLResponse form bound for the ACS.

        `start_url` is any URL that ends at this IdP's login page: by default the IdP-initiated
        URL of the only SP; a broker's `/saml/login?provider=...` works too (its redirect to the
        IdP is followed, cookies kept in `cookie_jar`). `password` defaults to the user's own.
        """
        if password is None:
            password = self._users[username]["password"]
        return http_login(
            start_url or self.idp_initiated_url(),
            username,
            password,
            cookie_jar=cookie_jar,
            diagnostics=self.diagnostics,
        )

    def update_sp_metadata(self, sp_metadata_xml: str) -> None:
        """Replace the SP metadata; SimpleSAMLphp re-reads it on the next request."""
        self.service_providers = parse_sp_metadata(sp_metadata_xml)
        self._sp_metadata_xml = sp_metadata_xml
        _write_atomically(self.workdir / "metadata" / "sp-metadata.xml", sp_metadata_xml)
        for sp in self.service_providers:
            self._check_sp_known(sp.entity_id)

    def diagnostics(self, lines: int = 80) -> str:
        """The tails of the server log and of SimpleSAMLphp's log, for failure messages."""
        if self._workdir is None:
            return "SimpleSAMLphp IdP: not running"
        errors = [line for line in self._tail(self.log_path, 10_000).splitlines() if "Caused by:" in line]
        return (
            f"--- SimpleSAMLphp IdP {self._port and self.base_url} (work dir {self._workdir}) ---\n"
            f"last error: {errors[-1] if errors else 'none logged'}\n"
            f"--- php -S output, last {lines} lines ---\n{self._tail(self.server_log_path, lines)}\n"
            f"--- simplesamlphp.log, last {lines} lines ---\n{self._tail(self.log_path, lines)}"
        )

    # -- internals -------------------------------------------------------------------------

    def _only_sp(self) -> ServiceProvider:
        if len(self.service_providers) != 1:
            raise ValueError("several SPs are configured: pass sp_entity_id")
        return self.service_providers[0]

    def _sp(self, entity_id: str | None) -> ServiceProvider:
        if entity_id is None:
            return self._only_sp()
        for sp in self.service_providers:
            if sp.entity_id == entity_id:
                return sp
        raise ValueError(f"unknown SP {entity_id!r}")

    def _write_configuration(self) -> None:
        root = self.workdir
        for name in ("config", "metadata", "cert", "data", "tmp", "log", "sessions"):
            (root / name).mkdir(parents=True, exist_ok=True)
        for template in PHP_TEMPLATES.glob("*/*.php"):
            shutil.copyfile(template, root / template.parent.name / template.name)
        (root / "cert" / "idp.key").write_text(self.signing_key.private_key_pem)
        (root / "cert" / "idp.crt").write_text(self.signing_key.cert_pem)
        _write_json(root / "config" / "config.json", self._global_config())
        _write_json(root / "config" / "authsources.json", self._auth_sources())
        _write_json(root / "metadata" / "saml20-idp-hosted.json", {self.entity_id: self._idp_hosted()})
        _write_json(root / "metadata" / "saml20-sp-remote.json", self._sp_remote_overrides())
        _write_atomically(root / "metadata" / "sp-metadata.xml", self._sp_metadata_xml)

    def _global_config(self) -> dict[str, Any]:
        root, port = self.workdir, self.port
        return {
            # A full URL: SimpleSAMLphp then builds every link from it instead of guessing.
            "baseurlpath": f"http://127.0.0.1:{port}/",
            "certdir": f"{root / 'cert'}/",
            "loggingdir": f"{root / 'log'}/",
            "datadir": f"{root / 'data'}/",
            "tempdir": str(root / "tmp"),
            "metadatadir": f"{root / 'metadata'}/",
            "attributenamemapdir": f"{SIMPLESAMLPHP_DIR / 'config' / 'attributemap'}/",
            "metadata.sources": [{"type": "flatfile"}],
            "technicalcontact_name": "Broker tests",
            "technicalcontact_email": "idp-admin@example.org",
            "timezone": "UTC",
            "secretsalt": secrets.token_hex(24),
            "auth.adminpassword": secrets.token_urlsafe(24),
            "admin.protectindexpage": True,
            "admin.protectmetadata": False,
            "admin.checkforupdates": False,
            "trusted.url.domains": ["127.0.0.1"],
            "enable.saml20-idp": True,
            "enable.shib13-idp": False,
            "enable.adfs-idp": False,
            "module.enable": {"core": True, "saml": True, "admin": True, "exampleauth": True},
            "logging.handler": "file",
            "logging.logfile": "simplesamlphp.log",
            "logging.level": _LOG_DEBUG,
            "logging.processname": "simplesamlphp",
            "statistics.out": [],
            "debug": {"saml": False, "backtraces": True, "validatexml": False},
            "showerrors": True,
            "errorreporting": False,
            "production": True,
            "store.type": "phpsession",
            "session.phpsession.savepath": str(root / "sessions"),
            # Two servers on 127.0.0.1 share cookies across ports: names carry the port.
            "session.cookie.name": f"SimpleSAMLSessionID_{port}",
            "session.phpsession.cookiename": f"SimpleSAML_{port}",
            "session.authtoken.cookiename": f"SimpleSAMLAuthToken_{port}",
            "session.cookie.secure": False,
            "session.cookie.samesite": "Lax",
            "language.cookie.name": f"language_{port}",
            "language.cookie.secure": False,
            "language.cookie.samesite": "Lax",
            "language.default": "en",
        }

    def _auth_sources(self) -> dict[str, Any]:
        userpass: dict[str, Any] = {"0": "exampleauth:UserPass"}
        for username, user in self._users.items():
            userpass[f"{username}:{user['password']}"] = user["attributes"]
        return {"admin": {"0": "core:AdminPassword"}, _AUTH_SOURCE: userpass}

    def _signing_options(self) -> dict[str, Any]:
        return {
            "saml20.sign.assertion": self.sign_assertion,
            "saml20.sign.response": self.sign_response,
            "assertion.encryption": self.encrypt_assertion,
            "signature.algorithm": RSA_SHA256,
            "NameIDFormat": self.nameid_format,
            "attributes.NameFormat": self.attribute_name_format,
            "assertion.lifetime": self.assertion_lifetime,
        }

    def _idp_hosted(self) -> dict[str, Any]:
        authproc: dict[str, Any] = {}
        if self.nameid_format != NAMEID_TRANSIENT:  # transient ids are random without a filter
            authproc["10"] = {
                "class": "saml:AttributeNameID",
                "Format": self.nameid_format,
                "attribute": self.nameid_attribute,
            }
        if self.authn_context_class_ref is not None:
            authproc["20"] = {
                "class": "saml:AuthnContextClassRef",
                "AuthnContextClassRef": self.authn_context_class_ref,
            }
        return {
            "host": "__DEFAULT__",
            "auth": _AUTH_SOURCE,
            "privatekey": "idp.key",
            "certificate": "idp.crt",
            "authproc": authproc,
            **self._signing_options(),
            **self._idp_hosted_options,
        }

    def _sp_remote_overrides(self) -> dict[str, Any]:
        return {**self._signing_options(), **self._sp_remote_options}

    def _spawn(self) -> subprocess.Popen[bytes]:
        env = {
            **os.environ,
            "SIMPLESAMLPHP_CONFIG_DIR": str(self.config_dir),
            # Several workers so a browser's parallel asset requests don't queue behind a page.
            "PHP_CLI_SERVER_WORKERS": "4",
        }
        command = [
            "php",
            "-d", "display_errors=stderr",
            "-d", "log_errors=0",
            "-d", "date.timezone=UTC",
            "-d", "opcache.enable_cli=0",
            "-S", f"127.0.0.1:{self._port}",
            "-t", str(SIMPLESAMLPHP_DIR / "www"),
        ]  # fmt: skip
        with self.server_log_path.open("wb") as log:
            # A session of its own, so stop() can end the workers php -S forks with the parent.
            return subprocess.Popen(
                command,
                cwd=self.workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def _wait_until_serving(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + self._startup_timeout
        last_error = "no answer"
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise IdpStartError(f"php -S exited with status {self._process.returncode}\n{self.diagnostics()}")
            try:
                status, body = self._get(urlsplit(self.metadata_url).path)
            except OSError as exc:
                last_error = repr(exc)
            else:
                if status == 200 and "IDPSSODescriptor" in body:
                    return
                raise IdpStartError(f"IdP metadata answered HTTP {status}\n{body[:2000]}\n{self.diagnostics()}")
            time.sleep(0.05)
        raise IdpStartError(
            f"SimpleSAMLphp did not answer within {self._startup_timeout}s ({last_error})\n" + self.diagnostics()
        )

    def _check_sp_known(self, sp_entity_id: str) -> None:
        """Fail at start-up, not mid-test, if SimpleSAMLphp can't load the SP's metadata."""
        status, _ = self._get(f"{urlsplit(self.sso_url).path}?{urlencode({'spentityid': sp_entity_id})}")
        if status != 302:  # a good request is sent on to the login page
            raise IdpStartError(
                f"SimpleSAMLphp did not accept SP {sp_entity_id!r} (HTTP {status}, not a redirect to"
                f" the login page)\n{self.diagnostics()}"
            )

    def _get(self, path: str) -> tuple[int, str]:
        connection = http.client.HTTPConnection("127.0.0.1", self._port, timeout=5)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            return response.status, response.read().decode("utf-8", "replace")
        finally:
            connection.close()

    def _terminate(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)  # our own process group: php -S and its workers
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)

    @staticmethod
    def _tail(path: Path, lines: int = 80) -> str:
        try:
            text = path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no file)"
        return "\n".join(text.splitlines()[-lines:])


def _normalise_users(users: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    normalised = {}
    for username, user in users.items():
        unknown = set(user) - {"password", "attributes"}
        if unknown:
            raise ValueError(f"user {username!r}: unknown keys {sorted(unknown)}")
        if ":" in username:  # exampleauth keys users as "username:password", split at the first colon
            raise ValueError(f"user {username!r}: exampleauth usernames cannot contain ':'")
        if not isinstance(user.get("password"), str) or not user["password"]:
            raise ValueError(f"user {username!r}: a non-empty string password is required")
        attributes = {
            name: [values] if isinstance(values, str) else _strings(username, name, values)
            for name, values in user.get("attributes", {}).items()
        }
        normalised[username] = {"password": user["password"], "attributes": attributes}
    return normalised


def _strings(username: str, name: str, values: Iterable[Any]) -> list[str]:
    values = list(values)
    if not all(isinstance(value, str) for value in values):
        raise ValueError(f"user {username!r}: attribute {name!r} values must be strings")
    return values


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _write_json(path: Path, value: Any) -> None:
    _write_atomically(path, json.dumps(value, indent=2))


def _write_atomically(path: Path, text: str) -> None:
    # PHP may read the file mid-request: rename so it never sees half a file.
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text)
    temporary.replace(path)
