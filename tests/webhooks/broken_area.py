"""An area module whose own import fails: the dispatcher must not hide that."""

import a_dependency_that_does_not_exist  # noqa: F401
