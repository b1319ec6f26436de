"""The origins an IdP posts from, read from its metadata, and the origin a post is judged by."""

from __future__ import annotations

import pytest

from broker.saml.metadata import parse_idp_metadata, web_origin
from broker.services.federation import PostOrigin
from broker.services.federation.errors import BadDuration
from broker.services.federation.issuance import read_duration
from tests.support.metadata import idp_metadata_xml

OWN = "https://broker.example"


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("https://IdP.Example.com/sso?x=1", "https://idp.example.com"),
        ("https://idp.example.com:443/sso", "https://idp.example.com"),
        ("http://idp.example.com:80/sso", "http://idp.example.com"),
        ("https://idp.example.com:8443/sso", "https://idp.example.com:8443"),
        ("http://127.0.0.1:8080/simplesaml/saml2/idp/SSOService.php", "http://127.0.0.1:8080"),
        ("http://[::1]:9000/sso", "http://[::1]:9000"),
        ("https://user:pw@idp.example.com/sso", "https://idp.example.com"),
        ("https://bücher.example/sso", "https://xn--bcher-kva.example"),  # as browsers send it
        ("ftp://idp.example.com/sso", None),
        ("https://idp.example.com:99999/sso", None),
        ("/relative/sso", None),
    ],
)
def test_the_origin_of_an_endpoint_is_what_a_browser_sends_for_its_pages(url: str, origin: str | None) -> None:
    assert web_origin(url) == origin


def test_metadata_gives_the_origins_of_its_sign_on_and_logout_endpoints() -> None:
    xml = idp_metadata_xml("https://idp.example/entity", None, "https://sso.idp.example/redirect").replace(
        "</md:IDPSSODescriptor>",
        '<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"'
        ' Location="https://post.idp.example:8443/post"/>'
        '<md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"'
        ' Location="https://logout.idp.example/slo"/>'
        '<md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:SOAP" Location="urn:not-a-page"/>'
        "</md:IDPSSODescriptor>",
    )
    assert parse_idp_metadata(xml).endpoint_origins == {
        "https://sso.idp.example",
        "https://post.idp.example:8443",
        "https://logout.idp.example",
    }


@pytest.mark.parametrize(
    ("origin", "fetch_site", "judged"),
    [
        (None, None, None),  # no header: not a browser, or one from before the header
        ("https://IDP.example", "cross-site", "https://idp.example"),
        ("null", "cross-site", "null"),
        ("null", None, "null"),
        ("null", "same-site", "null"),  # some other page of the same site: not ours
        ("null", "same-origin", OWN),  # the broker's own page (the demo IdP) under no-referrer
        (" NULL ", "Same-Origin", OWN),
        ("https://evil.example", "same-origin", "https://evil.example"),  # only null is replaced
    ],
)
def test_a_post_is_judged_by_its_origin_or_for_the_brokers_own_pages_by_the_brokers(
    origin: str | None, fetch_site: str | None, judged: str | None
) -> None:
    assert PostOrigin(origin, fetch_site).effective(OWN) == judged


@pytest.mark.parametrize(("text", "seconds"), [(None, None), ("", None), ("900", 900), ("043200", 43200)])
def test_the_role_forms_duration_is_ascii_seconds_or_absent(text: str | None, seconds: int | None) -> None:
    assert read_duration(text) == seconds


@pytest.mark.parametrize("text", ["²", "٣", "1e3", "+900", "900 ", "9" * 7])
def test_any_other_duration_text_is_refused(text: str) -> None:
    with pytest.raises(BadDuration):
        read_duration(text)
