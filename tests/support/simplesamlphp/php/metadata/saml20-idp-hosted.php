<?php
// The hosted IdP; the values live in saml20-idp-hosted.json next to this file.
$metadata = json_decode(
    file_get_contents(__DIR__ . '/saml20-idp-hosted.json'),
    true,
    512,
    JSON_THROW_ON_ERROR
);
