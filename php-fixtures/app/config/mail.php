<?php

return [
    'default' => 'array',
    'mailers' => [
        'array' => ['transport' => 'array'],
    ],
    'from' => ['address' => 'fixtures@example.com', 'name' => 'Fixtures'],
];
