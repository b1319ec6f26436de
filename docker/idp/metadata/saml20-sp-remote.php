<?php
// The broker, the one SP: its entity id and ACS (HTTP-POST) from IDP_SP_ENTITY_ID and
// IDP_SP_ACS_URL. Its AuthnRequest signatures are not checked (validate.authnrequest off), so
// the IdP needs nothing of the broker's keys and can start before the broker exists.
$metadata[getenv('IDP_SP_ENTITY_ID')] = [
    'AssertionConsumerService' => [
        [
            'Binding' => 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST',
            'Location' => getenv('IDP_SP_ACS_URL'),
        ],
    ],
    'NameIDFormat' => 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent',
    'saml20.sign.assertion' => true,
    'saml20.sign.response' => true,
    'signature.algorithm' => 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
    'assertion.encryption' => false,
];
