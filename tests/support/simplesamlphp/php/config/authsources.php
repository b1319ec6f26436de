<?php
// Authentication sources for one test IdP; the values live in authsources.json next to this file.
$config = json_decode(file_get_contents(__DIR__ . '/authsources.json'), true, 512, JSON_THROW_ON_ERROR);
