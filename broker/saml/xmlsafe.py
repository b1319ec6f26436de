"""Hostile-input XML parsing: no DTDs, no entities, no network, bounded size."""

from __future__ import annotations

import re

from lxml import etree

from broker.saml.errors import SamlError

_PARSER = etree.XMLParser(
    resolve_entities=False,
    no_network=True,
    dtd_validation=False,
    load_dtd=False,
    huge_tree=False,
    remove_comments=False,
    remove_pis=False,
    collect_ids=False,
)
_DOCTYPE = re.compile(rb"<!DOCTYPE|<!ENTITY", re.IGNORECASE)

NS = {
    "samlp": "urn:oasis:names:tc:SAML:2.0:protocol",
    "saml": "urn:oasis:names:tc:SAML:2.0:assertion",
    "ds": "http://www.w3.org/2000/09/xmldsig#",
    "xenc": "http://www.w3.org/2001/04/xmlenc#",
    "md": "urn:oasis:names:tc:SAML:2.0:metadata",
}


def q(prefix: str, local: str) -> str:
    return f"{{{NS[prefix]}}}{local}"


def parse_xml(data: bytes) -> etree._Element:
    """Parse a SAML document; DOCTYPE and entity declarations are refused outright."""
    if _DOCTYPE.search(data):
        raise SamlError("ForbiddenXml", "document contains a DOCTYPE or ENTITY declaration")
    try:
        root = etree.fromstring(data, parser=_PARSER)
    except etree.XMLSyntaxError as exc:
        raise SamlError("MalformedMessage", f"not well-formed XML: {exc.msg}") from None
    if root.getroottree().docinfo.doctype:
        raise SamlError("ForbiddenXml", "document has a DOCTYPE")
    for node in root.iter(etree.ProcessingInstruction, etree.Entity):
        raise SamlError("ForbiddenXml", f"document contains {type(node).__name__}")
    return root
