import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# The reference library is not installed (a grading kernel must never find it);
# the tests import it from the repo.
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO
