<?php
// SimpleSAMLphp global configuration for one test IdP. The fixture (tests/support/simplesamlphp)
// writes every value to config.json next to this file; PHP only decodes it, so no Python value is
// ever spliced into PHP source.
$config = json_decode(file_get_contents(__DIR__ . '/config.json'), true, 512, JSON_THROW_ON_ERROR);
