<?php
// The remote SPs: parsed from the SP's own SAML metadata (sp-metadata.xml) with SimpleSAMLphp's
// SAMLParser, exactly as its metarefresh module would, then overlaid with the fixture's per-SP
// options from saml20-sp-remote.json (signing, encryption, NameID format...). The file is
// included on every metadata lookup, so rewriting either file takes effect on the next request.
$overrides = json_decode(
    file_get_contents(__DIR__ . '/saml20-sp-remote.json'),
    true,
    512,
    JSON_THROW_ON_ERROR
);
$entities = \SimpleSAML\Metadata\SAMLParser::parseDescriptorsString(
    file_get_contents(__DIR__ . '/sp-metadata.xml')
);
foreach ($entities as $entityId => $entity) {
    $sp = $entity->getMetadata20SP();
    if ($sp !== null) {
        $metadata[$entityId] = array_merge($sp, $overrides);
    }
}
