<?php
// The demo users of IDP_USERS (`name:password:group,group ...`), each with the attributes
// `uid` and, when it has groups, `groups`: the broker's trust policies map groups to roles.
$users = ['exampleauth:UserPass'];
foreach (preg_split('/\s+/', trim((string) getenv('IDP_USERS')), -1, PREG_SPLIT_NO_EMPTY) as $entry) {
    [$name, $password, $groups] = array_pad(explode(':', $entry, 3), 3, '');
    $attributes = ['uid' => [$name]];
    $groups = array_values(array_filter(explode(',', $groups), 'strlen'));
    if ($groups !== []) {
        $attributes['groups'] = $groups;
    }
    $users[$name . ':' . $password] = $attributes;
}
$config = [
    'admin' => ['core:AdminPassword'],
    'demo-users' => $users,
];
