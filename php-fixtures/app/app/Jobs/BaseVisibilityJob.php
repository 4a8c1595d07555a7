<?php

namespace App\Jobs;


/** Parent of the visibility jobs: a private property with the same name as the child's. */
abstract class BaseVisibilityJob
{
    private $secret = "parent secret";
    protected $inherited = "from parent";
    public $parentPublic = 7;

    public function parentSecret()
    {
        return $this->secret;
    }
}
