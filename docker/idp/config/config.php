<?php
// SimpleSAMLphp 1.19 global configuration of the compose demo IdP. Every value comes from the
// environment docker/idp/start.sh exports (php -S passes it to each request).
$state = getenv('IDP_STATE_DIR');
$base = getenv('IDP_BASE_URL');
// On plain http a cookie cannot be Secure, and browsers drop SameSite=None without Secure.
$https = parse_url($base, PHP_URL_SCHEME) === 'https';
$config = [
    // A full URL, so links and the entity id carry the published host and port, not the
    // container's own.
    'baseurlpath' => $base . '/',
    'certdir' => $state . '/cert/',
    'loggingdir' => $state . '/log/',
    'datadir' => $state . '/data/',
    'tempdir' => $state . '/tmp',
    'metadatadir' => dirname(__DIR__) . '/metadata/',
    'attributenamemapdir' => getenv('SIMPLESAMLPHP_DIR') . '/config/attributemap/',
    'metadata.sources' => [['type' => 'flatfile']],
    'technicalcontact_name' => 'Broker demo IdP',
    'technicalcontact_email' => 'idp-admin@example.org',
    'timezone' => 'UTC',
    'secretsalt' => trim(file_get_contents($state . '/secretsalt')),
    'auth.adminpassword' => trim(file_get_contents($state . '/adminpassword')),
    'admin.protectindexpage' => true,
    'admin.protectmetadata' => false,
    'admin.checkforupdates' => false,
    'trusted.url.domains' => [parse_url($base, PHP_URL_HOST)],
    'enable.saml20-idp' => true,
    'enable.shib13-idp' => false,
    'enable.adfs-idp' => false,
    // exampleauth ships disabled in Debian's package.
    'module.enable' => ['core' => true, 'saml' => true, 'admin' => true, 'exampleauth' => true],
    'logging.handler' => 'stderr',
    'logging.level' => SimpleSAML\Logger::NOTICE,
    'logging.processname' => 'idp',
    'statistics.out' => [],
    'showerrors' => false,
    'errorreporting' => false,
    'production' => true,
    'store.type' => 'phpsession',
    'session.phpsession.savepath' => $state . '/sessions',
    'session.cookie.secure' => $https,
    'session.cookie.samesite' => $https ? 'None' : 'Lax',
    'language.cookie.secure' => $https,
    'language.cookie.samesite' => $https ? 'None' : 'Lax',
    'language.default' => 'en',
];
