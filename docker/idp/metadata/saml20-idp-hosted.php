<?php
// The hosted IdP: signs responses and assertions with RSA-SHA256; the NameID is the user's uid.
$metadata[getenv('IDP_BASE_URL') . '/saml2/idp/metadata.php'] = [
    'host' => '__DEFAULT__',
    'auth' => 'demo-users',
    'privatekey' => getenv('IDP_SIGNING_KEY'),
    'certificate' => getenv('IDP_SIGNING_CERT'),
    'saml20.sign.assertion' => true,
    'saml20.sign.response' => true,
    'signature.algorithm' => 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
    'NameIDFormat' => 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent',
    'attributes.NameFormat' => 'urn:oasis:names:tc:SAML:2.0:attrname-format:basic',
    'authproc' => [
        10 => [
            'class' => 'saml:AttributeNameID',
            'Format' => 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent',
            'attribute' => 'uid',
        ],
    ],
];
